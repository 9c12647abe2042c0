"""The two layers every backend applies last, inside, just before the kernel (and the document
worker before it reads): the Landlock allow-list of paths (with signals and abstract Unix
sockets scoped to the sandbox where the kernel has Landlock ABI 6), and the seccomp filter
(a deny-list of system calls, no clone into namespaces, no signal to the process group, and
socket families by allow-list). Each records itself in a `Report` as active or unavailable,
with the reason. Standard library plus the optional `landlock` and `pyseccomp` packages."""

from __future__ import annotations

import ctypes
import errno
import os
import socket
from typing import Any

CLONE_NEWNS_FLAGS = (
    0x00020000, 0x40000000, 0x10000000, 0x04000000, 0x08000000, 0x20000000,
    0x02000000, 0x00000080,
)  # NS, NET, USER, UTS, IPC, PID, CGROUP, TIME
DENIED_SYSCALLS = (
    "ptrace", "mount", "umount2", "unshare", "setns", "bpf", "keyctl", "add_key",
    "request_key", "process_vm_readv", "process_vm_writev", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "perf_event_open", "userfaultfd",
    "personality", "pivot_root", "chroot", "swapon", "swapoff", "reboot", "acct",
    "quotactl", "open_by_handle_at", "name_to_handle_at", "syslog", "iopl", "ioperm",
    "settimeofday", "clock_settime", "adjtimex", "fanotify_init", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr",
    # inotify instances are counted per user (128 by default) across every namespace: a kernel
    # running as the host's user (bubblewrap) could take them all from the user's own programs
    "inotify_init", "inotify_init1",
)

_libc = ctypes.CDLL(None, use_errno=True)


class Report:
    def __init__(self) -> None:
        self.layers: list[dict[str, Any]] = []

    def add(self, layer: str, active: bool, detail: str) -> None:
        self.layers.append({"layer": layer, "active": active, "detail": detail})


def apply_landlock(read_paths: list[str], rw_paths: list[str], report: Report) -> None:
    """Allow reading `read_paths` and everything on `rw_paths`; nothing else."""
    try:
        import landlock
    except ImportError as exc:
        report.add("landlock", False, f"the landlock package is not installed ({exc})")
        return
    # the landlock package takes a stale errno for its own failure: one left by an earlier
    # call that failed (a refused unshare) made every ruleset fail, and the layer was lost
    ctypes.set_errno(0)
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
    scope = _scope_landlock(abi)
    report.add("landlock", True, f"ABI {abi}; read-only: {len(allowed)} paths; read-write: {', '.join(rw_paths)}; "
                                 f"{scope}")


_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_LANDLOCK_SCOPE_SIGNAL = 1 << 1
_SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture (asm-generic)
_SYS_LANDLOCK_RESTRICT_SELF = 446


class _ScopedRulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


def _scope_landlock(abi: int) -> str:
    """Confine signals and abstract Unix sockets to the sandbox's own processes (Landlock ABI
    6, Linux 6.12): whatever the route (kill(0) to the process group the kernel shares with
    its launch command and its watchdog, a file's owner signal...), no signal reaches a
    process outside the domain, and no abstract socket bound outside it can be reached.
    Returns what was done, in words; older kernels keep the seccomp filter's kill(0) rule."""
    if abi < 6:
        return f"signals and abstract sockets not scoped (needs Landlock ABI 6, this is {abi})"
    attr = _ScopedRulesetAttr(0, 0, _LANDLOCK_SCOPE_SIGNAL | _LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET)
    fd = _libc.syscall(ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET), ctypes.byref(attr),
                       ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    if fd < 0:
        return f"signals and abstract sockets not scoped: {os.strerror(ctypes.get_errno())}"
    try:
        if _libc.syscall(ctypes.c_long(_SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            return f"signals and abstract sockets not scoped: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(fd)
    return "signals and abstract Unix sockets scoped to the sandbox"


ALLOWED_FAMILIES = (socket.AF_UNIX, socket.AF_NETLINK)
_AF_LIMIT = 64  # above every address family Linux has (AF_MAX is 46 in 6.x): all refused
_NETLINK_ROUTE = 0


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
        # kill(0, sig) signals the caller's whole process group, which holds the launch
        # command (and, under bubblewrap, the watchdog and bwrap outside every namespace):
        # refused (pid_t is 32 bits: the mask catches a 0 with high bits set)
        flt.add_rule(sc.ERRNO(errno.EPERM), "kill", sc.Arg(0, sc.MASKED_EQ, 0xFFFFFFFF, 0))
        # socket families by allow-list: AF_UNIX, and AF_NETLINK's route protocol, which the
        # kernel's own libzmq opens (getifaddrs; it dies without it) and which sees only the
        # network namespace's interfaces. Every other family is refused, whatever the other
        # layers: AF_INET/AF_INET6 (also fenced by the namespace), AF_VSOCK (reaches a VM's
        # host, which no namespace covers), AF_PACKET, AF_ALG, AF_BLUETOOTH, other netlink
        # protocols (audit, uevents, netfilter...).
        for call in ("socket", "socketpair"):
            for family in range(_AF_LIMIT):
                if family not in ALLOWED_FAMILIES:
                    flt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), call, sc.Arg(0, sc.EQ, family))
            flt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), call, sc.Arg(0, sc.GE, _AF_LIMIT))
        flt.add_rule(sc.ERRNO(errno.EPROTONOSUPPORT), "socket", sc.Arg(0, sc.EQ, socket.AF_NETLINK),
                     sc.Arg(2, sc.NE, _NETLINK_ROUTE))
        flt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socketpair", sc.Arg(0, sc.EQ, socket.AF_NETLINK))
        flt.load()
    except (OSError, ValueError, RuntimeError) as exc:
        report.add("seccomp", False, f"could not load the filter: {exc}")
        return
    report.add("seccomp", True, f"deny-list of {len(denied)} syscalls; clone into namespaces and signals to "
                                "the process group refused; sockets of AF_UNIX and netlink route only")
