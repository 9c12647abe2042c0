"""The host's line to one kernel process: starting it through a launch command with
jupyter_client, and every round trip on its shell socket (send without blocking, replies read
with a deadline and a bound on their size and parts, liveness and lost-connection checks,
interrupts until the reply comes, internal operations), and stopping it.

Nothing here knows how the kernel is isolated: a backend hands `start` the command that
applies its layers and execs the kernel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import signal
import socket
import stat
import subprocess
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from zmq.utils.monitor import recv_monitor_message

from sandbox.config import SandboxConfig
from sandbox.errors import SandboxError
from sandbox.kernel.caps import FINAL_MAX_CHARS
from sandbox.replies import ERROR_CHARS, capped, rlm_payload

log = logging.getLogger("rlm.sandbox")

_MIN_MESSAGE_BYTES = 128 * 2**20  # the least a shell message part may be (see max_message_bytes)
_SHELL_RCVHWM = 1  # shell messages that may queue on the host (libzmq holds each whole)
_MAX_PARTS = 32  # parts of a shell message kept (see _recv_shell)
_SEND_WAIT_S = 5.0  # how long a request may wait to be queued for the kernel


def close_thread_loop() -> None:
    """jupyter_client runs its coroutines on an event loop it makes for each thread and never
    closes; in a worker thread (the controller's), close it so that it does not leak."""
    if threading.current_thread() is threading.main_thread():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
    if not loop.is_running() and not loop.is_closed():
        loop.close()
        asyncio.set_event_loop(None)


def _listening(path: str) -> bool:
    """Whether a process listens on the Unix socket at `path` (a connection is made and
    closed at once, nothing sent)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


class KernelChannel:
    """One kernel process and its shell connection. `stop`, when set, ends a stoppable wait
    (the sandbox's interrupt and cancel)."""

    def __init__(self, config: SandboxConfig, stop: threading.Event) -> None:
        self.config = config
        self.stop = stop
        self.km: KernelManager | None = None
        self.kc: Any = None
        self._shell_monitor: tuple[Any, Any] | None = None  # (client, monitor of its shell socket)
        self._shell_lost: Any = None  # the client whose shell connection dropped
        # the launched process reports the kernel's death by a signal as 128 + the signal
        self.signal_in_status = False

    # ----- start and stop ---------------------------------------------------------------
    def start(self, argv: list[str], *, ip: str, conn_file: Path, env: dict[str, str], cwd: Path,
              log_path: Path) -> None:
        """Run `argv` (it must exec the kernel on `conn_file`, whose ipc sockets are at `ip`)
        and connect to its shell socket once it is bound."""
        km = KernelManager(transport="ipc", ip=ip, connection_file=str(conn_file))
        km._kernel_spec = KernelSpec(argv=argv, display_name="rlm sandbox", language="python",
                                     interrupt_mode="signal", env={})
        # never reconnect (the manager's control socket, the client's shell socket): the kernel
        # owns the directory of its ipc sockets, and a reconnect would follow whatever it put
        # at that path since, such as a link to a host service's socket
        km.context.setsockopt(zmq.RECONNECT_IVL, -1)
        with open(log_path, "ab") as log_file:
            km.start_kernel(env=env, cwd=str(cwd), stdout=subprocess.DEVNULL, stderr=log_file)
        self.km = km
        self._wait_for_shell_socket(km)
        kc = km.blocking_client()
        kc.context.setsockopt(zmq.RECONNECT_IVL, -1)
        self._limit_shell_socket(kc.context)
        kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        self.kc = kc

    def _wait_for_shell_socket(self, km: KernelManager) -> None:
        """Wait until the kernel listens on its shell socket (before any model code runs), so
        that the one connection attempt, made without reconnects, finds it. The socket's file
        appears when the kernel binds it, a moment before it listens: a connection made in
        between was refused for good, and the kernel never answered (one start in about 30
        on a loaded host)."""
        path = f"{km.ip}-{km.shell_port}"
        deadline = time.monotonic() + self.config.startup_timeout_s
        while time.monotonic() < deadline and km.is_alive():
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode) and _listening(path):
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.005)

    @property
    def started(self) -> bool:
        return self.km is not None

    def is_alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def shutdown(self) -> None:
        """Close the connection and stop the launched process (not what it left behind: the
        sandbox kills those by uid and cgroup)."""
        if self.kc is not None:
            # only the shell channel was ever opened; stop_channels() would open the others
            # (connecting to paths the kernel may have replaced) just to close them
            try:
                shell = self.kc._shell_channel
                if shell is not None:
                    shell.stop()
                if not self.kc.context.closed:
                    self.kc.context.destroy(linger=0)
            except Exception as exc:  # a dead kernel may fail to close cleanly
                log.debug("closing the kernel client: %s", exc)
            self.kc = None
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception as exc:  # the process may already be gone
                log.debug("shutdown_kernel: %s", exc)
            self.km = None

    def interrupt_kernel(self) -> None:
        if self.km is not None:
            self.km.interrupt_kernel()

    # ----- the kernel process -------------------------------------------------------------
    def kernel_pid(self, depth: int = 1) -> int | None:
        """The kernel's pid on the host: the first child, `depth` generations below the
        launched process, of a launch command that forks (into a new PID namespace), else the
        deepest process found on the way (one that became the kernel)."""
        prov = getattr(self.km, "provisioner", None)
        pid = getattr(getattr(prov, "process", None), "pid", None)
        if pid is None:
            return None
        for _ in range(depth):
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                return int(pid)
            if not children:
                return int(pid)
            pid = int(children[0])
        return int(pid)

    def exit_description(self) -> str:
        prov = getattr(self.km, "provisioner", None)
        proc = getattr(prov, "process", None)
        code = proc.poll() if proc is not None else None
        if code is None:
            return "the kernel stopped answering"
        if self.signal_in_status and code > 128:  # a container's engine exits 128 + the signal
            code = 128 - code
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = {
                "SIGSEGV": " (a segmentation fault)",
                "SIGKILL": " (killed: out of memory, or a limit was hit)",
                "SIGXCPU": " (the CPU-time limit was reached)",
                "SIGXFSZ": " (the file-size limit was reached)",
            }.get(name, "")
            return f"the kernel died with {name}{hint}"
        return f"the kernel exited with status {code}"

    # ----- round trips -----------------------------------------------------------------------
    def send(self, code: str, metadata: dict[str, Any] | None) -> str:
        content = {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": False,
        }
        msg = self.kc.session.msg("execute_request", content, metadata=metadata or {})
        frames = self.kc.session.serialize(msg)
        deadline = time.monotonic() + _SEND_WAIT_S
        while True:  # never a blocking send: with no connection (the kernel exited, or its
            try:     # connection dropped; it is never remade) it would wait for ever
                self.kc.shell_channel.socket.send_multipart(frames, flags=zmq.NOBLOCK)
                break
            except zmq.Again:
                if self._connection_lost() or not self.is_alive() or time.monotonic() > deadline:
                    self._shell_lost = self.kc  # the wait that follows ends at once
                    break
                time.sleep(0.01)
        return str(msg["header"]["msg_id"])

    def _limit_shell_socket(self, context: zmq.Context) -> None:
        """Bound what the kernel can make the host hold through the shell socket. Set on the
        client's context before it connects (libzmq reads these when the connection is made;
        later they would not apply): a message part over `max_message_bytes()` drops the
        connection (`wait` notices, and the sandbox restarts the kernel), and only a few
        messages queue on the host before the rest wait in the kernel."""
        context.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes())
        context.setsockopt(zmq.RCVHWM, _SHELL_RCVHWM)

    def max_message_bytes(self) -> int:
        # the largest honest reply: a final answer (capped in the kernel) plus stdout and an
        # error (each capped at output_limit_chars), at up to 6 bytes a character as JSON
        return max(_MIN_MESSAGE_BYTES, 6 * (FINAL_MAX_CHARS + 2 * self.config.output_limit_chars) + 16 * 2**20)

    def _connection_lost(self) -> bool:
        """Whether the current client's shell connection dropped (the kernel sent a message
        part over the size limit, or closed it). It is never remade (see `start`)."""
        kc = self.kc
        if kc is None:
            return False
        if self._shell_lost is kc:
            return True
        if self._shell_monitor is None or self._shell_monitor[0] is not kc:
            try:  # watched from the first round trip on, before any model code runs
                monitor = kc.shell_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            except zmq.ZMQError as exc:
                log.debug("cannot monitor the shell socket: %s", exc)
                return False
            self._shell_monitor = (kc, monitor)
        monitor = self._shell_monitor[1]
        try:
            while monitor.poll(0):
                if recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED:
                    self._shell_lost = kc
                    return True
        except zmq.ZMQError as exc:
            log.debug("reading the shell socket's monitor: %s", exc)
        return False

    def _dead_or_lost(self) -> str:
        """With the connection gone: "dead" if the kernel is exiting (its connection closes as
        it dies, a moment before the process is gone), else "lost"."""
        deadline = time.monotonic() + 1.0
        while self.is_alive():
            if time.monotonic() > deadline:
                return "lost"
            time.sleep(0.02)
        return "dead"

    def lost_description(self) -> str:
        return (f"the kernel's connection was lost (it sent a message over the host's "
                f"{self.max_message_bytes():,}-byte limit, or closed the connection)")

    def _recv_shell(self, timeout: float) -> dict[str, Any]:
        """The next shell message, deserialised as jupyter_client's get_shell_msg does (queue.Empty
        when none comes within `timeout`), but keeping at most `_MAX_PARTS` of its parts: an
        honest reply has 7, a hostile one could have millions."""
        sock = self.kc.shell_channel.socket
        if not sock.poll(timeout * 1000):
            raise queue.Empty
        parts: list[bytes] = []
        extra = 0
        while True:  # a message is delivered whole: once its first part is in, all are
            part = sock.recv(zmq.NOBLOCK)
            if len(parts) < _MAX_PARTS:
                parts.append(part)
            else:
                extra += 1
            if not sock.getsockopt(zmq.RCVMORE):
                break
        if extra:
            raise ValueError(f"a shell message of {len(parts) + extra:,} parts")
        _, msg_list = self.kc.session.feed_identities(parts)
        return dict(self.kc.session.deserialize(msg_list))

    def wait(self, msg_id: str, timeout: float, *, stoppable: bool = False,
             poll_s: float = 0.5) -> tuple[dict[str, Any] | None, str]:
        """The execute_reply to request `msg_id`, with a status: "ok", "timeout", "stopped",
        "dead" (the kernel exited) or "lost" (its connection dropped). Every other message is
        dropped: replies to other requests, and messages that fail their signature check or do
        not parse (a kernel can send anything on its shell socket)."""
        deadline = time.monotonic() + timeout
        while True:
            if stoppable and self.stop.is_set():
                return None, "stopped"
            if self._connection_lost():
                return None, self._dead_or_lost()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, "timeout"
            try:
                reply = self._recv_shell(min(poll_s, remaining))
            except queue.Empty:
                if not self.is_alive():
                    return None, "dead"
                continue
            except zmq.ZMQError as exc:  # the socket itself failed: nothing more will come on it
                log.debug("the shell socket failed: %s", exc)
                self._shell_lost = self.kc
                return None, self._dead_or_lost()
            except Exception as exc:  # a bad signature, no delimiter, bad JSON, a header without fields
                log.debug("dropped a malformed shell message: %s", str(exc)[:200])
                continue
            parent = reply.get("parent_header") if isinstance(reply, dict) else None
            if (isinstance(parent, dict) and parent.get("msg_id") == msg_id
                    and reply.get("msg_type") == "execute_reply"):
                return reply, "ok"

    def interrupt_until_reply(self, msg_id: str) -> tuple[dict[str, Any] | None, str]:
        """Interrupt the cell, again every 0.2 s until its reply comes or the grace period
        ends: a signal that lands before the kernel starts running the code is ignored there."""
        deadline = time.monotonic() + self.config.interrupt_grace_s
        while self.km is not None:
            self.km.interrupt_kernel()
            reply, status = self.wait(msg_id, min(0.2, max(deadline - time.monotonic(), 0.01)), poll_s=0.2)
            if status != "timeout" or time.monotonic() >= deadline:
                return reply, status
        return None, "dead"

    def internal(self, op: str, args: dict[str, Any], timeout: float = 600.0) -> Any:
        """The result of internal operation `op` (JSON from the kernel: the caller checks its
        shape and caps its texts)."""
        msg_id = self.send(json.dumps(args), {"rlm_op": op})
        reply, status = self.wait(msg_id, timeout)
        if reply is None:
            why = {"dead": self.exit_description, "lost": self.lost_description}.get(status, lambda: "timed out")()
            raise SandboxError(f"internal operation {op!r} failed: {why}")
        payload = rlm_payload(reply)
        if payload.get("ok") is not True:
            error = payload.get("error")
            raise SandboxError(f"internal operation {op!r} failed" if error is None else capped(error, ERROR_CHARS))
        return payload.get("result")
