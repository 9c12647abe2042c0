"""The Sandbox (host side) of the default backend: one isolated kernel on this machine,
holding contexts as variables.

Owns the sandbox's life cycle (its workspace, the bridge, the kernel launched through a launch
command, restarts), the execute loop (a deadline, interrupt then restart on timeout, crash
and lost-connection recovery), context loading and reloading, and tool installation. The
kernel's shell round trips are `sandbox.channel`'s, the host's files and limits
`sandbox.workspace`'s, what the kernel is launched with `sandbox.launch_spec`'s, the bridge's
requests `sandbox.host_requests`'s.

A backend that isolates the kernel another way subclasses `Sandbox` and overrides
`launch_argv` (see `sandbox.backend`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from sandbox.bridge import BridgeServer
from sandbox.channel import KernelChannel, close_thread_loop
from sandbox.config import GiB, SandboxConfig
from sandbox.context import ContextSpec, WalkOptions, prepare
from sandbox.context_reader import ContextReader
from sandbox.documents.pool import ExtractOptions, picture
from sandbox.errors import ContextError, IsolationWarning, KernelStartError, SandboxClosed, SandboxError
from sandbox.host_requests import MAPPED_FDS_PER_PART, HostRequests  # noqa: F401  (re-exported)
from sandbox.kernel.caps import cap_text
from sandbox.launch_spec import connection_file, launcher_env, report_path, write_launch
from sandbox.python_paths import _PACKAGE_DIR, _SYSTEM_READ_PATHS, _kernel_import_paths, _python_read_paths  # noqa: F401
from sandbox.replies import ERROR_CHARS, capped, count, final_text, rlm_payload, variables_of
from sandbox.results import ContextInfo, ExecResult, IsolationLayer, IsolationReport, Variables
from sandbox.tools import Tools
from sandbox.workspace import Workspace

log = logging.getLogger("rlm.sandbox")

_BASE_MEMORY = 1 * GiB
_warned: set[str] = set()


class Sandbox:
    """An isolated Python kernel holding large contexts as variables.

    Use as a context manager (or call `start()` / `close()`):

        with Sandbox() as sb:
            sb.load_context(Path("corpus.txt"))
            print(sb.execute("print(len(context))").stdout)
    """

    backend: ClassVar[str] = "launcher"
    kernel_depth: ClassVar[int] = 1  # generations from the launched process down to the kernel
    own_uid: ClassVar[bool] = True  # as root, the kernel gets a uid of its own (see Workspace)

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._lock = threading.RLock()
        self._requests = HostRequests()
        self._specs: list[ContextSpec] = []
        self._bridge: BridgeServer | None = None
        self._started = False
        self._closed = False
        self._stop = threading.Event()  # set: stop the running cell (see interrupt / cancel)
        self._channel = KernelChannel(self.config, self._stop)
        self._cell_running = False
        self._cancelled = False
        self._report: list[dict[str, Any]] = []
        self._memory_limit = 0
        self._ws = Workspace(self.config)

    # ----- what tests and tools look at ------------------------------------------------------
    @property
    def work_dir(self) -> Path:
        """The kernel's work directory (its home, its only writable place)."""
        return self._ws.work_dir

    @property
    def _host_dir(self) -> Path:
        return self._ws.host_dir

    @property
    def _uid(self) -> int | None:
        return self._ws.uid

    @property
    def _cgroup(self) -> Any:
        return self._ws.cgroup

    @property
    def _km(self) -> Any:
        return self._channel.km

    def _kernel_pid(self) -> int | None:
        return self._channel.kernel_pid(self.kernel_depth)

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
        if not self._channel.started:
            self._launch_checked()
        return self

    def _setup(self) -> None:
        if self._closed:
            raise SandboxClosed("this sandbox was closed; create a new one")
        if self._started:
            return
        self._memory_limit = self.config.memory_limit_bytes or self.config.min_memory_bytes
        self._ws = Workspace.create(self.config, self._memory_limit, own_uid=self.own_uid)
        self._bridge = BridgeServer(self.work_dir / "bridge.sock", self._requests.handle, self._ws.uid)
        self._started = True

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
            self._ws.remove()
            close_thread_loop()

    def __del__(self) -> None:
        if getattr(self, "_started", False) and not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):  # never raise from a finaliser
                self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxClosed("this sandbox was closed; create a new one")
        if not self._started or not self._channel.started:
            self.start()

    # ----- launching ---------------------------------------------------------------
    def launch_argv(self, launch_spec: Path) -> list[str]:
        """The command that applies this backend's isolation layers and execs the kernel as
        `launch_spec` says (see `sandbox.launch_spec`). The default backend's launcher runs as
        the host's user before any layer: -P and the host's own directory as its working
        directory, so nothing the kernel wrote can be imported by it."""
        return [sys.executable, "-s", "-P", "-m", "sandbox.launcher", str(launch_spec)]

    def _launch(self) -> None:
        self._ws.set_memory(self._memory_limit)
        spec_path = write_launch(self.config, self._ws, self._memory_limit)
        log_path = self._host_dir / "kernel.log"
        self._channel.start(self.launch_argv(spec_path), ip=str(self.work_dir / "kernel"),
                            conn_file=connection_file(self._ws), env=launcher_env(self.work_dir), cwd=self._host_dir,
                            log_path=log_path)
        try:
            reply = self._channel.internal("ping", {}, timeout=self.config.startup_timeout_s)
        except SandboxError as exc:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
            self._shutdown_kernel()
            raise KernelStartError(f"the sandbox kernel did not start: {exc}\n{tail}".rstrip()) from None
        report = report_path(self._ws)
        self._report = json.loads(report.read_text()) if report.exists() else []
        log.debug("sandbox kernel up: pid %s uid %s", reply.get("pid"), reply.get("uid"))
        for spec in self._specs:
            self._load_spec(spec)
        for tools, data_spec in self._requests.tools.values():
            self._install(tools, data_spec)

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

    def _shutdown_kernel(self) -> None:
        self._channel.shutdown()
        self._ws.kill_processes()

    def _restart(self) -> None:
        self._shutdown_kernel()
        # a new socket for the new kernel: the old one's path may have been replaced (a link
        # planted where the host bound it); with the old kernel's processes gone nothing can
        # race the rebinding, which never follows a link
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = BridgeServer(self.work_dir / "bridge.sock", self._requests.handle, self._ws.uid)
        self._launch()

    def _internal(self, op: str, args: dict[str, Any], timeout: float = 600.0) -> Any:
        return self._channel.internal(op, args, timeout)

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
                msg_id = self._channel.send(code, None)
                reply, status = self._channel.wait(msg_id, timeout, stoppable=True, poll_s=0.05)
            finally:
                self._cell_running = False
                if not self._cancelled:
                    self._stop.clear()
            result = ExecResult()
            if status in ("timeout", "stopped"):
                result.timed_out = status == "timeout"
                reply, status = self._channel.interrupt_until_reply(msg_id)
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
                why = self._channel.exit_description() if status == "dead" else self._channel.lost_description()
                self._restart()
                result.restarted = True
                result.error = (
                    f"{'KernelDied' if status == 'dead' else 'KernelLost'}: {why}; the kernel was "
                    "restarted and the context reloaded (other variables were lost)"
                )
            if reply is not None:  # what the kernel sent: checked and capped like any input
                payload = rlm_payload(reply)
                stdout = payload.get("stdout")
                result.stdout = stdout if isinstance(stdout, str) else "" if stdout is None else capped(stdout, None)
                error, error_chars = payload.get("error"), max(self.config.output_limit_chars, ERROR_CHARS)
                result.error = None if error is None else capped(error, error_chars)
                result.truncated = bool(payload.get("truncated"))
                final = payload.get("final")
                result.final = None if final is None else final_text(final)
                result.cell = count(payload.get("cell"))
                restored = payload.get("restored")
                result.restored = [capped(n, 200) for n in restored[:100]] if isinstance(restored, list) else []
                result.output_chars = count(payload.get("output_chars", len(result.stdout)))
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
            extract = ExtractOptions.of(cfg, progress) if cfg.extract_documents else None
            spec = prepare(value, name, self._host_dir / "contexts", cfg.max_str_bytes, walk, label, extract)
            if errors == "replace":  # else what preparing found (a file with invalid bytes is read with replace)
                spec.errors = errors
            self._ensure_memory(spec)
            if not self._channel.started:
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
        return picture(Path(found[0]), found[1], page, ExtractOptions.of(self.config))

    def add_tools(self, tools: Tools) -> list[str]:
        """Install a set of tools (see `sandbox.tools`): its kernel-side module adds its names
        to the namespace, and requests for its ops go to its handlers. A set of the same name
        is replaced. Tools survive kernel restarts. Returns the names the module added."""
        self._requests.check(tools)
        with self._lock:
            self._setup()
            data_spec = None
            if tools.data is not None:
                data_spec = prepare(tools.data, f"tools_{tools.name}", self._host_dir / "contexts",
                                    self.config.max_str_bytes)
                self._ensure_memory(data_spec)
            if not self._channel.started:
                self._launch_checked()
            self._requests.set_tools(tools, data_spec)
            return self._install(tools, data_spec)

    def _install(self, tools: Tools, data_spec: ContextSpec | None) -> list[str]:
        # the source travels with the request: the module's directory need not be readable
        # from inside the kernel (Landlock allows little outside the Python installation)
        args: dict[str, Any] = {"name": tools.name, "module": str(tools.module),
                                "source": Path(tools.module).read_text(encoding="utf-8")}
        if data_spec is None:
            return list(self._internal("install_tools", args)["names"])
        with self._requests.token(data_spec) as token:
            args.update(token=token, mode=data_spec.mode, label=data_spec.label, errors="strict")
            return list(self._internal("install_tools", args)["names"])

    def _ensure_memory(self, spec: ContextSpec) -> None:
        if self.config.memory_limit_bytes is not None:
            return
        held = self._specs + [d for _, d in self._requests.tools.values() if d is not None]
        needed = _BASE_MEMORY + sum(s.memory_estimate() for s in held if s.name != spec.name)
        needed += spec.memory_estimate() * 2  # decoding holds the file mapping and the str
        if needed <= self._memory_limit:
            return
        self._memory_limit = needed
        if not self._channel.started:
            return  # not launched yet: the launch applies the new limit
        try:
            self._raise_memory(needed)
        except (PermissionError, OSError, ValueError):
            self._restart()

    def _raise_memory(self, needed: int) -> None:
        """Raise the running kernel's memory limits to `needed` bytes (OSError or ValueError
        when they cannot be raised in place: the kernel is then restarted with them)."""
        pid = self._kernel_pid()
        if pid is None:
            raise PermissionError("no kernel pid")
        resource.prlimit(pid, resource.RLIMIT_DATA, (needed, needed))
        self._ws.set_memory(needed)

    def _load_spec(self, spec: ContextSpec) -> dict[str, Any]:
        try:
            with self._requests.token(spec) as token:
                args = {"token": token, "name": spec.name, "mode": spec.mode, "label": spec.label,
                        "errors": spec.errors, "docs_name": spec.docs_name}
                return dict(self._internal("load_context", args))
        except SandboxError as exc:
            if self._channel.started and not self._channel.is_alive():
                why = self._channel.exit_description()
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

    def variables(self) -> Variables:
        """Name, type and size of the kernel's user variables (contexts included): the first
        1,000 (the kernel's listing limit); `.total` says how many there are in all."""
        with self._lock:
            self._check_open()
            found = self._internal("variables", {}, timeout=30)
        return variables_of(found)

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
            return None if value is None else final_text(value)

    def preview(self, name: str = "context", chars: int = 1000) -> str | None:
        """The first `chars` characters of loaded context `name` (a list or dict: its first
        items as JSON lines), or None if no context has that name."""
        with self._lock:
            self._check_open()
            try:
                value = self._internal("preview", {"name": name, "chars": chars}, timeout=60)
            except SandboxError:
                return None
            return None if value is None else capped(value, chars)

    def answer_draft(self) -> str | None:
        """`answer["content"]` as model code left it, ready or not (a partial answer)."""
        with self._lock:
            self._check_open()
            value = self._internal("answer", {}, timeout=30)
            return None if value is None else final_text(value)

    def answer_items(self, key: str) -> list[str] | None:
        """The items of the list model code put in `answer[key]` beside the answer, as text
        (at most 200, each cut to 10,000 characters); None when there is no such list."""
        with self._lock:
            self._check_open()
            value = self._internal("answer_items", {"key": key}, timeout=30)
            if not isinstance(value, list):
                return None
            return [final_text(v) for v in value if isinstance(v, str)][:200]

    def reset_answer(self) -> None:
        """Clear `answer` (content None, ready False), e.g. after refusing a premature answer."""
        with self._lock:
            self._check_open()
            self._internal("set_answer_reset", {}, timeout=30)

    def isolation(self) -> IsolationReport:
        """Which OS isolation layers are active in this sandbox, and why any is not."""
        self._check_open()
        return IsolationReport(self.config.policy, [IsolationLayer(**layer) for layer in self._report], self.backend)

    @property
    def contexts(self) -> list[ContextSpec]:
        return list(self._specs)

    def context_reader(self, name: str = "context") -> ContextReader | None:
        """The text of loaded context `name` read on the host, as the kernel reads it (to check
        what the kernel says is in it); None when no text context has that name."""
        spec = next((s for s in reversed(self._specs) if s.name == name), None)
        if spec is None or spec.mode not in ("text", "corpus"):
            return None
        return ContextReader(spec)
