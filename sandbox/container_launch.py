"""The container backend's launch command, outside the container (as the host's user, before
any layer): a watchdog parent (if the host dies, it removes the container and what the host
would have removed) that hands the inner stage its settings, the kernel's connection file and
options among them, on the container's stdin and copies the report of the layers the inner
stage prints on its stdout to the host (a pipe each way: no runtime need pass descriptors, so
gVisor's runs it too); then `podman run` with the container's layers, running
`sandbox/inner_stage.py` in it. Standard library and `sandbox` modules that import no more."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.container import lowered_ulimits, runtime_options
from sandbox.container_engine import LABEL
from sandbox.launcher import Report, fork_watched, open_report, run_launch_command

PACKAGE = Path(__file__).resolve().parent
INNER = PACKAGE / "inner_stage.py"


# gVisor's kernel (the Sentry) runs as host threads in the container's cgroup: its share of
# the process limit on top of the kernel's own processes, which it counts itself (RLIMIT_NPROC)
_SENTRY_THREADS = 512


def _gvisor(box: dict[str, Any]) -> bool:
    return Path(box["runtime"] or "-").name == "runsc"


def container_argv(cfg: dict[str, Any], box: dict[str, Any]) -> list[str]:
    """The engine's command line: the container's layers, the kernel's environment, the work
    directory and the `sandbox` package bound, stdin kept open (the inner stage's settings)."""
    limits = cfg["limits"]
    argv = [box["engine"], *runtime_options(box["runtime"], cfg.get("network", True)), "run", "--rm", "--interactive",
            "--name", box["name"], "--label", f"{LABEL}={box['owner']}",
            "--pull", "never", "--init", "--log-driver", "none",
            "--network", "none" if cfg.get("network", True) else "host",
            "--ipc", "none", "--uts", "private", "--hostname", "sandbox",
            "--cap-drop", "all", "--security-opt", "no-new-privileges",
            "--read-only", "--read-only-tmpfs=false",
            "--memory", str(limits["memory_bytes"]), "--memory-swap", str(limits["memory_bytes"]),
            "--pids-limit", str(limits["processes"] + (_SENTRY_THREADS if _gvisor(box) else 0)),
            *lowered_ulimits(limits),
            "--workdir", cfg["work_dir"],
            "--volume", f"{cfg['work_dir']}:{cfg['work_dir']}:rw",
            "--volume", f"{PACKAGE}:{PACKAGE}:ro"]
    argv += ["--user", f"{cfg['uid']}:{cfg['gid']}"] if cfg.get("uid") is not None else ["--userns", "keep-id"]
    # no --env: the kernel's environment travels in the settings and the inner stage execs the
    # kernel with it; the container's init (the kernel's parent) holds only the engine's few
    argv += ["--", box["image"], box["python"], "-s", "-P", str(INNER), "-"]  # "--": the image is never an option
    return argv


def layers_of_container(cfg: dict[str, Any], box: dict[str, Any], report: Report) -> None:
    """What the engine applies (it fails closed: if any of it cannot be made, no kernel starts)."""
    engine = Path(box["engine"]).name
    runtime = box["runtime"] or "its default runtime"
    kernel = " (gVisor: a kernel of its own between the sandbox and this machine's)" if _gvisor(box) else ""
    report.add("container", True, f"{engine} with {runtime}{kernel}, image {box['image']}")
    report.add("pid namespace", True, f"{engine}: the kernel sees only the container's processes")
    if cfg.get("network", True):
        report.add("network namespace", True, f"{engine}: --network none, a loopback interface only")
    else:
        report.add("network namespace", False, "disabled by configuration")
    report.add("ipc namespace", True, f"{engine}: --ipc none, no /dev/shm")
    report.add("minimal root", True, "the image's root, read-only; the work directory read-write")
    limits = cfg["limits"]
    sentry = f" + {_SENTRY_THREADS} for gVisor's own threads" if _gvisor(box) else ""
    missing = [c for c in ("memory", "pids") if c not in box.get("cgroup_controllers", [])]
    if missing:
        report.add("cgroup", False, f"{engine} has no {' or '.join(missing)} cgroup controller for this user "
                                    "(rootless, without a delegated cgroup v2 group): memory and processes are "
                                    "bounded by rlimits only")
    else:
        report.add("cgroup", True, f"{engine}: memory {limits['memory_bytes']} bytes (no swap), "
                                   f"{limits['processes']} processes{sentry}")
    uid = cfg.get("uid")
    if uid is not None:
        report.add("unprivileged user", True, f"uid {uid}, every capability dropped, no new privileges")
    else:
        report.add("unprivileged user", os.getuid() != 0,
                   f"the host's uid {os.getuid()} (rootless), every capability dropped, no new privileges")


# what of the container's stderr reaches the host's log of the kernel (kernel.log, outside the
# work directory's quota): the engine's messages and the inner stage's, never more. The kernel
# writes there only through its init's stderr (/proc/1/fd/2: gVisor has no Landlock to keep it
# from it), which the engine's client would copy to the host's disk without end
STDERR_BYTES = 1 << 20


def stderr_relay(stderr_r: int, log_fd: int, limit: int = STDERR_BYTES) -> None:
    """Copy the container's stderr to the host's log up to `limit` bytes, then drain the rest
    (the container never blocks on it)."""
    left = limit
    while chunk := os.read(stderr_r, 65536):
        if left <= 0:
            continue
        with contextlib.suppress(OSError):
            os.write(log_fd, chunk[:left])
            if len(chunk) >= left:
                os.write(log_fd, b"\n[rlm: the rest of the container's stderr was dropped]\n")
        left -= len(chunk)


def report_relay(report_fd: int, stdout_r: int, settings: bytes, stdin_w: int,
                 childs: tuple[int, ...], stderr_r: int | None = None) -> Callable[[], None]:
    """What the watchdog's parent does while the container runs: hand the inner stage its
    settings on the container's stdin, copy the report of the layers it prints first on its
    stdout into the host's report file (written whole at once), and drain the rest; and copy
    the container's stderr to the host's log, capped (`stderr_relay`)."""

    def relay() -> None:
        for fd in childs:  # the child's ends: with them closed here, its exit ends the pipes
            os.close(fd)
        copier = None
        if stderr_r is not None:
            import threading

            copier = threading.Thread(target=stderr_relay, args=(stderr_r, 2), daemon=True)
            copier.start()
        with contextlib.suppress(OSError):
            os.write(stdin_w, settings)
        os.close(stdin_w)
        seen = b""
        reported = False
        while chunk := os.read(stdout_r, 65536):
            if reported or len(seen) > 1 << 20:
                continue
            seen += chunk
            with contextlib.suppress(ValueError):
                layers, _ = json.JSONDecoder().raw_decode(seen.decode())
                os.write(report_fd, json.dumps(layers).encode())
                os.close(report_fd)
                reported = True
        if copier is not None:  # the engine's last words (why it failed) reach the log first
            copier.join(timeout=5)

    return relay


def main(argv: list[str]) -> None:
    cfg = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    box = json.loads(Path(argv[2]).read_text(encoding="utf-8"))
    os.umask(0o022)
    os.environ.update(box.get("engine_env", {}))  # the engine's storage (rootless), for the watchdog too
    report_fd = open_report(cfg)
    report = Report()
    report.add("scrubbed environment", True, f"{len(cfg['env'])} variables, none from the host")
    limits = cfg["limits"]
    report.add("resource limits", True, ", ".join(f"{k}={v}" for k, v in limits.items() if v) + ", core dumps off "
                                        "(the engine's --ulimit)")
    report.add("work directory quota", bool(cfg.get("quota_detail_active")), cfg.get("quota_detail", ""))
    layers_of_container(cfg, box, report)
    inner = {key: cfg[key] for key in ("read_paths", "rw_paths", "work_dir")}
    inner["exec"] = [box["python"], *cfg["exec"][1:]]
    # the kernel's parent is the container's init: ipykernel, told of a parent pid, would take
    # that for its parent's death and exit; the container ends with the engine's process
    inner["env"] = {k: v for k, v in cfg["env"].items() if k != "JPY_PARENT_PID"}
    inner.update(landlock=cfg.get("landlock", True), seccomp=cfg.get("seccomp", True), processes=limits["processes"],
                 layers=report.layers, connection=Path(cfg["conn_file"]).read_text(encoding="utf-8"),
                 options=Path(cfg["options_file"]).read_text(encoding="utf-8"))
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    cleanup = dict(cfg.get("cleanup", {}), container=[box["engine"], box["name"]])
    fork_watched(cleanup, report_relay(report_fd, stdout_r, json.dumps(inner).encode(), stdin_w,
                                          (stdin_r, stdout_w, stderr_w), stderr_r))
    # the child: the engine's client gets the pipes as its stdin, stdout and stderr, and
    # nothing else
    os.dup2(stdin_r, 0)
    os.dup2(stdout_w, 1)
    os.dup2(stderr_w, 2)
    os.closerange(3, 1 << 16)
    args = container_argv(cfg, box)
    env = dict(box.get("engine_env", {}), PATH="/usr/bin:/bin:/usr/local/bin:/usr/sbin:/sbin")
    os.execve(args[0], args, env)


if __name__ == "__main__":
    run_launch_command(main, "container launch")
