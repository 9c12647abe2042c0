"""The model client against real HTTP servers (tests/scripted_server.py, or a bare http.server
for bodies the scripted one cannot send): what is the server's fault and retried, and what is
ours and raised at once."""

from __future__ import annotations

import asyncio
import decimal
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from scripted_server import MALFORMED, Call, ScriptedServer

from rlm import ModelClient, ModelError
from rlm.broker import AdaptiveLimiter


class RawServer:
    """Answers every request with one status, content type and body (any bytes), and counts
    the chat requests."""

    def __init__(self, body: bytes, content_type: str = "application/json", status: int = 200) -> None:
        self.body, self.content_type, self.status = body, content_type, status
        self.chat_requests = 0
        raw = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path.rstrip("/").endswith("/chat/completions"):
                    raw.chat_requests += 1
                self.send_response(raw.status)
                self.send_header("Content-Type", raw.content_type)
                self.send_header("Content-Length", str(len(raw.body)))
                self.end_headers()
                self.wfile.write(raw.body)

            do_GET = do_POST = _reply

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_port}/v1"

    def __enter__(self) -> RawServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def chat(url: str, *, slots: AdaptiveLimiter | None = None, **settings: Any):
    """One `ModelClient.chat` to model "m" at `url`, the client closed afterwards."""
    settings.setdefault("retry_base_s", 0.01)

    async def go():
        client = ModelClient(base_url=url, api_key="k", **settings)
        try:
            return await client.chat("m", [{"role": "user", "content": "hi"}], slots=slots)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_a_malformed_200_is_retried_then_becomes_a_model_error():
    with ScriptedServer({"m": lambda call: MALFORMED}) as server:  # a 200 with a torn JSON body
        with pytest.raises(ModelError, match=r"malformed reply \(JSONDecodeError: .*after 3 attempts") as info:
            chat(server.url, max_retries=2)
        assert len(server.calls_to("m")) == 3
    assert info.value.retryable and info.value.status_code is None


def test_a_malformed_200_then_a_good_reply_answers():
    def flaky(call: Call):
        return MALFORMED if call.number == 1 else "fine"

    with ScriptedServer({"m": flaky}) as server:
        completion = chat(server.url, max_retries=2)
    assert (completion.text, completion.attempts) == ("fine", 2)


@pytest.mark.parametrize("body, content_type, why", [
    (b'{"choices": "\xff\xfe not utf-8"}', "application/json", "UnicodeDecodeError"),
    (b"<html><body>502 Bad Gateway</body></html>", "text/html", "an HTML page"),
    (b"[1, 2, 3]", "application/json", "list, not a chat completion"),
    (b"null", "application/json", "NoneType, not a chat completion"),
    (b'{"choices": [1]}', "application/json", "first choice has no 'message'"),
])
def test_every_kind_of_malformed_200_is_retried_as_a_malformed_reply(body, content_type, why):
    with RawServer(body, content_type) as server:
        with pytest.raises(ModelError, match="malformed reply") as info:
            chat(server.url, max_retries=1)
        assert server.chat_requests == 2
    assert why in str(info.value) and "after 2 attempts" in str(info.value)


def test_our_own_type_error_is_raised_at_once_not_retried():
    """A request argument the SDK cannot serialise is our bug, not a bad reply: raised as it is,
    on the first attempt, without a request, and the concurrency slot is given back."""
    slots = AdaptiveLimiter(4)
    with ScriptedServer({"m": lambda call: "never"}) as server:
        started = time.monotonic()
        with pytest.raises(TypeError, match="not JSON serializable"):
            chat(server.url, slots=slots, max_retries=5, retry_base_s=2.0,
                 model_kwargs={"temperature": decimal.Decimal("0.5")})
        assert time.monotonic() - started < 2.0  # no backoff happened
        assert server.calls == []
    assert slots.in_use == 0


def test_usage_that_is_not_numbers_is_estimated_not_fatal():
    reply = {"choices": [{"message": {"role": "assistant", "content": "hello"}}],
             "usage": {"prompt_tokens": "many", "completion_tokens": [1]}}
    with RawServer(json.dumps(reply).encode()) as server:
        completion = chat(server.url)
    assert completion.text == "hello" and completion.usage_estimated and completion.prompt_tokens >= 1


def test_preflight_accepts_a_models_page_of_another_shape_and_still_refuses_a_bad_key():
    async def preflight(url: str) -> None:
        client = ModelClient(base_url=url, api_key="k")
        try:
            await client.preflight(timeout_s=5)
        finally:
            await client.aclose()

    for body, content_type in ((b"<html>a proxy's page</html>", "text/html"), (b'"just a string"', "application/json")):
        with RawServer(body, content_type) as server:
            asyncio.run(preflight(server.url))  # reachable: no error
    with ScriptedServer({"m": lambda call: "x"}, models_status=401) as server, \
            pytest.raises(ModelError, match="refused the API key"):
        asyncio.run(preflight(server.url))


def test_the_time_given_to_a_call_bounds_its_retries_together():
    # a server slower than the time the run has left: each attempt times out and is retried, but
    # the attempts and the waits between them share that time (a hung local model outlived a
    # 600 s wall budget by six request timeouts)
    with ScriptedServer({"m": lambda call: "late"}, latency_s=1.5) as server:
        async def go():
            client = ModelClient(base_url=server.url, api_key="k", max_retries=6, retry_base_s=0.01,
                                 timeout_s=30)
            try:
                return await client.chat("m", [{"role": "user", "content": "hi"}], timeout_s=1.0)
            finally:
                await client.aclose()

        started = time.monotonic()
        with pytest.raises(ModelError):
            asyncio.run(go())
        took = time.monotonic() - started
        tried = len(server.calls_to("m"))
    assert took < 4 and tried <= 2, (took, tried)
