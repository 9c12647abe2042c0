"""The host end of the bridge: a Unix socket server in the work directory.

Model code in the kernel connects here for sub-calls (`llm_query`...) and the runtime for
context file descriptors. Each connection carries one request and one reply and is served
on its own thread, so a batch can wait on the model while other requests go on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.kernel import wire

MAX_REQUEST_FDS = 64  # files a kernel may hand over with one request (rlm_query sub-contexts)

log = logging.getLogger("rlm.sandbox")

Handler = Callable[[dict[str, Any]], tuple[Any, list[int]]]


class BridgeServer:
    """Accepts kernel connections on `path` and answers each with `handler(request)`."""

    def __init__(self, path: Path, handler: Handler, owner_uid: int | None = None) -> None:
        self.path = path
        self._handler = handler
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        os.chmod(path, 0o600)
        if owner_uid is not None:
            os.chown(path, owner_uid, -1)
        self._sock.listen(128)
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="rlm-bridge", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), name="rlm-bridge-conn", daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                request, received = wire.recv_frame(conn, MAX_REQUEST_FDS)
            except (OSError, wire.WireError) as exc:
                log.debug("bridge: bad request: %s", exc)
                return
            fds: list[int] = []
            try:
                if not isinstance(request, dict) or not isinstance(request.get("op"), str):
                    raise ValueError("a request needs an 'op'")
                request["fds"] = received
                result, fds = self._handler(request)
                reply = {"ok": True, "result": result}
            except Exception as exc:  # every failure goes back to the kernel as an error reply
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            try:
                wire.send_frame(conn, reply, fds)
            except (OSError, wire.WireError) as exc:
                log.debug("bridge: could not reply: %s", exc)
            finally:
                for fd in fds + received:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
