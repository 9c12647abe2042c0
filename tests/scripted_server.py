"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, the test double for a model.

It speaks the real protocol (POST /v1/chat/completions, GET /v1/models), so the code under
test uses the real `openai` client. Replies come from handlers per model name, which see the
whole request; faults (429 with Retry-After, 500, malformed JSON) and latency are injected
by the server.

    def root(call): return ["```repl\\nprint(len(context))\\n```", "FINAL(42)"][call.turn]
    with ScriptedServer({"root": root, "sub": lambda call: call.prompt.upper()}) as server:
        RLM(model="root", sub_model="sub", base_url=server.url, api_key="test")...
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen() backlog: the default 5 drops bursts of connections


@dataclass
class Fault:
    """An HTTP failure to send instead of a reply."""

    status: int = 500
    body: str = '{"error": {"message": "scripted failure", "type": "server_error"}}'
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Cut:
    """A reply cut by the token limit: sent with finish_reason "length"."""

    text: str


RATE_LIMITED = Fault(429, '{"error": {"message": "rate limited", "type": "rate_limit"}}',
                     {"Retry-After": "0.05"})
SERVER_ERROR = Fault(500)
MALFORMED = Fault(200, '{"id": "x", "choices": [ {"message": ')


@dataclass
class Call:
    """One chat request as the server saw it."""

    model: str
    messages: list[dict[str, Any]]
    headers: dict[str, str]
    number: int
    body: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole request

    @property
    def turn(self) -> int:
        """How many assistant replies the conversation already holds (0 on the first call)."""
        return sum(1 for m in self.messages if m.get("role") == "assistant")

    @property
    def is_root(self) -> bool:
        """A controller's root call (system prompt + conversation), not an llm_query."""
        return bool(self.messages) and self.messages[0].get("role") == "system"

    @property
    def system(self) -> str:
        return self.messages[0]["content"] if self.is_root else ""

    @property
    def prompt(self) -> str:
        """The last user message (for an llm_query: the whole prompt)."""
        users = [m for m in self.messages if m.get("role") == "user"]
        return users[-1]["content"] if users else ""

    @property
    def chars(self) -> int:
        return sum(len(m.get("content") or "") for m in self.messages)


Handler = Callable[[Call], "str | Fault | Cut"]


class ScriptedServer:
    """Serves chat completions from `handlers[model](call)` (`"*"` matches any model).

    latency_s: delay before each chat reply. fail_every / faults: every n-th chat request
    gets the next fault from `faults` (cycling) instead of a reply. usage=False leaves the
    usage field out, as some servers do.
    """

    def __init__(self, handlers: dict[str, Handler], *, latency_s: float = 0.0,
                 fail_every: int | None = None, faults: list[Fault] | None = None,
                 usage: bool = True, models_status: int = 200) -> None:
        self.handlers = handlers
        self.latency_s = latency_s
        self.fail_every = fail_every
        self.faults = faults or [SERVER_ERROR]
        self.usage = usage
        self.models_status = models_status
        self.calls: list[Call] = []
        self._name = f"scripted-{uuid.uuid4().hex[:12]}"
        self.faults_sent = 0
        self._count = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle ---------------------------------------------------------------
    def start(self) -> ScriptedServer:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out as two writes: without this, Nagle + delayed ACK add 40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def _served(self, name: str) -> bool:
                """The path is this server's (under its own /v1, as a real server serves
                it); any other path is a 404 with an empty body, as many servers send."""
                if self.path.rstrip("/") == f"/{server._name}/v1/{name}":
                    return True
                self._send(404, "")
                return False

            def do_GET(self) -> None:
                if not self._served("models"):
                    return
                if server.models_status != 200 or "*" in server.handlers:  # "*": any model, none listed
                    self._send(server.models_status, {"error": {"message": "scripted"}})
                    return
                data = [{"id": m, "object": "model", "owned_by": "tests"} for m in server.handlers]
                self._send(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if not self._served("chat/completions"):
                    return
                body = json.loads(raw)
                status, payload, headers, ctype = server._respond(body, {k.lower(): v for k, v in self.headers.items()})
                self._send(status, payload, headers, ctype)

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                      ctype: str = "application/json") -> None:
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout under test)

        self._httpd = _Server(("127.0.0.1", 0), RequestHandler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        # a path of its own: two servers in one test may get the same port one after the other,
        # and the call cache (keyed on the endpoint) must see them as two endpoints
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{self._name}/v1"

    # ----- replies -----------------------------------------------------------------
    def calls_to(self, model: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.model == model]

    def _respond(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any, dict[str, str], str]:
        with self._lock:
            self._count += 1
            number = self._count
            call = Call(body.get("model", ""), body.get("messages", []), headers, number, body)
            fault = None
            if self.fail_every and number % self.fail_every == 0:
                fault = self.faults[self.faults_sent % len(self.faults)]
                self.faults_sent += 1
            else:
                self.calls.append(call)
        if self.latency_s:
            time.sleep(self.latency_s)
        if fault is not None:
            return fault.status, fault.body, fault.headers, fault.content_type
        handler = self.handlers.get(call.model) or self.handlers.get("*")
        if handler is None:
            return 404, {"error": {"message": f"model {call.model} does not exist",
                                   "type": "invalid_request_error"}}, {}, "application/json"
        result = handler(call)
        if isinstance(result, Fault):
            return result.status, result.body, result.headers, result.content_type
        finish = "stop"
        if isinstance(result, Cut):
            result, finish = result.text, "length"
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": call.model,
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": result}}],
        }
        if self.usage:
            prompt_tokens = max(1, call.chars // 4)
            payload["usage"] = {"prompt_tokens": prompt_tokens,
                                "completion_tokens": max(1, len(result) // 4),
                                "total_tokens": prompt_tokens + max(1, len(result) // 4),
                                "prompt_tokens_details": {"cached_tokens": 0}}
        return 200, payload, {}, "application/json"


def script(*replies: str) -> Handler:
    """A root handler that answers turn n of a conversation with replies[n] (the last one
    repeats), and answers the controller's last call for an answer with the last reply."""

    def handler(call: Call) -> str:
        return replies[min(call.turn, len(replies) - 1)]

    return handler
