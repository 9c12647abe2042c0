"""The container backend's launch command, outside the container (as the host's user, before
any layer): the kernel's connection file and options as sealed in-memory files, handed to the
container as descriptors 3-6 with the inner stage's settings and the report; a watchdog
parent (if the host dies, it removes the container and what the host would have removed);
then `podman run` with the container's layers, running
`sandbox/inner_stage.py` in it. Standard library and `sandbox` modules that import no more."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from sandbox.container import lowered_ulimits
from sandbox.launcher import Report, fork_watched, kernel_inputs, open_report, run_launch_command, sealed_file

PACKAGE = Path(__file__).resolve().parent
INNER = PACKAGE / "inner_stage.py"
FIRST_FD = 3  # what --preserve-fds hands over: 3, 4, ...


def container_argv(cfg: dict[str, Any], box: dict[str, Any], fds: int) -> list[str]:
    """The engine's command line: the container's layers, the kernel's environment, the work
    directory and the `sandbox` package bound, descriptors 3 to 3 + fds - 1 handed over."""
    limits = cfg["limits"]
    argv = [box["engine"], *(["--runtime", box["runtime"]] if box["runtime"] else []), "run", "--rm",
            "--name", box["name"], "--pull", "never", "--init", "--log-driver", "none",
            "--network", "none" if cfg.get("network", True) else "host",
            "--ipc", "none", "--uts", "private", "--hostname", "sandbox",
            "--cap-drop", "all", "--security-opt", "no-new-privileges",
            "--read-only", "--read-only-tmpfs=false",
            "--memory", str(limits["memory_bytes"]), "--memory-swap", str(limits["memory_bytes"]),
            "--pids-limit", str(limits["processes"]), *lowered_ulimits(limits),
            "--workdir", cfg["work_dir"],
            "--volume", f"{cfg['work_dir']}:{cfg['work_dir']}:rw",
            "--volume", f"{PACKAGE}:{PACKAGE}:ro",
            "--preserve-fds", str(fds)]
    argv += ["--user", f"{cfg['uid']}:{cfg['gid']}"] if cfg.get("uid") is not None else ["--userns", "keep-id"]
    for key, value in cfg["env"].items():
        argv += ["--env", f"{key}={value}"]
    argv += [box["image"], box["python"], "-s", "-P", str(INNER), str(FIRST_FD)]
    return argv


def layers_of_container(cfg: dict[str, Any], box: dict[str, Any], report: Report) -> None:
    """What the engine applies (it fails closed: if any of it cannot be made, no kernel starts)."""
    engine = Path(box["engine"]).name
    runtime = box["runtime"] or "its default runtime"
    report.add("container", True, f"{engine} with {runtime}, image {box['image']}")
    report.add("pid namespace", True, f"{engine}: the kernel sees only the container's processes")
    if cfg.get("network", True):
        report.add("network namespace", True, f"{engine}: --network none, a loopback interface only")
    else:
        report.add("network namespace", False, "disabled by configuration")
    report.add("ipc namespace", True, f"{engine}: --ipc none, no /dev/shm")
    report.add("minimal root", True, "the image's root, read-only; the work directory read-write")
    limits = cfg["limits"]
    report.add("cgroup", True, f"{engine}: memory {limits['memory_bytes']} bytes (no swap), "
                               f"{limits['processes']} processes")
    uid = cfg.get("uid")
    if uid is not None:
        report.add("unprivileged user", True, f"uid {uid}, every capability dropped, no new privileges")
    else:
        report.add("unprivileged user", os.getuid() != 0,
                   f"the host's uid {os.getuid()} (rootless), every capability dropped, no new privileges")


def handed_over(fds: list[int]) -> None:
    """Make `fds` descriptors 3, 4, ... in order, and close every other one above 2."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]
    for fd in fds:
        os.close(fd)
    for i, fd in enumerate(high):
        os.dup2(fd, FIRST_FD + i, inheritable=True)
        os.close(fd)
    os.closerange(FIRST_FD + len(fds), 100 + len(fds))


def main(argv: list[str]) -> None:
    cfg = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    box = json.loads(Path(argv[2]).read_text(encoding="utf-8"))
    os.umask(0o022)
    os.environ.update(box.get("engine_env", {}))  # the engine's storage (rootless), for the watchdog too
    report_fd = open_report(cfg)
    inputs = kernel_inputs(cfg)
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
    # descriptors as the container sees them: 3 this file, 4 the report, 5 and 6 the inputs
    inner.update(landlock=cfg.get("landlock", True), seccomp=cfg.get("seccomp", True),
                 inputs=[FIRST_FD + 2, FIRST_FD + 3], processes=limits["processes"], report_fd=FIRST_FD + 1,
                 layers=report.layers)
    inner_fd = sealed_file("inner", json.dumps(inner).encode())
    cleanup = dict(cfg.get("cleanup", {}), container=[box["engine"], box["name"]])
    fork_watched(cleanup)
    handed_over([inner_fd, report_fd, *inputs])
    args = container_argv(cfg, box, 4)
    env = dict(box.get("engine_env", {}), PATH="/usr/bin:/bin:/usr/local/bin:/usr/sbin:/sbin")
    os.execve(args[0], args, env)


if __name__ == "__main__":
    run_launch_command(main, "container launch")
