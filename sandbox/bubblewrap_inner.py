"""The bubblewrap backend's last step, inside bwrap's namespaces and root (run as a script,
so nothing but the standard library and `sandbox.launcher` is imported, found by path): the
Landlock allow-list and the seccomp filter of the default launcher, the report of every layer
to the host, then the kernel."""

from __future__ import annotations

import json
import os
import signal
import sys
import types


def _load_launcher() -> types.ModuleType:
    """`sandbox.launcher`, found by this file's path (the package's __init__, host code, is
    not run; -P kept every writable directory off sys.path)."""
    package = types.ModuleType("sandbox")
    package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
    sys.modules["sandbox"] = package
    import sandbox.launcher as launcher

    return launcher


def main(argv: list[str]) -> None:
    inner_fd = int(argv[1])
    with os.fdopen(inner_fd, encoding="utf-8") as f:
        cfg = json.load(f)
    launcher = _load_launcher()
    report = launcher.Report()
    report.layers = list(cfg["layers"])
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
        print(f"rlm sandbox bubblewrap inner stage failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(70) from None
