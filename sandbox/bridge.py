"""The host end of the bridge: a Unix socket server in the work directory.

Model code in the kernel connects here for sub-calls (`llm_query`...) and the runtime for
context file descriptors. Each connection carries one request and one reply.

The kernel is not trusted, so everything it can make the host hold is bounded. One thread
receives every request, without blocking: a frame's length is checked on its header (at most
`MAX_REQUEST_BYTES`) before its body is read, each request must arrive whole within
`RECEIVE_TIMEOUT_S`, at most `MAX_PENDING` connections may be part-way (a new one drops the
oldest), and the bytes of all requests being read, decoded or handled stay within
`MAX_INFLIGHT_COST` (estimated with `wire.decoded_cost` before decoding). A whole request is
then handled on a thread of its own, up to `MAX_WORKERS` at once (more wait in a queue of
`MAX_QUEUED`, then no connection is accepted until there is room), so a batch can wait on the
model while other requests go on; the kernel must take its reply within `SEND_TIMEOUT_S`.
A connection that sends nothing costs one descriptor, never a thread, and not for long.
Descriptors that come with a request are closed on every path, malformed frames included.
"""

from __future__ import annotations

import array
import contextlib
import logging
import os
import secrets
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.kernel import wire

MAX_REQUEST_FDS = 64  # files a kernel may hand over with one request (rlm_query sub-contexts)
MAX_REQUEST_BYTES = wire.MAX_REQUEST_BYTES  # one request frame (64 MiB)
MAX_INFLIGHT_COST = 1 << 30  # estimated host memory of all requests being read, decoded or handled
# connections whose request is still arriving (a new one drops the oldest): well above what
# honest model code has open at once (its threads connect, then encode and send at once)
MAX_PENDING = 256
MAX_WORKERS = 128  # requests handled at once
MAX_QUEUED = 256  # whole requests waiting for a worker
MAX_HELD_FDS = 256  # descriptors received with requests and not yet closed
RECEIVE_TIMEOUT_S = 30.0  # a request must arrive whole within this of its connection
SEND_TIMEOUT_S = 60.0  # the kernel must take its reply within this
_CHUNK = 1 << 20
_ANCILLARY = socket.CMSG_SPACE(MAX_REQUEST_FDS * array.array("i").itemsize)

log = logging.getLogger("rlm.sandbox")

Handler = Callable[[dict[str, Any]], tuple[Any, list[int]]]


