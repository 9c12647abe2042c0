"""The last step of the bubblewrap and container backends, inside their namespaces and root
(run as a script, so nothing but the standard library and `sandbox.launcher` is imported,
found by path): the per-user limits, the Landlock allow-list and the seccomp filter of the
default launcher, the report of every layer to the host, then the kernel."""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import types
from typing import Any


def _load_launcher() -> types.ModuleType:
    """`sandbox.launcher`, found by this file's path (the package's __init__, host code, is
    not run; -P kept every writable directory off sys.path)."""
    package = types.ModuleType("sandbox")
    package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
    sys.modules["sandbox"] = package
    import sandbox.launcher as launcher

    return launcher


# what the kernel counts per user, the sandbox's use of which is capped (the number of
# processes is the configuration's): queued signals and POSIX message queue bytes, locked
# shared memory
_USER_COUNTS = {resource.RLIMIT_SIGPENDING: 1024, resource.RLIMIT_MSGQUEUE: 0, resource.RLIMIT_MEMLOCK: 0}
_NAMES = {resource.RLIMIT_SIGPENDING: "queued signals", resource.RLIMIT_MSGQUEUE: "message queue bytes",
          resource.RLIMIT_MEMLOCK: "locked memory", resource.RLIMIT_NPROC: "processes"}


def limit_user_counts(processes: int | None, report: Any) -> None:
    """The limits on what the kernel counts per user, set in the sandbox's user namespace,
    where each counts the sandbox's own use (and the user's total still stays under the user's
    own limit). Set outside, before bwrap, they counted all of the user's: with 64 processes
    and threads of the user's running (a browser's, say), no sandbox could start. Not set, the
    sandbox could spend what the user is allowed in all: every queued signal of the user's,
    so the user's own programs got EAGAIN."""
    limits = dict(_USER_COUNTS)
    if processes:
        limits[resource.RLIMIT_NPROC] = processes
    refused = []
    for rlim, value in limits.items():
        hard = resource.getrlimit(rlim)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(rlim, (value, value))
        except (ValueError, OSError):  # gVisor refuses some; its own kernel counts them
            refused.append(_NAMES.get(rlim, str(rlim)))
    for layer in report.layers:
        if layer["layer"] == "resource limits":
            layer["detail"] += (f", processes={processes}, queued signals={_USER_COUNTS[resource.RLIMIT_SIGPENDING]}, "
                                "no message queue or locked memory (counted in the sandbox's user namespace)")
            if refused:
                layer["detail"] += f"; refused by this kernel: {', '.join(refused)}"


def from_stdin(launcher: types.ModuleType) -> dict[str, Any]:
    """The settings, read whole from stdin (the container backend's way: no runtime need hand
    a container descriptors, and gVisor's cannot): the kernel's connection file and options come
    inside them and become sealed in-memory files here, and the report of the layers goes out
    first on stdout. Both are then pointed at /dev/null, before any model code runs."""
    cfg = json.loads(sys.stdin.buffer.read())
    cfg["inputs"] = [launcher.sealed_file("connection", cfg.pop("connection").encode()),
                     launcher.sealed_file("options", cfg.pop("options").encode())]
    cfg["report_fd"] = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return cfg


def main(argv: list[str]) -> None:
    launcher = _load_launcher()
    if argv[1] == "-":
        cfg = from_stdin(launcher)
    else:
        with os.fdopen(int(argv[1]), encoding="utf-8") as f:
            cfg = json.load(f)
    report = launcher.Report()
    report.layers = list(cfg["layers"])
    limit_user_counts(cfg.get("processes"), report)
    if cfg["landlock"]:
        launcher.apply_landlock(cfg["read_paths"], cfg["rw_paths"], report)
    else:
        report.add("landlock", False, "disabled by configuration")
    if cfg["seccomp"]:
        launcher.apply_seccomp(report)
    else:
        report.add("seccomp", False, "disabled by configuration")
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    launcher.exec_kernel(cfg, cfg["inputs"], cfg["report_fd"], report.layers)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except BaseException as exc:
        print(f"rlm sandbox inner stage failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(70) from None
