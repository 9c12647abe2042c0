"""Host scratch directories that a killed process does not leave behind forever.

`ScratchDir(prefix)` makes `<prefix><pid>-<random>` and holds an exclusive `flock` on an owner
file inside it for as long as it is open; the lock goes with the process, however it ends
(SIGKILL included). `sweep_stale(prefix)` removes the directories of that prefix whose owner is
gone: its lock can be taken, or (no owner file yet: killed while making it) the pid in its name
is not running. A live run's directory is never removed: its lock is held.

`copy_sparse` copies a file by its allocated extents (holes stay holes), so what it writes is
what the source really holds, never its apparent size.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import tempfile
from pathlib import Path

from sandbox.context import copy_range

OWNER = ".owner"


def allocated_bytes(fd: int) -> int:
    """What the file behind `fd` really occupies (its allocated blocks), not its apparent size."""
    return os.fstat(fd).st_blocks * 512


class ScratchDir:
    """A private scratch directory under `root` (default: the system temp directory), removed
    on `close()`, and by `sweep_stale` once its process is gone."""

    def __init__(self, prefix: str, root: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=root))
        # the owner file is locked before it gets its name: a sweeper never sees it unlocked
        fd, tmp = tempfile.mkstemp(prefix=".lock-", dir=self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(tmp, self.path / OWNER)
        except BaseException:
            os.close(fd)
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        self._lock_fd: int | None = fd

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ScratchDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pid_running(pid: int) -> bool:
    """Whether a process of that id exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_gone(directory: Path, pid: int) -> bool:
    if pid == os.getpid() or pid_running(pid):
        # a live owner keeps its directories even when its lock was lost (a descriptor closed
        # twice elsewhere in the process frees it): removing a live sandbox's work directory
        # left its kernel unable to restart; a reused pid only delays a sweep
        return False
    try:
        fd = os.open(directory / OWNER, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True  # killed between making the directory and locking it
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False  # a live process holds it
        raise
    finally:
        os.close(fd)
    return True


def sweep_stale(prefix: str, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove the scratch directories of `prefix` under `root` whose owner process is gone;
    returns them. Only this user's directories are considered."""
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    removed = []
    try:
        names = os.listdir(base)
    except OSError:
        return []
    for name in names:
        m = pattern.match(name)
        if m is None:
            continue
        path = base / name
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not os.path.isdir(path) or os.path.islink(path) or info.st_uid != os.getuid():
            continue
        with contextlib.suppress(OSError):
            if _owner_gone(path, int(m.group(1))):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def copy_sparse(src_fd: int, dst_fd: int, size: int, max_bytes: int) -> int:
    """Copy `size` bytes of `src_fd` to `dst_fd` by its data extents (SEEK_DATA / SEEK_HOLE),
    leaving holes as holes; ValueError once more than `max_bytes` of data would be written
    (the source may grow while it is copied). Returns the bytes of data written."""
    written = 0
    offset = 0
    while offset < size:
        try:
            start = os.lseek(src_fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                break
            raise
        if start >= size:
            break
        end = min(os.lseek(src_fd, start, os.SEEK_HOLE), size)
        if written + (end - start) > max_bytes:
            raise ValueError(f"more than {max_bytes:,} bytes of data")
        os.lseek(dst_fd, start, os.SEEK_SET)
        n = copy_range(src_fd, dst_fd, end - start, src_offset=start)
        written += n
        if n < end - start:  # the source ended early (it shrank while copied)
            break
        offset = end
    os.ftruncate(dst_fd, size)
    return written


__all__ = ["ScratchDir", "allocated_bytes", "copy_sparse", "sweep_stale"]