class _Request:
    """A connection and what has arrived of its request."""

    __slots__ = ("body", "cost", "deadline", "fds", "length", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.body: bytearray | None = bytearray()  # the header, then the body
        self.length = -1  # the body's length, once the header is in
        self.fds: list[int] = []
        self.cost = 0  # what this request holds of MAX_INFLIGHT_COST


def _received_fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            ints = array.array("i")
            ints.frombytes(data[: len(data) - len(data) % ints.itemsize])
            fds.extend(ints)
    return fds


def error_words(exc: BaseException) -> str:
    """`Type: message` of a handler's error; one whose message cannot be made (a __str__ that
    raises) is still an error reply, never a worker that dies."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - whatever a broken __str__ raises
        message = "<its message could not be read>"
    return f"{type(exc).__name__}: {message}"


class BridgeServer:
    """Accepts kernel connections on `path` and answers each with `handler(request)`."""

    def __init__(self, path: Path, handler: Handler, owner_uid: int | None = None) -> None:
        self.path = path
        self._handler = handler
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(path)  # whatever is there (a stale socket, a planted link: unlink never follows it)
        except FileNotFoundError:
            pass
        except IsADirectoryError:  # planted by the kernel's uid, which owns the work directory:
            # moved aside, never entered (a failed restart raised out of execute())
            os.rename(path, path.with_name(f"{path.name}.planted-{secrets.token_hex(8)}"))
        # the socket is made 0600 through its own inode before bind() (Linux takes the file's
        # mode from it): no chmod by path, which would follow a link, and no swap of the
        # process-wide umask, which two sandboxes starting in two threads left at 0o177 for good
        os.fchmod(self._sock.fileno(), 0o600)
        self._sock.bind(str(path))
        if os.lstat(path).st_mode & 0o077:
            self._sock.close()
            raise OSError(f"the bridge socket {path} could not be made private to its owner")
        if owner_uid is not None:
            os.chown(path, owner_uid, -1, follow_symlinks=False)
        self._sock.listen(128)
        self._sock.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._lock = threading.Lock()
        self._pending: dict[socket.socket, _Request] = {}  # oldest first; the receiver's own
        self._queue: deque[_Request] = deque()
        self._workers = 0
        self._active: set[socket.socket] = set()  # being handled (shut down by close)
        self._cost = 0
        self._held_fds = 0
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="rlm-bridge", daemon=True)
        self._thread.start()

    # ----- receiving (one thread, non-blocking) ------------------------------------------
    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        listening = False
        try:
            while not self._closed:
                with self._lock:
                    room = len(self._queue) < MAX_QUEUED
                if room != listening:  # a full queue: leave new connections in the backlog
                    if room:
                        sel.register(self._sock, selectors.EVENT_READ)
                    else:
                        sel.unregister(self._sock)
                    listening = room
                for key, _ in sel.select(self._next_timeout()):
                    if key.fileobj is self._sock:
                        self._accept(sel)
                    elif key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._receive(sel, key.data)
                self._expire(sel)
        except Exception:  # never expected; the bridge must not die silently
            log.exception("bridge: the receiving thread failed")
        finally:
            for request in list(self._pending.values()):
                self._drop(sel, request, "the bridge closed")
            sel.close()
            self._wake_r.close()

    def _next_timeout(self) -> float:
        if not self._pending:
            return 5.0
        oldest = next(iter(self._pending.values()))
        return min(max(oldest.deadline - time.monotonic(), 0.0), 5.0)

    def _accept(self, sel: selectors.BaseSelector) -> None:
        for _ in range(MAX_PENDING):  # then let the connections already in be read
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors or memory: the backlog waits a moment
                log.debug("bridge: accept failed: %s", exc)
                time.sleep(0.05)
                return
            conn.setblocking(False)
            if len(self._pending) >= MAX_PENDING:
                self._drop(sel, next(iter(self._pending.values())), "too many connections at once")
            request = _Request(conn, time.monotonic() + RECEIVE_TIMEOUT_S)
            self._pending[conn] = request
            sel.register(conn, selectors.EVENT_READ, request)
            self._receive(sel, request)  # an honest request is usually there already

    def _receive(self, sel: selectors.BaseSelector, request: _Request) -> None:
        body = request.body
        assert body is not None
        while True:
            want = (wire.HEADER.size if request.length < 0 else request.length) - len(body)
            try:
                data, ancdata, flags, _ = request.sock.recvmsg(min(want, _CHUNK), _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._drop(sel, request, f"receive failed: {exc}")
                return
            fds = _received_fds(ancdata)
            if fds:
                request.fds += fds
                with self._lock:
                    self._held_fds += len(fds)
                    held = self._held_fds
                if len(request.fds) > MAX_REQUEST_FDS or held > MAX_HELD_FDS:
                    self._drop(sel, request, "too many file descriptors")
                    return
            if flags & socket.MSG_CTRUNC:
                self._drop(sel, request, "too many file descriptors")
                return
            if not data:
                self._drop(sel, request, "closed before a whole request arrived")
                return
            body += data
            if request.length < 0 and len(body) == wire.HEADER.size:
                (length,) = wire.HEADER.unpack(body)
                if length > MAX_REQUEST_BYTES:
                    self._drop(sel, request, f"a frame of {length:,} bytes is over the "
                                             f"{MAX_REQUEST_BYTES:,}-byte limit")
                    return
                if not self._take(length):
                    self._drop(sel, request, "too many large requests at once")
                    return
                request.cost = request.length = length
                body.clear()
            if request.length >= 0 and len(body) == request.length:
                sel.unregister(request.sock)
                del self._pending[request.sock]
                self._dispatch(request)
                return

    def _expire(self, sel: selectors.BaseSelector) -> None:
        now = time.monotonic()
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if oldest.deadline > now:
                return
            self._drop(sel, oldest, "the request did not arrive in time")

    def _drop(self, sel: selectors.BaseSelector, request: _Request, why: str) -> None:
        log.debug("bridge: dropping a connection: %s", why)
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(request.sock)
        self._pending.pop(request.sock, None)
        self._release(request)
        request.sock.close()

    def _take(self, cost: int) -> bool:
        with self._lock:
            if self._cost + cost > MAX_INFLIGHT_COST:
                return False
            self._cost += cost
            return True

    def _release(self, request: _Request) -> None:
        """Close the request's descriptors and give back what it held of the budgets."""
        wire.close_fds(request.fds)
        with self._lock:
            self._held_fds -= len(request.fds)
            self._cost -= request.cost
        request.fds, request.cost, request.body = [], 0, None

    # ----- handling (a thread per request, up to MAX_WORKERS) ---------------------------------
    def _dispatch(self, request: _Request) -> None:
        with self._lock:
            if self._workers >= MAX_WORKERS:
                self._queue.append(request)
                return
            self._workers += 1
        try:
            threading.Thread(target=self._work, args=(request,), name="rlm-bridge-conn", daemon=True).start()
        except RuntimeError as exc:  # no thread to be had: the request waits for a running one
            log.debug("bridge: could not start a thread: %s", exc)
            with self._lock:
                self._workers -= 1
                self._queue.append(request)

    def _work(self, request: _Request | None) -> None:
        while request is not None:
            try:
                self._handle(request)
            except Exception:  # never expected: the worker must go on (and be counted out below)
                log.exception("bridge: handling a request failed")
            with self._lock:
                request = self._queue.popleft() if self._queue and not self._closed else None
                if request is None:
                    self._workers -= 1
            with contextlib.suppress(OSError):
                self._wake_w.send(b"w")  # the receiver may accept again

    def _handle(self, request: _Request) -> None:
        conn = request.sock
        fds: list[int] = []
        with self._lock:
            self._active.add(conn)
        try:
            try:
                message = self._decode(request)
                if not isinstance(message, dict) or not isinstance(message.get("op"), str):
                    raise ValueError("a request needs an 'op'")
                message["fds"] = request.fds
                result, fds = self._handler(message)
                reply = {"ok": True, "result": result}
            except Exception as exc:  # every failure goes back to the kernel as an error reply
                reply = {"ok": False, "error": error_words(exc)}
            conn.settimeout(SEND_TIMEOUT_S)
            try:
                wire.send_frame(conn, reply, fds)
            except (TypeError, ValueError, wire.WireError) as exc:  # nothing was sent: say why
                with contextlib.suppress(OSError, wire.WireError):
                    wire.send_frame(conn, {"ok": False, "error": f"the host's reply could not be sent: {exc}"})
            except OSError as exc:
                log.debug("bridge: could not reply: %s", exc)
        finally:
            wire.close_fds(fds)
            with self._lock:
                self._active.discard(conn)
            self._release(request)
            conn.close()

    def _decode(self, request: _Request) -> Any:
        """The request's JSON, once its estimated cost is within the budgets."""
        body = request.body
        assert body is not None
        cost = wire.decoded_cost(body)
        if cost > MAX_INFLIGHT_COST:
            raise ValueError(f"the request of {len(body):,} bytes would take some {cost:,} bytes of "
                             f"host memory to decode, over the {MAX_INFLIGHT_COST:,}-byte limit; send less at once")
        if not self._take(cost - request.cost):
            raise ValueError("the host is busy with other large requests; try again")
        request.cost, request.body = cost, None
        return wire.decode(body)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not threading.current_thread():
            self._thread.join(10)
        with self._lock:
            active = list(self._active)
            queued = list(self._queue)
            self._queue.clear()
        for conn in active:  # a handler still running finds its connection gone when it replies
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for request in queued:
            self._release(request)
            request.sock.close()
        self._sock.close()
        self._wake_w.close()
