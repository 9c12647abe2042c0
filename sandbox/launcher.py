"""The launcher: applies the OS isolation layers, then execs the kernel.

Placed at the front of the kernel's argv, it runs as the host's user and, in order:
copies the connection file for the kernel, sets resource limits, enters new network
and mount namespaces, hides the host's home (re-exposing only the Python installation),
applies a Landlock file-system allow-list, drops to an unprivileged uid, installs a
seccomp deny-list, and execs the kernel with a scrubbed environment. Each layer is
recorded as active or unavailable (with the reason) in a report the host reads.
Standard library plus the optional `landlock` and `pyseccomp` packages only.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import stat
import sys
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNS_FLAGS = (
    CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWUSER, 0x04000000, 0x08000000, 0x20000000,
    0x02000000, 0x00000080,
)  # NS, NET, USER, UTS, IPC, PID, CGROUP, TIME
MS_RDONLY, MS_NOSUID, MS_NODEV = 1, 2, 4
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18

DENIED_SYSCALLS = (
    "ptrace", "mount", "umount2", "unshare", "setns", "bpf", "keyctl", "add_key",
    "request_key", "process_vm_readv", "process_vm_writev", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "perf_event_open", "userfaultfd",
    "personality", "pivot_root", "chroot", "swapon", "swapoff", "reboot", "acct",
    "quotactl", "open_by_handle_at", "name_to_handle_at", "syslog", "iopl", "ioperm",
    "settimeofday", "clock_settime", "adjtimex", "fanotify_init", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr",
)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    enc = lambda s: s.encode() if s is not None else None
    _check(
        _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
        f"mount {target}",
    )


class Report:
    def __init__(self) -> None:
        self.layers: list[dict[str, Any]] = []

    def add(self, layer: str, active: bool, detail: str) -> None:
        self.layers.append({"layer": layer, "active": active, "detail": detail})


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


def enter_namespaces(as_root: bool, report: Report) -> bool:
    """New network namespace (and mount namespace); returns whether a mount ns exists."""
    if as_root:
        try:
            _check(_libc.unshare(CLONE_NEWNET | CLONE_NEWNS), "unshare")
        except OSError as exc:
            report.add("network namespace", False, str(exc))
            return False
        report.add("network namespace", True, "new empty network namespace (no interfaces up)")
        return True
    uid, gid = os.getuid(), os.getgid()
    try:
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare")
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError as exc:
        report.add("network namespace", False, f"unprivileged user namespaces unavailable: {exc}")
        return False
    report.add("network namespace", True, "new user + network namespace")
    return False


def _blocker(path: str) -> str | None:
    """The highest ancestor of `path` that others cannot traverse, if any."""
    parts = Path(path).parts
    for i in range(2, len(parts)):
        ancestor = str(Path(*parts[:i]))
        try:
            mode = os.stat(ancestor).st_mode
        except OSError:
            return None
        if not mode & stat.S_IXOTH:
            return ancestor
    return None


def _minimal(paths: list[str]) -> list[str]:
    result: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in result):
            result.append(p)
    return result


def hide_private_dirs(read_paths: list[str], rw_paths: list[str], extra: list[str], report: Report) -> None:
    """Cover non-traversable directories (the host's home) with an empty tmpfs,
    re-exposing only the paths the kernel needs, read-only (the work dir stays writable)."""
    needed = [p for p in read_paths + rw_paths if os.path.exists(p)]
    blockers = {b for b in (_blocker(p) for p in needed) if b}
    blockers |= {d for d in extra if os.path.isdir(d) and d != "/"}
    blockers_list = _minimal(list(blockers))
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    exposed = []
    for blocker in blockers_list:
        subs = _minimal([p for p in needed if p.startswith(blocker.rstrip("/") + "/")])
        fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in subs}
        _mount("tmpfs", blocker, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for p, fd in fds.items():
            target = Path(p)
            for parent in reversed(target.parents):
                if str(parent).startswith(blocker) and not parent.exists():
                    parent.mkdir()
                    os.chmod(parent, 0o755)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                target.mkdir(exist_ok=True)
            else:
                target.touch()
            _mount(f"/proc/self/fd/{fd}", str(target), None, MS_BIND | MS_REC, None)
            if p not in rw_paths:
                _mount(None, str(target), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
            os.close(fd)
            exposed.append(p)
    detail = f"hid {', '.join(blockers_list) or 'nothing'}"
    if exposed:
        detail += f"; re-exposed {', '.join(exposed)}"
    report.add("private mounts", True, detail)


def apply_landlock(read_paths: list[str], rw_paths: list[str], report: Report) -> None:
    try:
        import landlock
    except ImportError as exc:
        report.add("landlock", False, f"the landlock package is not installed ({exc})")
        return
    try:
        abi = landlock.landlock_abi_version()
        fs = landlock.FSAccess
        ruleset = landlock.Ruleset()
        read_dir = fs.READ_FILE | fs.READ_DIR | fs.EXECUTE
        read_file = fs.READ_FILE | fs.EXECUTE
        allowed = []
        for p in read_paths:
            if os.path.exists(p):
                ruleset.allow(p, rules=read_dir if os.path.isdir(p) else read_file)
                allowed.append(p)
        for dev in ("/dev/null", "/dev/zero", "/dev/full"):
            if os.path.exists(dev):
                ruleset.allow(dev, rules=fs.all_file())
        for p in rw_paths:
            ruleset.allow(p, rules=fs.all())
        ruleset.apply()
    except (OSError, landlock.LandlockError) as exc:
        report.add("landlock", False, f"Landlock unavailable: {exc}")
        return
    report.add("landlock", True, f"ABI {abi}; read-only: {len(allowed)} paths; read-write: {', '.join(rw_paths)}")


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


def apply_seccomp(report: Report) -> None:
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:
        report.add("seccomp", False, f"pyseccomp/libseccomp unavailable ({exc})")
        return
    try:
        flt = sc.SyscallFilter(sc.ALLOW)
        denied = []
        for name in DENIED_SYSCALLS:
            try:
                flt.add_rule(sc.ERRNO(errno.EPERM), name)
                denied.append(name)
            except (OSError, ValueError, RuntimeError):
                continue  # not a syscall on this architecture
        for flag in CLONE_NEWNS_FLAGS:
            flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        flt.load()
    except (OSError, ValueError, RuntimeError) as exc:
        report.add("seccomp", False, f"could not load the filter: {exc}")
        return
    report.add("seccomp", True, f"deny-list of {len(denied)} syscalls; clone into namespaces refused")


def main(argv: list[str]) -> None:
    with open(argv[1], encoding="utf-8") as f:
        cfg = json.load(f)
    report = Report()
    report_fd = os.open(cfg["report"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    as_root = os.getuid() == 0
    uid, gid = cfg.get("uid"), cfg.get("gid")

    # the connection file holds the HMAC key: give the kernel a private copy it deletes at boot
    conn = Path(cfg["conn_file"]).read_bytes()
    copy = cfg["conn_copy"]
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.write(fd, conn)
    os.close(fd)
    if as_root and uid is not None:
        os.chown(copy, uid, gid)
    report.add("scrubbed environment", True, f"{len(cfg['env'])} variables, none from the host")

    set_limits(cfg["limits"], report)
    if cfg.get("network", True):
        has_mount_ns = enter_namespaces(as_root, report)
    else:
        has_mount_ns = False
        report.add("network namespace", False, "disabled by configuration")
    if has_mount_ns:
        try:
            hide_private_dirs(cfg["read_paths"], cfg["rw_paths"], cfg.get("hide", []), report)
        except OSError as exc:
            report.add("private mounts", False, str(exc))
    else:
        report.add("private mounts", False, "needs root (a mount namespace); Landlock guards reads instead")
    if cfg.get("landlock", True):
        apply_landlock(cfg["read_paths"], cfg["rw_paths"], report)
    else:
        report.add("landlock", False, "disabled by configuration")
    drop_privileges(uid, gid, report)
    if cfg.get("seccomp", True):
        apply_seccomp(report)
    else:
        report.add("seccomp", False, "disabled by configuration")

    os.write(report_fd, json.dumps(report.layers).encode())
    os.close(report_fd)
    os.chdir(cfg["work_dir"])
    argv_exec = cfg["exec"]
    os.execve(argv_exec[0], argv_exec, cfg["env"])


if __name__ == "__main__":
    try:
        main(sys.argv)
    except BaseException as exc:  # report any launch failure on stderr for the host's log
        print(f"rlm sandbox launcher failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(70) from None
