"""An OpenAI-protocol endpoint on 127.0.0.1 that never finishes an answer, for the wall budget:
it accepts each chat request and then holds it (`"hang"`: no byte, `"trickle"`: its headers,
then one body byte every `gap_s`). GET /models answers at once unless `stall_get`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal


class StallingServer:
    """Use as a context manager; `url` ends in /v1; `chat_requests` counts the chat requests."""

    def __init__(self, mode: Literal["hang", "trickle"] = "hang", *, stall_get: bool = False,
                 gap_s: float = 0.5) -> None:
        self.stop = threading.Event()
        self.chat_requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _stall(self) -> None:
                if mode == "hang":
                    server.stop.wait()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(1 << 20))
                self.end_headers()
                self.wfile.flush()
                while not server.stop.wait(gap_s):
                    try:
                        self.wfile.write(b" ")  # JSON allows any amount of leading whitespace
                        self.wfile.flush()
                    except OSError:
                        return

            def do_GET(self) -> None:
                if stall_get:
                    self._stall()
                    return
                body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                server.chat_requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._stall()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> StallingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
