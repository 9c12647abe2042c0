"""A sandbox's footprint on the host, made and removed together: its work directory (the
kernel's; a size-limited tmpfs when the host may mount), the host's private directory beside
it (contexts, launch files, the kernel's log), the uid its processes run as (when the host is
root), and its cgroup (memory and processes). Also the sweep of what sandboxes of killed
controllers left behind."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path

from sandbox import mounts
from sandbox.cgroup import Cgroup
from sandbox.config import GiB, SandboxConfig
from sandbox.scratch import ScratchDir, sweep_stale

log = logging.getLogger("rlm.sandbox")


class Workspace:
    """Made by `Workspace.create`; `remove()` undoes all of it (the host's process kills
    first what runs in it, with `kill_processes`)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.work_dir = Path()
        self.work_top = Path()  # what is removed: the work directory, or its private parent
        self.host_dir = Path()
        self.uid: int | None = None
        self.gid: int | None = None
        self.cgroup: Cgroup | None = None
        self.cgroup_detail = ""
        self.quota: tuple[bool, str] = (False, "")
        self.quota_mounted = False
        self._host_scratch: ScratchDir | None = None

    @classmethod
    def create(cls, config: SandboxConfig, memory_bytes: int, *, own_uid: bool = True) -> Workspace:
        """`own_uid`: as root, the sandbox's processes run as a uid of their own (else as the
        host's, which the backend must then confine another way)."""
        ws = cls(config)
        try:
            ws._make(memory_bytes, own_uid)
        except BaseException:
            ws.remove()
            raise
        return ws

    def _make(self, memory_bytes: int, own_uid: bool) -> None:
        root = str(self.config.work_root) if self.config.work_root else None
        sweep_stale_sandboxes(root)
        # the host directory is locked by this process (the kernel cannot reach it); its work
        # directory carries the same <pid>-<id>, so a killed controller's pair is found and removed
        self._host_scratch = ScratchDir("rlm-host-", root)
        self.host_dir = self._host_scratch.path
        pair = self.host_dir.name.removeprefix("rlm-host-")
        self.work_top = Path(root if root is not None else tempfile.gettempdir()) / f"rlm-sandbox-{pair}"
        self.work_top.mkdir(mode=0o700)
        self.work_dir = self.work_top
        if not (os.getuid() == 0 and own_uid):
            # the kernel runs as the host's user (a backend that keeps it, or any backend of a
            # host that is not root), so it owns its work directory and sets its
            # modes: a directory opened to all, a set-user-ID copy of a shell in it (nosuid
            # holds only inside the sandbox), the bridge's socket opened. The directory above,
            # which the kernel never sees, stays the user's alone: no other user gets through
            self.work_dir = self.work_top / "work"
            self.work_dir.mkdir(mode=0o700)
        (self.host_dir / "contexts").mkdir()
        if os.getuid() == 0 and own_uid:
            self.uid = 0x40000000 + secrets.randbelow(0x3FFF0000)
            self.gid = self.uid
        self._mount_quota()
        for sub in ("tmp", ".kernel"):
            (self.work_dir / sub).mkdir()
        for p in (self.work_dir, self.work_dir / "tmp", self.work_dir / ".kernel"):
            os.chmod(p, 0o700)
            if self.uid is not None:
                os.chown(p, self.uid, self.gid)  # type: ignore[arg-type]
        self._make_cgroup(memory_bytes)

    def _mount_quota(self) -> None:
        """Make the work directory a tmpfs of `disk_quota_bytes` (every file counts, open or
        deleted, and inodes are bounded too), when the host may mount."""
        quota = self.config.disk_quota_bytes
        if os.getuid() != 0:
            self.quota = (False, "needs root to mount a size-limited tmpfs; only the per-file size limit applies")
            return
        inodes = min(max(quota // 4096, 10_000), 1_000_000)
        try:
            mounts.mount("tmpfs", str(self.work_dir), "tmpfs", mounts.MS_NOSUID | mounts.MS_NODEV,
                         f"size={quota},nr_inodes={inodes},mode=0700")
        except OSError as exc:
            self.quota = (False, f"could not mount a tmpfs on the work directory: {exc}")
            return
        self.quota_mounted = True
        self.quota = (True, f"tmpfs of {quota / 2**20:,.0f} MiB and {inodes:,} files")

    def _make_cgroup(self, memory_bytes: int) -> None:
        if os.getuid() != 0:
            self.cgroup_detail = "needs root (or a delegated cgroup) for memory and process limits"
            return
        try:
            self.cgroup = Cgroup.create(self.work_top.name, memory_bytes, self.config.processes)
        except OSError as exc:
            self.cgroup_detail = f"cgroups unavailable: {exc}"
            return
        # one budget for all the memory the sandbox can hold: anonymous and shared memory
        # (mmap, memfd, SysV segments), and the work directory's files, which live in a tmpfs
        self.cgroup_detail = (f"{self.cgroup.describe()}; memory {memory_bytes / GiB:.1f} GiB "
                              f"(anonymous and shared memory and the work directory's files together), "
                              f"{self.config.processes} processes")

    def set_memory(self, memory_bytes: int) -> None:
        if self.cgroup is not None:
            self.cgroup.set_memory(memory_bytes)

    def kill_processes(self) -> None:
        """Kill every process of the sandbox's uid (setsid cannot escape this) and of its cgroup."""
        if self.uid is not None:
            _kill_uid(self.uid)
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def remove(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.quota_mounted:
            try:
                mounts.umount(str(self.work_dir))
            except OSError as exc:
                log.warning("could not unmount the work directory %s: %s", self.work_dir, exc)
        if self.work_top != Path() and self.work_top.exists():
            shutil.rmtree(self.work_top, ignore_errors=True)
        if self._host_scratch is not None:
            self._host_scratch.close()


def _kill_uid(uid: int) -> None:
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
            if int(uid_line.split()[1]) == uid:
                found = True
                with contextlib.suppress(OSError):
                    os.kill(int(entry), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.01)


def _remove_stale_container(pair: str) -> None:
    """The container of a killed sandbox (the container backend's, named after its pair of
    directories), if one is left: its host, watchdog and engine's client all killed at once (a
    cgroup killed), the engine's monitor keeps it running, its kernel and its work directory's
    memory with it, until removed."""
    from sandbox.container_engine import engine_path, remove_container

    engine = engine_path()
    if engine is not None:
        remove_container(engine, f"rlm-{pair}")


def sweep_stale_sandboxes(root: str | None) -> None:
    """Remove what sandboxes of killed controllers left under `root`: their host directories
    (their lock is free) and the work directories paired with them, unmounting a work
    directory's tmpfs first (its files are memory, held until unmounted)."""
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    for host_dir in sweep_stale("rlm-host-", root):
        pair = host_dir.name.removeprefix("rlm-host-")
        _remove_stale_container(pair)
        for work in base.glob(f"rlm-sandbox-{glob.escape(pair)}"):
            # as root the work directory belongs to the sandbox's uid: the pairing with a host
            # directory of ours is what makes it ours
            if work.is_symlink() or not work.is_dir() or (os.getuid() != 0 and work.lstat().st_uid != os.getuid()):
                continue
            mounted = [d for d in (work / "work", work) if os.path.ismount(d)]  # a private parent's, or its own
            try:
                for d in mounted:
                    mounts.umount(str(d))
            except OSError as exc:
                log.warning("could not unmount the stale work directory %s: %s", work, exc)
                continue
            shutil.rmtree(work, ignore_errors=True)
            log.info("removed the work directory of a killed sandbox: %s", work)
