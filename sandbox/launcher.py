"""The launcher: applies the OS isolation layers, then becomes the kernel (runs between the
host and the kernel: as the host's user, before any model code exists).

Placed at the front of the kernel's argv, it, in order: hands the kernel its connection file
and options as sealed in-memory files (nothing is written where the kernel can plant a
link), sets resource limits, joins the sandbox's cgroup (memory and processes), enters new
network, mount, IPC, UTS and PID namespaces, forks (the child is PID 1 of the new PID
namespace; the parent waits and exits as the child did), and in the child builds a minimal
root file system (only the Python installation, a few system paths read-only, the work
directory read-write, a private /dev and a fresh /proc) and pivots into it, applies a
Landlock allow-list, drops to an unprivileged uid, installs a seccomp deny-list, and execs
the kernel with a scrubbed environment. Each layer is recorded as active or unavailable (with
the reason) in a report the host reads. Standard library plus the optional `landlock` and
`pyseccomp` packages only.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import platform
import resource
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.confinement import (  # noqa: F401  (re-exported: the layers' one home is confinement)
    ALLOWED_FAMILIES,
    CLONE_NEWNS_FLAGS,
    DENIED_SYSCALLS,
    Report,
    apply_landlock,
    apply_seccomp,
)
from sandbox.mounts import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    check,
    mount,
    umount,
)

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)


def set_limits(limits: dict[str, int], report: Report) -> None:
    names = {
        "cpu_seconds": resource.RLIMIT_CPU,
        "memory_bytes": resource.RLIMIT_DATA,
        "file_bytes": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
        "processes": resource.RLIMIT_NPROC,
    }
    applied = []
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, rlim in names.items():
        value = limits.get(key)
        if value:
            hard = value + 5 if key == "cpu_seconds" else value
            resource.setrlimit(rlim, (value, hard))
            applied.append(f"{key}={value}")
    report.add("resource limits", True, ", ".join(applied + ["core dumps off"]))


def sealed_file(name: str, data: bytes) -> int:
    """An in-memory file holding `data`, sealed against changes, inherited across exec."""
    fd = os.memfd_create(name, os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    os.set_inheritable(fd, True)
    return fd


def kernel_inputs(cfg: dict[str, Any]) -> list[int]:
    """The kernel's connection file (it holds the HMAC key) and options, from the host's
    private directory, as sealed in-memory files: nothing is written, chowned or opened by
    root in a directory the kernel can write (no planted link is ever followed)."""
    return [sealed_file("connection", Path(cfg["conn_file"]).read_bytes()),
            sealed_file("options", Path(cfg["options_file"]).read_bytes())]


def open_report(cfg: dict[str, Any]) -> int:
    """Where the layers applied are reported to the host, opened first (the host's directory
    is out of reach once a layer is on)."""
    return os.open(cfg["report"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)


def exec_kernel(cfg: dict[str, Any], inputs: list[int], report_fd: int, layers: list[dict[str, Any]]) -> None:
    """Report the layers applied (on `open_report`'s descriptor) and become the kernel: the
    last step of every launch command."""
    os.write(report_fd, json.dumps(layers).encode())
    os.close(report_fd)
    os.chdir(cfg["work_dir"])
    argv_exec = [*cfg["exec"], *(str(fd) for fd in inputs)]
    os.execve(argv_exec[0], argv_exec, cfg["env"])


def join_cgroup(procs: list[str], detail: str, report: Report) -> None:
    if not procs:
        report.add("cgroup", False, detail or "not set up by the host")
        return
    try:
        for path in procs:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
    except OSError as exc:
        report.add("cgroup", False, f"could not join {procs[0]}: {exc}")
        return
    report.add("cgroup", True, detail)


def enter_namespaces(as_root: bool, report: Report, cleanup: dict[str, Any]) -> bool:
    """As root: a new PID namespace, a fork (the child goes on), then new network, mount, IPC
    and UTS namespaces in the child; returns True there. Without root: user + network
    namespaces, no fork; returns False."""
    if as_root:
        try:
            check(_libc.unshare(CLONE_NEWPID), "unshare")
            fork_watched(cleanup)  # from here on: the child, PID 1 of the new namespace
            check(_libc.unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
        except OSError as exc:
            report.add("network namespace", False, str(exc))
            return False
        report.add("network namespace", True, "new empty network namespace (no interfaces up)")
        report.add("ipc namespace", True, "SysV IPC and POSIX message queues private to the sandbox")
        report.add("pid namespace", True, "the kernel is PID 1 of its own namespace; /proc shows only its processes")
        return True
    uid, gid = os.getuid(), os.getgid()
    try:
        check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare")
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError as exc:
        report.add("network namespace", False, f"unprivileged user namespaces unavailable: {exc}")
        return False
    report.add("network namespace", True, "new user + network namespace")
    return False


def fork_watched(cleanup: dict[str, Any], parent_task: Callable[[], None] | None = None) -> None:
    """Fork: the child (PID 1 of the new PID namespace, when one was entered) returns and goes
    on to become the kernel; the parent stays outside (in the host's mount namespace), waits, and exits as the
    child did, so the host sees the kernel's fate (a signal stays a signal). When the parent
    dies the child is killed; when the child (PID 1) dies the OS kills every process left in
    its namespace; when the host dies first, the parent kills the child and removes what the
    host would have removed at close (`cleanup`: the work directory's mount, the cgroup).
    `parent_task` runs on a thread of the parent while it waits (the child never has it)."""
    global _parent_alive_fd
    host = os.getppid()
    alive_r, alive_w = os.pipe()  # the parent holds the write end open for as long as it lives
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        _parent_alive_fd = alive_r
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        return
    os.close(alive_r)
    if parent_task is not None:
        import threading

        task = threading.Thread(target=parent_task, daemon=True)
        task.start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the kernel (same group)
    ended: list[int] = []

    def end(signum: int, frame: Any) -> None:
        ended.append(signum)
        os.kill(pid, signal.SIGKILL)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, end)
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            os._exit(70)
        if done:
            break
        if os.getppid() != host:  # the host died (the kernel cannot see it from its namespace)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            _clean_after_host(cleanup)
            os._exit(0)
        time.sleep(0.2)
    if parent_task is not None:
        task.join(timeout=2)  # what it copies of the child's last output
    if os.getppid() != host:  # the host died as the child ended (a signal to all of them: a service stopped)
        _clean_after_host(cleanup)
        os._exit(0)
    if ended and cleanup.get("container"):
        # told to end: the engine's client is killed, but its container lives on without it
        # (under the engine's monitor) unless removed here; the host, alive, restarts it
        _remove_container(cleanup["container"])
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status))
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those cannot be handled anyway
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 70)


_parent_alive_fd: int | None = None  # in the forked child: read end of the pipe its parent holds


def rearm_parent_death_signal() -> None:
    """In the child of `fork_watched`, after the uid changed: changing credentials
    clears PR_SET_PDEATHSIG, so it is set again; if the parent died before that (the signal
    would never come), the pipe it held is closed and the child exits now."""
    global _parent_alive_fd
    if _parent_alive_fd is None:
        return
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    import select

    readable, _, _ = select.select([_parent_alive_fd], [], [], 0)
    if readable:  # EOF: no writer left, the parent is gone
        os._exit(70)
    os.close(_parent_alive_fd)
    _parent_alive_fd = None


def _remove_container(container: list[str]) -> None:
    from sandbox.container_engine import remove_container

    remove_container(*container)


def _clean_after_host(cleanup: dict[str, Any]) -> None:
    import shutil

    if cleanup.get("container"):  # [engine, name]: the container outlives its engine's client
        _remove_container(cleanup["container"])

    for path in cleanup.get("cgroup_dirs", []):
        try:  # leave the group first: a group with a member cannot be removed
            with open(os.path.join(os.path.dirname(path), "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            pass
        for _ in range(100):
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
    work_dir = cleanup.get("work_dir")
    if work_dir and cleanup.get("unmount"):
        with contextlib.suppress(OSError):
            umount(work_dir)
    for path in (cleanup.get("work_top", work_dir), cleanup.get("host_dir")):
        if path:
            shutil.rmtree(path, ignore_errors=True)


def _minimal(paths: list[str]) -> list[str]:
    result: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in result):
            result.append(p)
    return result


def _place(newroot: str, path: str, is_dir: bool) -> str:
    target = newroot + path
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if is_dir:
        os.makedirs(target, mode=0o755, exist_ok=True)
    elif not os.path.exists(target):
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o644))
    return target


def build_root(newroot: str, read_paths: list[str], rw_paths: list[str], report: Report) -> None:
    """Pivot into a minimal root: a read-only tmpfs holding bind mounts of `read_paths`
    (read-only) and `rw_paths` (read-write) at their own paths, /dev with a few devices and a
    fresh /proc of the new PID namespace. No other host path exists inside: no host Unix
    socket can be named, no host file stat()ed."""
    if SYS_PIVOT_ROOT is None:
        raise OSError(f"pivot_root: unknown syscall number on {platform.machine()}")
    mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    mount("tmpfs", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m")
    wanted = [p for p in read_paths if os.path.lexists(p) and not p.startswith("/proc")]
    exposed = []
    for p in _minimal(wanted + list(rw_paths)):
        if os.path.islink(p) and p not in rw_paths:  # /bin -> usr/bin on merged-/usr systems
            os.makedirs(os.path.dirname(newroot + p), mode=0o755, exist_ok=True)
            os.symlink(os.readlink(p), newroot + p)
            continue
        target = _place(newroot, p, os.path.isdir(p))
        mount(p, target, None, MS_BIND | MS_REC, None)
        if p not in rw_paths:
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        exposed.append(p)
    for dev in DEVICES:
        if os.path.exists(f"/dev/{dev}"):
            target = _place(newroot, f"/dev/{dev}", False)
            mount(f"/dev/{dev}", target, None, MS_BIND, None)
    os.makedirs(newroot + "/proc", mode=0o555, exist_ok=True)
    os.chdir(newroot)
    os.mkdir(".old-root", 0o700)
    check(_libc.syscall(SYS_PIVOT_ROOT, b".", b".old-root"), "pivot_root")
    os.chdir("/")
    check(_libc.umount2(b"/.old-root", MNT_DETACH), "umount the old root")
    os.rmdir("/.old-root")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    report.add("minimal root", True, f"pivoted into a read-only root holding {len(exposed)} paths "
                                     f"(read-write: {', '.join(rw_paths)}) and /dev/{{{','.join(DEVICES)}}}")


def drop_privileges(uid: int | None, gid: int | None, report: Report) -> None:
    if os.getuid() != 0:
        report.add("unprivileged user", False, f"host is not root: the kernel runs as the host's uid {os.getuid()}")
        return
    if uid is None or gid is None:
        report.add("unprivileged user", False, "no sandbox uid was assigned")
        return
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    report.add("unprivileged user", True, f"uid {uid}, gid {gid}, no supplementary groups")


def main(argv: list[str]) -> None:
    with open(argv[1], encoding="utf-8") as f:
        cfg = json.load(f)
    report = Report()
    # the root built below must be open to the kernel's uid whatever the host's umask (077 on
    # hardened hosts made its directories root's alone, and the kernel could not start)
    os.umask(0o022)
    report_fd = open_report(cfg)
    as_root = os.getuid() == 0
    uid, gid = cfg.get("uid"), cfg.get("gid")

    fds = kernel_inputs(cfg)
    report.add("scrubbed environment", True, f"{len(cfg['env'])} variables, none from the host")

    set_limits(cfg["limits"], report)
    join_cgroup(cfg.get("cgroup_procs", []), cfg.get("cgroup_detail", ""), report)
    report.add("work directory quota", bool(cfg.get("quota_detail_active")), cfg.get("quota_detail", ""))
    if cfg.get("network", True):
        namespaces = enter_namespaces(as_root, report, cfg.get("cleanup", {}))
    else:
        namespaces = False
        report.add("network namespace", False, "disabled by configuration")
    if namespaces:
        try:
            build_root(cfg["new_root"], cfg["read_paths"], cfg["rw_paths"], report)
        except OSError as exc:
            report.add("minimal root", False, str(exc))
    else:
        for layer in ("ipc namespace", "pid namespace", "minimal root"):
            report.add(layer, False, "needs root (new mount, IPC and PID namespaces); Landlock guards files instead")
    if cfg.get("landlock", True):
        apply_landlock(cfg["read_paths"], cfg["rw_paths"], report)
    else:
        report.add("landlock", False, "disabled by configuration")
    drop_privileges(uid, gid, report)
    rearm_parent_death_signal()
    if cfg.get("seccomp", True):
        apply_seccomp(report)
    else:
        report.add("seccomp", False, "disabled by configuration")

    exec_kernel(cfg, fds, report_fd, report.layers)


def run_launch_command(entry: Any, what: str) -> None:
    """Run a launch command's `entry(argv)`; any failure is reported on stderr (the host's log
    of the kernel) and ends it with status 70."""
    try:
        entry(sys.argv)
    except BaseException as exc:
        print(f"rlm sandbox {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(70) from None


if __name__ == "__main__":
    run_launch_command(main, "launcher")
