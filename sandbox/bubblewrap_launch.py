"""The bubblewrap backend's launch command, outside the sandbox (as the host's user, before
any layer): resource limits and the cgroup as the default launcher sets them, the kernel's
connection file and options as sealed in-memory files, a watchdog parent (if the host dies,
it kills the sandbox and removes what the host would have), then `bwrap` with the namespaces,
the minimal root and no capability, running `inner_stage.py` inside. Standard library
and `sandbox.launcher` only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sandbox.bubblewrap import bwrap_path
from sandbox.launcher import (
    Report,
    fork_watched,
    join_cgroup,
    kernel_inputs,
    open_report,
    run_launch_command,
    sealed_file,
    set_limits,
)

INNER = Path(__file__).resolve().parent / "inner_stage.py"
_NOT_BOUND = ("/proc",)  # made fresh by bwrap, never the host's


def bwrap_argv(bwrap: str, cfg: dict[str, Any], inner_fd: int) -> list[str]:
    argv = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if cfg.get("network", True):
        argv.append("--unshare-net")
    if _disables_userns(bwrap):  # no user namespace inside, whatever the seccomp filter (bubblewrap 0.8)
        argv.append("--disable-userns")
    # no --as-pid-1: PID 1 of the namespace is bwrap's own init, which model code cannot change;
    # the kernel as PID 1 could clear its parent-death signal and setsid() out of the process
    # group the host kills, and so outlive the sandbox
    argv += ["--die-with-parent", "--cap-drop", "ALL", "--hostname", "sandbox",
             "--proc", "/proc", "--dev", "/dev"]
    for path in cfg["read_paths"]:
        if path not in _NOT_BOUND and os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for path in cfg["rw_paths"]:
        argv += ["--bind", path, path]
    argv += ["--chdir", cfg["work_dir"], "--", sys.executable, "-s", "-P", str(INNER), str(inner_fd)]
    return argv


def _disables_userns(bwrap: str) -> bool:
    """Whether this bubblewrap can keep the sandbox from making user namespaces of its own."""
    try:
        usage = subprocess.run([bwrap, "--help"], capture_output=True, timeout=20, check=False, env={})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--disable-userns" in usage.stdout + usage.stderr


def layers_of_bwrap(cfg: dict[str, Any], report: Report) -> None:
    """What bwrap applies (it fails closed: if any of it cannot be made, no kernel starts)."""
    report.add("user namespace", True, "bubblewrap: the kernel's uid and capabilities count only inside")
    if cfg.get("network", True):
        report.add("network namespace", True, "bubblewrap: a loopback interface only")
    else:
        report.add("network namespace", False, "disabled by configuration")
    report.add("ipc namespace", True, "bubblewrap")
    report.add("pid namespace", True, "bubblewrap: the kernel sees only the sandbox's processes "
                                      "(PID 1 is bwrap's init)")
    bound = sum(1 for p in cfg["read_paths"] if p not in _NOT_BOUND and os.path.exists(p))
    report.add("minimal root", True, f"bubblewrap: {bound} paths read-only, the work directory read-write, "
                                     "a private /dev and /proc")
    uid = os.getuid()
    if uid == 0:
        report.add("unprivileged user", False, "bubblewrap run by root keeps uid 0 outside (without capabilities); "
                                               "the launcher backend drops to an unprivileged uid")
    else:
        report.add("unprivileged user", True, f"the host's uid {uid}, every capability dropped")


def main(argv: list[str]) -> None:
    cfg = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    os.umask(0o022)
    report_fd = open_report(cfg)
    bwrap = bwrap_path()
    if bwrap is None:
        raise SystemExit("bubblewrap (bwrap) is not installed")
    inputs = kernel_inputs(cfg)
    report = Report()
    report.add("scrubbed environment", True, f"{len(cfg['env'])} variables, none from the host")
    # the process limit is set inside, in the sandbox's user namespace: there RLIMIT_NPROC
    # counts the sandbox's own processes and threads; set here, it counted all of the user's
    # (with 64 of them running, a browser's threads say, no sandbox could start)
    limits = dict(cfg["limits"])
    processes = limits.pop("processes", None)
    set_limits(limits, report)
    join_cgroup(cfg.get("cgroup_procs", []), cfg.get("cgroup_detail", ""), report)
    report.add("work directory quota", bool(cfg.get("quota_detail_active")), cfg.get("quota_detail", ""))
    layers_of_bwrap(cfg, report)
    inner = {key: cfg[key] for key in ("read_paths", "rw_paths", "work_dir", "exec")}
    # the kernel's parent is bwrap's init (PID 1): ipykernel, told of a parent pid, would take
    # that for its parent's death and exit; the namespace ends with bwrap in any case
    inner["env"] = {k: v for k, v in cfg["env"].items() if k != "JPY_PARENT_PID"}
    inner.update(landlock=cfg.get("landlock", True), seccomp=cfg.get("seccomp", True), inputs=inputs,
                 processes=processes, report_fd=report_fd, layers=report.layers)
    inner_fd = sealed_file("inner", json.dumps(inner).encode())
    os.set_inheritable(report_fd, True)
    fork_watched(cfg.get("cleanup", {}))
    # interrupts are for the kernel (jupyter signals the process group): bwrap ignores them,
    # and the inner stage puts the default back before the kernel starts
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    args = bwrap_argv(bwrap, cfg, inner_fd)
    os.execve(bwrap, args, cfg["env"])


if __name__ == "__main__":
    run_launch_command(main, "bubblewrap launch")
