"""The Sandbox (host side): one isolated kernel, driven with jupyter_client, holding contexts
as variables.

Owns the kernel's life cycle (launch through the isolating launcher, restart, kill of every
process of the sandbox's uid), the execute loop (shell reply with a deadline, liveness checks,
interrupt then kill on timeout), context loading and reloading, and the host end of the tool
channel (requests from the kernel go to the handlers of installed `Tools`).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
import os
import queue
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from zmq.utils.monitor import recv_monitor_message

from sandbox import mounts
from sandbox.bridge import BridgeServer
from sandbox.cgroup import Cgroup
from sandbox.config import GiB, SandboxConfig
from sandbox.context import ContextSpec, WalkOptions, open_regular, prepare
from sandbox.documents.pool import ExtractOptions, picture
from sandbox.errors import ContextError, IsolationWarning, KernelStartError, SandboxClosed, SandboxError
from sandbox.kernel.caps import FINAL_MAX_CHARS, cap_final, cap_text
from sandbox.kernel.wire import scrub_text
from sandbox.python_paths import (  # noqa: F401  (the read paths are re-exported for tests)
    _PACKAGE_DIR,
    _SYSTEM_READ_PATHS,
    _kernel_import_paths,
    _python_read_paths,
)
from sandbox.results import (
    ContextInfo,
    ExecResult,
    HostRequest,
    IsolationLayer,
    IsolationReport,
    VariableInfo,
    Variables,
)
from sandbox.scratch import ScratchDir, sweep_stale
from sandbox.tools import ToolHandler, Tools

log = logging.getLogger("rlm.sandbox")

_BASE_MEMORY = 1 * GiB
_warned: set[str] = set()


def _close_thread_loop() -> None:
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


class Sandbox:
    """An isolated Python kernel holding large contexts as variables.

    Use as a context manager (or call `start()` / `close()`):

        with Sandbox() as sb:
            sb.load_context(Path("corpus.txt"))
            print(sb.execute("print(len(context))").stdout)
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._lock = threading.RLock()
        self._tools: dict[str, tuple[Tools, ContextSpec | None]] = {}
        self._handlers: dict[str, ToolHandler] = {}
        self._specs: list[ContextSpec] = []
        self._tokens: dict[str, ContextSpec] = {}
        self._km: KernelManager | None = None
        self._kc: Any = None
        self._bridge: BridgeServer | None = None
        self._started = False
        self._closed = False
        self._stop = threading.Event()  # set: stop the running cell (see interrupt / cancel)
        self._cell_running = False
        self._cancelled = False
        self._shell_monitor: tuple[Any, Any] | None = None  # (client, monitor of its shell socket)
        self._shell_lost: Any = None  # the client whose shell connection dropped
        self._report: list[dict[str, Any]] = []
        self._uid: int | None = None
        self._gid: int | None = None
        self._memory_limit = 0
        self._cgroup: Cgroup | None = None
        self._host_scratch: ScratchDir | None = None
        self._cgroup_detail = ""
        self._quota_mounted = False
        self._quota: tuple[bool, str] = (False, "")
        self.work_dir = Path()
        self._host_dir = Path()

    # ----- life cycle ------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Sandbox:
        """Create the work directory, start the bridge and launch the isolated kernel.

        Calling `load_context` on a sandbox that is not started yet starts it too, with the
        kernel's memory limit already sized for that context (no restart needed).
        """
        self._setup()
        if self._km is None:
            self._launch_checked()
        return self

    def _setup(self) -> None:
        if self._closed:
            raise SandboxClosed("this sandbox was closed; create a new one")
        if self._started:
            return
        root = str(self.config.work_root) if self.config.work_root else None
        _sweep_stale_sandboxes(root)
        # the host directory is locked by this process (the kernel cannot reach it); its work
        # directory carries the same <pid>-<id>, so a killed controller's pair is found and removed
        self._host_scratch = ScratchDir("rlm-host-", root)
        self._host_dir = self._host_scratch.path
        pair = self._host_dir.name.removeprefix("rlm-host-")
        self.work_dir = Path(root if root is not None else tempfile.gettempdir()) / f"rlm-sandbox-{pair}"
        self.work_dir.mkdir(mode=0o700)
        (self._host_dir / "contexts").mkdir()
        if os.getuid() == 0:
            self._uid = 0x40000000 + secrets.randbelow(0x3FFF0000)
            self._gid = self._uid
        self._mount_quota()
        for sub in ("tmp", ".kernel"):
            (self.work_dir / sub).mkdir()
        for p in (self.work_dir, self.work_dir / "tmp", self.work_dir / ".kernel"):
            os.chmod(p, 0o700)
            if self._uid is not None:
                os.chown(p, self._uid, self._gid)  # type: ignore[arg-type]
        self._bridge = BridgeServer(self.work_dir / "bridge.sock", self._handle_bridge, self._uid)
        self._memory_limit = self.config.memory_limit_bytes or self.config.min_memory_bytes
        self._make_cgroup()
        self._started = True

    def _mount_quota(self) -> None:
        """Make the work directory a tmpfs of `disk_quota_bytes` (every file counts, open or
        deleted, and inodes are bounded too), when the host may mount."""
        quota = self.config.disk_quota_bytes
        if os.getuid() != 0:
            self._quota = (False, "needs root to mount a size-limited tmpfs; only the per-file size limit applies")
            return
        inodes = min(max(quota // 4096, 10_000), 1_000_000)
        try:
            mounts.mount("tmpfs", str(self.work_dir), "tmpfs", mounts.MS_NOSUID | mounts.MS_NODEV,
                         f"size={quota},nr_inodes={inodes},mode=0700")
        except OSError as exc:
            self._quota = (False, f"could not mount a tmpfs on the work directory: {exc}")
            return
        self._quota_mounted = True
        self._quota = (True, f"tmpfs of {quota / 2**20:,.0f} MiB and {inodes:,} files")

    def _make_cgroup(self) -> None:
        if os.getuid() != 0:
            self._cgroup_detail = "needs root (or a delegated cgroup) for memory and process limits"
            return
        try:
            self._cgroup = Cgroup.create(self.work_dir.name, self._cgroup_memory(), self.config.processes)
        except OSError as exc:
            self._cgroup_detail = f"cgroups unavailable: {exc}"
            return
        self._cgroup_detail = (f"{self._cgroup.describe()}; memory {self._cgroup_memory() / GiB:.1f} GiB "
                               f"(anonymous and shared memory and the work directory's files together), "
                               f"{self.config.processes} processes")

    def _cgroup_memory(self) -> int:
        # one budget for all the memory the sandbox can hold: anonymous and shared memory
        # (mmap, memfd, SysV segments), and the work directory's files, which live in a tmpfs
        return self._memory_limit

    def _launch_checked(self) -> None:
        try:
            self._launch()
        except BaseException:
            self.close()
            raise
        self._warn_isolation()

    def close(self) -> None:
        """Stop the kernel and every process it started, and remove the work directory."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._shutdown_kernel()
            if self._bridge is not None:
                self._bridge.close()
            if self._cgroup is not None:
                self._cgroup.remove()
            if self._quota_mounted:
                try:
                    mounts.umount(str(self.work_dir))
                except OSError as exc:
                    log.warning("could not unmount the work directory %s: %s", self.work_dir, exc)
            if self.work_dir != Path() and self.work_dir.exists():
                shutil.rmtree(self.work_dir, ignore_errors=True)
            if self._host_scratch is not None:
                self._host_scratch.close()
            _close_thread_loop()

    def __del__(self) -> None:
        if getattr(self, "_started", False) and not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):  # never raise from a finaliser
                self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxClosed("this sandbox was closed; create a new one")
        if not self._started or self._km is None:
            self.start()

    # ----- launching ---------------------------------------------------------------
    def _kernel_env(self) -> dict[str, str]:
        kdir = self.work_dir / ".kernel"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.work_dir),
            "USER": "sandbox",
            "LOGNAME": "sandbox",
            "TMPDIR": str(self.work_dir / "tmp"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "IPYTHONDIR": str(kdir / "ipython"),
            "JUPYTER_RUNTIME_DIR": str(kdir / "jupyter"),
            "JUPYTER_DATA_DIR": str(kdir / "jupyter"),
            "JUPYTER_CONFIG_DIR": str(kdir / "jupyter"),
            "MPLCONFIGDIR": str(kdir / "mpl"),
            "JPY_PARENT_PID": str(os.getpid()),
        }
        return env

    def _launch(self) -> None:
        cfg = self.config
        options = {
            "work_dir": str(self.work_dir),
            "bridge_path": str(self.work_dir / "bridge.sock"),
            "policy": cfg.policy,
            "output_limit": cfg.output_limit_chars,
            "keep_limit": cfg.keep_output_chars,
            "max_source_chars": cfg.max_source_chars,
            "memory_limit": self._memory_limit,
            "import_paths": _kernel_import_paths(),
        }
        if self._cgroup is not None:
            self._cgroup.set_memory(self._cgroup_memory())
        # written only in the host's private directory; the launcher hands them to the kernel
        options_path = self._host_dir / "options.json"
        options_path.write_text(json.dumps(options))
        conn_file = self._host_dir / "connection.json"
        new_root = self._host_dir / "root"
        new_root.mkdir(mode=0o700, exist_ok=True)
        env = self._kernel_env()
        launch = {
            "conn_file": str(conn_file),
            "options_file": str(options_path),
            "new_root": str(new_root),
            "cgroup_procs": self._cgroup.procs if self._cgroup is not None else [],
            "cgroup_detail": self._cgroup_detail,
            "quota_detail_active": self._quota[0],
            "quota_detail": self._quota[1],
            "report": str(self._host_dir / "isolation.json"),
            # what the launcher removes if this process dies without closing the sandbox
            "cleanup": {"work_dir": str(self.work_dir), "host_dir": str(self._host_dir),
                        "unmount": self._quota_mounted,
                        "cgroup_dirs": [str(d) for d in self._cgroup.dirs] if self._cgroup else []},
            "work_dir": str(self.work_dir),
            "uid": self._uid,
            "gid": self._gid,
            "limits": {
                "cpu_seconds": cfg.cpu_seconds,
                "memory_bytes": self._memory_limit,
                "file_bytes": cfg.file_size_bytes,
                "open_files": cfg.open_files,
                "processes": cfg.processes,
            },
            "read_paths": [p for p in _SYSTEM_READ_PATHS if os.path.exists(p)] + _python_read_paths(),
            "rw_paths": [str(self.work_dir)],
            "network": cfg.network_isolation,
            "landlock": cfg.landlock,
            "seccomp": cfg.seccomp,
            "env": env,
            # boot loads `sandbox` from its own directory: no sys.path entry for the directory
            # above (in an editable install, the checkout, which the kernel may not list), and
            # -P keeps the work directory (the kernel's to write) off sys.path, so a restarted
            # kernel never imports what model code planted there
            "exec": [sys.executable, "-s", "-P", str(_PACKAGE_DIR / "kernel" / "boot.py")],  # + two descriptors
        }
        launch_path = self._host_dir / "launch.json"
        launch_path.write_text(json.dumps(launch))
        for stale in (conn_file, self._host_dir / "isolation.json"):
            stale.unlink(missing_ok=True)
        km = KernelManager(transport="ipc", ip=str(self.work_dir / "kernel"), connection_file=str(conn_file))
        km._kernel_spec = KernelSpec(  # a fixed spec: the launcher in front of our kernel
            # the launcher runs as root before any layer: -P and the host's own directory as its
            # working directory, so nothing the kernel wrote can be imported by it
            argv=[sys.executable, "-s", "-P", "-m", "sandbox.launcher", str(launch_path)],
            display_name="rlm sandbox",
            language="python",
            interrupt_mode="signal",
            env={},
        )
        # never reconnect (the manager's control socket, the client's shell socket): the kernel
        # owns the directory of its ipc sockets, and a reconnect would follow whatever it put
        # at that path since, such as a link to a host service's socket
        km.context.setsockopt(zmq.RECONNECT_IVL, -1)
        log_path = self._host_dir / "kernel.log"
        with open(log_path, "ab") as log_file:
            launcher_env = {k: v for k, v in env.items() if k in ("PATH", "LANG", "LC_ALL")}
            launcher_env["PYTHONPATH"] = os.pathsep.join([str(_PACKAGE_DIR.parent), *_kernel_import_paths()])
            km.start_kernel(env=launcher_env, cwd=str(self._host_dir), stdout=subprocess.DEVNULL, stderr=log_file)
        self._km = km
        self._wait_for_shell_socket(km)
        kc = km.blocking_client()
        kc.context.setsockopt(zmq.RECONNECT_IVL, -1)
        self._limit_shell_socket(kc.context)
        kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        self._kc = kc
        try:
            reply = self._internal("ping", {}, timeout=self.config.startup_timeout_s)
        except SandboxError as exc:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
            self._shutdown_kernel()
            raise KernelStartError(f"the sandbox kernel did not start: {exc}\n{tail}".rstrip()) from None
        report_path = self._host_dir / "isolation.json"
        self._report = json.loads(report_path.read_text()) if report_path.exists() else []
        log.debug("sandbox kernel up: pid %s uid %s", reply.get("pid"), reply.get("uid"))
        for spec in self._specs:
            self._load_spec(spec)
        for tools, data_spec in self._tools.values():
            self._install(tools, data_spec)

    def _wait_for_shell_socket(self, km: KernelManager) -> None:
        """Wait until the kernel has bound its shell socket (before any model code runs), so
        that the one connection attempt, made without reconnects, finds it."""
        path = f"{km.ip}-{km.shell_port}"
        deadline = time.monotonic() + self.config.startup_timeout_s
        while time.monotonic() < deadline and km.is_alive():
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.005)

    def _warn_isolation(self) -> None:
        report = self.isolation()
        missing = report.inactive()
        if missing and self.config.require_isolation:
            self.close()
            raise SandboxError("isolation layers unavailable: " + "; ".join(f"{m.layer}: {m.detail}" for m in missing))
        for layer in missing:
            key = f"{layer.layer}: {layer.detail}"
            if key not in _warned:
                _warned.add(key)
                warnings.warn(f"sandbox isolation layer unavailable — {key}", IsolationWarning, stacklevel=3)

    def _kernel_pid(self) -> int | None:
        """The kernel's pid on the host: the launcher's child when it forked into a new PID
        namespace, else the launcher itself (it became the kernel)."""
        prov = getattr(self._km, "provisioner", None)
        pid = getattr(getattr(prov, "process", None), "pid", None)
        if pid is None:
            return None
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return pid
        return int(children[0]) if children else pid

    def _exit_description(self) -> str:
        prov = getattr(self._km, "provisioner", None)
        proc = getattr(prov, "process", None)
        code = proc.poll() if proc is not None else None
        if code is None:
            return "the kernel stopped answering"
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

    def _kill_sandbox_processes(self) -> None:
        """Kill every process of the sandbox's uid (setsid cannot escape this)."""
        if self._uid is None:
            return
        for _ in range(20):
            found = False
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/status") as f:
                        uid_line = next(line for line in f if line.startswith("Uid:"))
                except (OSError, StopIteration):
                    continue
                if int(uid_line.split()[1]) == self._uid:
                    found = True
                    with contextlib.suppress(OSError):
                        os.kill(int(entry), signal.SIGKILL)
            if not found:
                return
            time.sleep(0.01)

    def _shutdown_kernel(self) -> None:
        if self._kc is not None:
            # only the shell channel was ever opened; stop_channels() would open the others
            # (connecting to paths the kernel may have replaced) just to close them
            try:
                shell = self._kc._shell_channel
                if shell is not None:
                    shell.stop()
                if not self._kc.context.closed:
                    self._kc.context.destroy(linger=0)
            except Exception as exc:  # a dead kernel may fail to close cleanly
                log.debug("closing the kernel client: %s", exc)
            self._kc = None
        if self._km is not None:
            try:
                self._km.shutdown_kernel(now=True)
            except Exception as exc:  # the process may already be gone
                log.debug("shutdown_kernel: %s", exc)
            self._km = None
        self._kill_sandbox_processes()
        if self._cgroup is not None:
            self._cgroup.kill_all()

    def _restart(self) -> None:
        self._shutdown_kernel()
        # a new socket for the new kernel: the old one's path may have been replaced (a link
        # planted where the host bound it); with the old kernel's processes gone nothing can
        # race the rebinding, which never follows a link
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = BridgeServer(self.work_dir / "bridge.sock", self._handle_bridge, self._uid)
        self._launch()

    # ----- kernel round trips -------------------------------------------------------
    def _send(self, code: str, metadata: dict[str, Any] | None) -> str:
        content = {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": False,
        }
        msg = self._kc.session.msg("execute_request", content, metadata=metadata or {})
        frames = self._kc.session.serialize(msg)
        deadline = time.monotonic() + _SEND_WAIT_S
        while True:  # never a blocking send: with no connection (the kernel exited, or its
            try:     # connection dropped; it is never remade) it would wait for ever
                self._kc.shell_channel.socket.send_multipart(frames, flags=zmq.NOBLOCK)
                break
            except zmq.Again:
                if self._connection_lost() or self._km is None or not self._km.is_alive() \
                        or time.monotonic() > deadline:
                    self._shell_lost = self._kc  # the wait that follows ends at once
                    break
                time.sleep(0.01)
        return msg["header"]["msg_id"]

    def _limit_shell_socket(self, context: zmq.Context) -> None:
        """Bound what the kernel can make the host hold through the shell socket. Set on the
        client's context before it connects (libzmq reads these when the connection is made;
        later they would not apply): a message part over `_max_message_bytes()` drops the
        connection (`_wait` notices, and `execute` restarts the kernel), and only a few
        messages queue on the host before the rest wait in the kernel."""
        context.setsockopt(zmq.MAXMSGSIZE, self._max_message_bytes())
        context.setsockopt(zmq.RCVHWM, _SHELL_RCVHWM)

    def _max_message_bytes(self) -> int:
        # the largest honest reply: a final answer (capped in the kernel) plus stdout and an
        # error (each capped at output_limit_chars), at up to 6 bytes a character as JSON
        return max(_MIN_MESSAGE_BYTES, 6 * (FINAL_MAX_CHARS + 2 * self.config.output_limit_chars) + 16 * 2**20)

    def _connection_lost(self) -> bool:
        """Whether the current client's shell connection dropped (the kernel sent a message
        part over the size limit, or closed it). It is never remade (see `_launch`)."""
        kc = self._kc
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
        while self._km is not None and self._km.is_alive():
            if time.monotonic() > deadline:
                return "lost"
            time.sleep(0.02)
        return "dead"

    def _lost_description(self) -> str:
        return (f"the kernel's connection was lost (it sent a message over the host's "
                f"{self._max_message_bytes():,}-byte limit, or closed the connection)")

    def _recv_shell(self, timeout: float) -> dict[str, Any]:
        """The next shell message, deserialised as jupyter_client's get_shell_msg does (queue.Empty
        when none comes within `timeout`), but keeping at most `_MAX_PARTS` of its parts: an
        honest reply has 7, a hostile one could have millions."""
        sock = self._kc.shell_channel.socket
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
        _, msg_list = self._kc.session.feed_identities(parts)
        return self._kc.session.deserialize(msg_list)

    def _wait(self, msg_id: str, timeout: float, *, stoppable: bool = False,
              poll_s: float = 0.5) -> tuple[dict[str, Any] | None, str]:
        """The execute_reply to request `msg_id`, with a status: "ok", "timeout", "stopped",
        "dead" (the kernel exited) or "lost" (its connection dropped). Every other message is
        dropped: replies to other requests, and messages that fail their signature check or do
        not parse (a kernel can send anything on its shell socket)."""
        deadline = time.monotonic() + timeout
        while True:
            if stoppable and self._stop.is_set():
                return None, "stopped"
            if self._connection_lost():
                return None, self._dead_or_lost()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, "timeout"
            try:
                reply = self._recv_shell(min(poll_s, remaining))
            except queue.Empty:
                if self._km is None or not self._km.is_alive():
                    return None, "dead"
                continue
            except zmq.ZMQError as exc:  # the socket itself failed: nothing more will come on it
                log.debug("the shell socket failed: %s", exc)
                self._shell_lost = self._kc
                return None, self._dead_or_lost()
            except Exception as exc:  # a bad signature, no delimiter, bad JSON, a header without fields
                log.debug("dropped a malformed shell message: %s", str(exc)[:200])
                continue
            parent = reply.get("parent_header") if isinstance(reply, dict) else None
            if (isinstance(parent, dict) and parent.get("msg_id") == msg_id
                    and reply.get("msg_type") == "execute_reply"):
                return reply, "ok"

    def _interrupt_until_reply(self, msg_id: str) -> tuple[dict[str, Any] | None, str]:
        """Interrupt the cell, again every 0.2 s until its reply comes or the grace period
        ends: a signal that lands before the kernel starts running the code is ignored there."""
        deadline = time.monotonic() + self.config.interrupt_grace_s
        while self._km is not None:
            self._km.interrupt_kernel()
            reply, status = self._wait(msg_id, min(0.2, max(deadline - time.monotonic(), 0.01)), poll_s=0.2)
            if status != "timeout" or time.monotonic() >= deadline:
                return reply, status
        return None, "dead"

    def _internal(self, op: str, args: dict[str, Any], timeout: float = 600.0) -> Any:
        """The result of internal operation `op` (JSON from the kernel: the caller checks its
        shape and caps its texts)."""
        msg_id = self._send(json.dumps(args), {"rlm_op": op})
        reply, status = self._wait(msg_id, timeout)
        if reply is None:
            why = {"dead": self._exit_description, "lost": self._lost_description}.get(status, lambda: "timed out")()
            raise SandboxError(f"internal operation {op!r} failed: {why}")
        payload = _rlm_payload(reply)
        if payload.get("ok") is not True:
            error = payload.get("error")
            raise SandboxError(f"internal operation {op!r} failed" if error is None else _capped(error, _ERROR_CHARS))
        return payload.get("result")

    # ----- public API ----------------------------------------------------------------
    def execute(self, code: str, timeout: float | None = None) -> ExecResult:
        """Run model code in the kernel. Faults come back in the result, never as exceptions."""
        if not isinstance(code, str):
            raise TypeError("code must be a string")
        with self._lock:
            self._check_open()
            if self._cancelled:
                return ExecResult(error="Cancelled: the sandbox was cancelled; the cell did not run")
            timeout = self.config.cell_timeout_s if timeout is None else timeout
            started = time.monotonic()
            self._cell_running = True
            try:
                msg_id = self._send(code, None)
                reply, status = self._wait(msg_id, timeout, stoppable=True, poll_s=0.05)
            finally:
                self._cell_running = False
                if not self._cancelled:
                    self._stop.clear()
            result = ExecResult()
            if status in ("timeout", "stopped"):
                result.timed_out = status == "timeout"
                reply, status = self._interrupt_until_reply(msg_id)
                if reply is None and status not in ("dead", "lost"):
                    why = f"ran past its {timeout:g} s limit" if result.timed_out else "was interrupted"
                    if self._cancelled:  # the sandbox is about to close: no point in a new kernel
                        self._shutdown_kernel()
                        return ExecResult(error=f"Cancelled: the cell {why} and did not stop; the kernel was stopped",
                                          timed_out=result.timed_out, duration_s=time.monotonic() - started)
                    self._restart()
                    result.restarted = True
                    result.error = (
                        f"TimeoutError: the cell {why} and did not stop "
                        "when interrupted; the kernel was restarted and the context reloaded "
                        "(other variables were lost)"
                    )
            if status in ("dead", "lost"):
                why = self._exit_description() if status == "dead" else self._lost_description()
                self._restart()
                result.restarted = True
                result.error = (
                    f"{'KernelDied' if status == 'dead' else 'KernelLost'}: {why}; the kernel was "
                    "restarted and the context reloaded (other variables were lost)"
                )
            if reply is not None:  # what the kernel sent: checked and capped like any input
                payload = _rlm_payload(reply)
                stdout = payload.get("stdout")
                result.stdout = stdout if isinstance(stdout, str) else "" if stdout is None else _capped(stdout, None)
                error, error_chars = payload.get("error"), max(self.config.output_limit_chars, _ERROR_CHARS)
                result.error = None if error is None else _capped(error, error_chars)
                result.truncated = bool(payload.get("truncated"))
                final = payload.get("final")
                result.final = None if final is None else _final_text(final)
                result.cell = _count(payload.get("cell"))
                restored = payload.get("restored")
                result.restored = [_capped(n, 200) for n in restored[:100]] if isinstance(restored, list) else []
                result.output_chars = _count(payload.get("output_chars", len(result.stdout)))
                if result.timed_out:
                    result.error = (f"TimeoutError: the cell ran past its {timeout:g} s limit and was interrupted\n"
                                    f"{result.error or ''}").rstrip()
            if len(result.stdout) > self.config.output_limit_chars * 2:  # the host's own cap
                result.stdout, _ = cap_text(result.stdout, self.config.output_limit_chars)
                result.truncated = True
            result.duration_s = time.monotonic() - started
            return result

    def load_context(self, value: Any, name: str = "context", *, errors: str = "strict",
                     label: str | None = None,
                     progress: Callable[[int, int, str], None] | None = None) -> ContextInfo:
        """Load a context into the kernel as variable `name` (and `docs` for several files).

        `value` may be a str (text, never a path), bytes, a list or dict (JSON-serialisable),
        a pathlib.Path to a file or a directory, or a list of paths. Text above
        `config.max_str_bytes` becomes a memory-mapped Corpus. `errors` is the UTF-8 decoding
        policy ("strict" raises ContextError on invalid bytes; "replace" substitutes them).
        `label`: what a file is called in the description and errors, in place of its path.
        Files of a document format are read as text first (`config.extract_documents`);
        `progress` is called with (files done, files in all, name) as they are.
        """
        with self._lock:
            self._setup()
            if errors not in ("strict", "replace"):
                raise ValueError("errors must be 'strict' or 'replace'")
            cfg = self.config
            walk = WalkOptions(hidden=cfg.hidden_files, ignore_files=cfg.ignore_files,
                               documents=cfg.extract_documents)
            extract = self._extract_options(progress) if cfg.extract_documents else None
            spec = prepare(value, name, self._host_dir / "contexts", cfg.max_str_bytes, walk, label, extract)
            if errors == "replace":  # else what preparing found (a file with invalid bytes is read with replace)
                spec.errors = errors
            self._ensure_memory(spec)
            if self._km is None:
                self._launch_checked()
            previous = [s for s in self._specs if s.name == name]
            try:
                info = self._load_spec(spec)
            except ContextError:
                for old in previous:  # the kernel dropped the old context before reading the new
                    self._load_spec(old)
                raise
            self._specs = [s for s in self._specs if s.name != name] + [spec]
            return ContextInfo(name, info["type"], info["size"], spec.description, info.get("docs", 0),
                               skipped=spec.skipped, decoded=spec.decoded, extraction=spec.extraction)

    def _extract_options(self, progress: Callable[[int, int, str], None] | None = None) -> ExtractOptions:
        cfg = self.config
        return ExtractOptions(max_bytes=cfg.extract_max_bytes, time_s=cfg.extract_time_s,
                              memory_bytes=cfg.extract_memory_bytes, cache_dir=cfg.extract_cache_dir,
                              progress=progress, landlock=cfg.landlock, seccomp=cfg.seccomp)

    def picture(self, document: str, page: int | None = None) -> tuple[str, bytes]:
        """A document of a loaded context as a picture for a vision model: (media type,
        bytes). `document` is its name in `docs` (a picture file, or a PDF with `page`, drawn
        by an isolated worker). ValueError, in words a model can act on, otherwise."""
        # not under the sandbox's lock: this is asked while a cell runs (execute holds it)
        specs = list(self._specs)
        found = next((spec.pictures[document] for spec in reversed(specs) if document in spec.pictures), None)
        if found is None:
            raise ValueError(f"{document!r} is not a picture or a PDF file of the context (a member of an "
                             "archive or an attachment cannot be shown)")
        return picture(Path(found[0]), found[1], page, self._extract_options())

    def add_tools(self, tools: Tools) -> list[str]:
        """Install a set of tools (see `sandbox.tools`): its kernel-side module adds its names
        to the namespace, and requests for its ops go to its handlers. A set of the same name
        is replaced. Tools survive kernel restarts. Returns the names the module added."""
        if not tools.name.isidentifier():
            raise SandboxError(f"a tool set's name must be an identifier, not {tools.name!r}")
        clash = {op for op in tools.handlers if op in self._handlers} - set(
            self._tools[tools.name][0].handlers if tools.name in self._tools else ())
        if clash or "context_fds" in tools.handlers:
            raise SandboxError(f"tool ops already handled by another tool set: {sorted(clash or {'context_fds'})}")
        with self._lock:
            self._setup()
            data_spec = None
            if tools.data is not None:
                data_spec = prepare(tools.data, f"tools_{tools.name}", self._host_dir / "contexts",
                                    self.config.max_str_bytes)
                self._ensure_memory(data_spec)
            if self._km is None:
                self._launch_checked()
            previous = self._tools.pop(tools.name, None)
            if previous is not None:
                for op in previous[0].handlers:
                    self._handlers.pop(op, None)
            self._tools[tools.name] = (tools, data_spec)
            self._handlers.update(tools.handlers)
            return self._install(tools, data_spec)

    def _install(self, tools: Tools, data_spec: ContextSpec | None) -> list[str]:
        # the source travels with the request: the module's directory need not be readable
        # from inside the kernel (Landlock allows little outside the Python installation)
        args: dict[str, Any] = {"name": tools.name, "module": str(tools.module),
                                "source": Path(tools.module).read_text(encoding="utf-8")}
        token = None
        if data_spec is not None:
            token = secrets.token_hex(16)
            self._tokens[token] = data_spec
            args.update(token=token, mode=data_spec.mode, label=data_spec.label, errors="strict")
        try:
            return list(self._internal("install_tools", args)["names"])
        finally:
            if token is not None:
                self._tokens.pop(token, None)

    def _ensure_memory(self, spec: ContextSpec) -> None:
        if self.config.memory_limit_bytes is not None:
            return
        held = self._specs + [d for _, d in self._tools.values() if d is not None]
        needed = _BASE_MEMORY + sum(s.memory_estimate() for s in held if s.name != spec.name)
        needed += spec.memory_estimate() * 2  # decoding holds the file mapping and the str
        if needed <= self._memory_limit:
            return
        self._memory_limit = needed
        if self._km is None:
            return  # not launched yet: the launch applies the new limit
        pid = self._kernel_pid()
        try:
            if pid is None:
                raise PermissionError("no kernel pid")
            resource.prlimit(pid, resource.RLIMIT_DATA, (needed, needed))
            if self._cgroup is not None:
                self._cgroup.set_memory(self._cgroup_memory())
        except (PermissionError, OSError, ValueError):
            self._restart()

    def _load_spec(self, spec: ContextSpec) -> dict[str, Any]:
        token = secrets.token_hex(16)
        self._tokens[token] = spec
        args = {
            "token": token, "name": spec.name, "mode": spec.mode, "label": spec.label,
            "errors": spec.errors, "docs_name": spec.docs_name,
        }
        try:
            return self._internal("load_context", args)
        except SandboxError as exc:
            if self._km is not None and not self._km.is_alive():
                why = self._exit_description()
                self._restart()
                raise ContextError(f"loading {spec.label} crashed the kernel ({why}); the limit is "
                                   f"{self._memory_limit / GiB:.1f} GiB") from None
            message = str(exc).replace("ValueError: ", "")
            if message.startswith("MemoryError"):
                raise ContextError(
                    f"loading {spec.label} as a {'str' if spec.mode == 'text' else spec.mode} ran out of the "
                    f"kernel's memory (memory_limit_bytes, {self._memory_limit / GiB:.1f} GiB, in [sandbox] of "
                    f"rlm.toml or SandboxConfig): raise it, or lower max_str_bytes "
                    f"({self.config.max_str_bytes / GiB:.1f} GiB) so that text above it is read as a "
                    "memory-mapped Corpus") from None
            raise ContextError(message) from None
        finally:
            self._tokens.pop(token, None)

    def variables(self) -> Variables:
        """Name, type and size of the kernel's user variables (contexts included): the first
        1,000 (the kernel's listing limit); `.total` says how many there are in all."""
        with self._lock:
            self._check_open()
            found = self._internal("variables", {}, timeout=30)
        listed = found.get("variables") if isinstance(found, dict) else None
        out = Variables(VariableInfo(_capped(v.get("name"), _NAME_CHARS), _capped(v.get("type"), _NAME_CHARS),
                                     _count(v.get("size")))
                        for v in (listed if isinstance(listed, list) else [])[:_MAX_VARIABLES]
                        if isinstance(v, dict))
        out.total = max(len(out), _count(found.get("total")) if isinstance(found, dict) else 0)
        return out

    def interrupt(self) -> None:
        """Interrupt the cell running now (as its time limit would), from any thread, without
        waiting for it: the cell ends with a KeyboardInterrupt error, or the kernel is restarted
        if the cell does not stop within `interrupt_grace_s`. Does nothing when no cell runs."""
        if self._cell_running:
            self._stop.set()

    def cancel(self) -> None:
        """Stop the running cell, if any, and refuse to run new ones, from any thread, without
        waiting; reading variables and `close()` still work. For shutting down a run."""
        self._cancelled = True
        self._stop.set()

    def read_variable(self, name: str) -> str | None:
        """The text of variable `name` in the kernel (str() of non-strings), or None if there
        is no such user variable."""
        with self._lock:
            self._check_open()
            try:
                value = self._internal("read_variable", {"name": name}, timeout=60)
            except SandboxError:
                return None
            return None if value is None else _final_text(value)

    def preview(self, name: str = "context", chars: int = 1000) -> str | None:
        """The first `chars` characters of loaded context `name` (a list or dict: its first
        items as JSON lines), or None if no context has that name."""
        with self._lock:
            self._check_open()
            try:
                value = self._internal("preview", {"name": name, "chars": chars}, timeout=60)
            except SandboxError:
                return None
            return None if value is None else _capped(value, chars)

    def answer_draft(self) -> str | None:
        """`answer["content"]` as model code left it, ready or not (a partial answer)."""
        with self._lock:
            self._check_open()
            value = self._internal("answer", {}, timeout=30)
            return None if value is None else _final_text(value)

    def reset_answer(self) -> None:
        """Clear `answer` (content None, ready False), e.g. after refusing a premature answer."""
        with self._lock:
            self._check_open()
            self._internal("set_answer_reset", {}, timeout=30)

    def isolation(self) -> IsolationReport:
        """Which OS isolation layers are active in this sandbox, and why any is not."""
        self._check_open()
        return IsolationReport(self.config.policy, [IsolationLayer(**layer) for layer in self._report])

    @property
    def contexts(self) -> list[ContextSpec]:
        return list(self._specs)

    # ----- bridge -------------------------------------------------------------------
    def _context_fds(self, args: dict[str, Any]) -> tuple[Any, list[int]]:
        """The open files of the context registered under a one-time token: part 0 is the data
        file and its index; parts 1, 2... are the files mapped in place, MAPPED_FDS_PER_PART at
        a time (the token is spent with the last part)."""
        token, part = str(args.get("token")), args.get("part", 0)
        spec = self._tokens.get(token)
        if spec is None or not isinstance(part, int) or part < 0:
            raise PermissionError("unknown or used context token")
        parts = -(-len(spec.mapped) // MAPPED_FDS_PER_PART)
        if part >= parts:
            del self._tokens[token]
        if part == 0:
            paths = [spec.data_path] + ([spec.index_path] if spec.index_path is not None else [])
        else:
            paths = spec.mapped[(part - 1) * MAPPED_FDS_PER_PART:part * MAPPED_FDS_PER_PART]
        fds: list[int] = []
        try:
            for path in paths:
                with open_regular(path) as f:  # never a FIFO swapped in since it was read
                    fds.append(os.dup(f.fileno()))
        except (OSError, ContextError):
            for fd in fds:
                os.close(fd)
            raise
        return {"count": len(fds), "mapped": len(spec.mapped)}, fds

    def _handle_bridge(self, request: dict[str, Any]) -> tuple[Any, list[int]]:
        op = request["op"]
        args = request.get("args") or {}
        if not isinstance(args, dict):
            raise ValueError("a request's args must be an object")
        if op == "context_fds":
            return self._context_fds(args)
        handler = self._handlers.get(op)
        if handler is None:
            raise ValueError(f"unknown request {op!r}")
        request_fds = list(request.get("fds") or [])
        return handler(HostRequest(op=op, args=args, cell=_count(request.get("cell")), fds=request_fds)), []


# ----- what comes from the kernel: checked and capped ------------------------------------------
_MIN_MESSAGE_BYTES = 128 * 2**20  # the least a shell message part may be (see _max_message_bytes)
_SHELL_RCVHWM = 1  # shell messages that may queue on the host (libzmq holds each whole)
_MAX_PARTS = 32  # parts of a shell message kept (see _recv_shell)
_SEND_WAIT_S = 5.0  # how long a request may wait to be queued for the kernel
_ERROR_CHARS = 20_000  # an error text from the kernel, at least this much is kept
MAPPED_FDS_PER_PART = 32  # files of a large directory handed to the kernel per request
_NAME_CHARS = 200  # a variable's name or type
_MAX_VARIABLES = 1000  # variables listed (a kernel that sends more is cut)


def _sweep_stale_sandboxes(root: str | None) -> None:
    """Remove what sandboxes of killed controllers left under `root`: their host directories
    (their lock is free) and the work directories paired with them, unmounting a work
    directory's tmpfs first (its files are memory, held until unmounted)."""
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    for host_dir in sweep_stale("rlm-host-", root):
        pair = host_dir.name.removeprefix("rlm-host-")
        for work in base.glob(f"rlm-sandbox-{glob.escape(pair)}"):
            # as root the work directory belongs to the sandbox's uid: the pairing with a host
            # directory of ours is what makes it ours
            if work.is_symlink() or not work.is_dir() or (os.getuid() != 0 and work.lstat().st_uid != os.getuid()):
                continue
            if os.path.ismount(work):
                try:
                    mounts.umount(str(work))
                except OSError as exc:
                    log.warning("could not unmount the stale work directory %s: %s", work, exc)
                    continue
            shutil.rmtree(work, ignore_errors=True)
            log.info("removed the work directory of a killed sandbox: %s", work)


def _rlm_payload(reply: Any) -> dict[str, Any]:
    """The `rlm` part of an execute_reply, or {} if the kernel sent something else."""
    content = reply.get("content") if isinstance(reply, dict) else None
    payload = content.get("rlm") if isinstance(content, dict) else None
    return payload if isinstance(payload, dict) else {}


def _capped(value: Any, limit: int | None) -> str:
    """`value` (JSON from the kernel) as text, cut to about `limit` characters if given."""
    try:
        text = scrub_text(value if isinstance(value, str) else str(value))
    except Exception:  # e.g. RecursionError on a deeply nested list
        text = f"<{type(value).__name__}>"
    if limit is not None and len(text) > limit:
        text = cap_text(text, limit)[0]
    return text


def _final_text(value: Any) -> str:
    """A final answer or a variable's text from the kernel, cut at FINAL_MAX_CHARS unless the
    kernel already did (its marker may follow)."""
    text = _capped(value, None)
    return text if len(text) <= FINAL_MAX_CHARS + 200 else cap_final(text)


def _count(value: Any) -> int:
    """A count from the kernel: a non-negative int, else 0."""
    return min(value, 2**63) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
