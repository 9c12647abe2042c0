"""Directories the product writes in (runs, notes, the call cache, eval outputs): made on first
use, or a ConfigError that says what stands in the way, in the words of the Python API and of
the `rlm` command (a file where a directory should be, a read-only or forbidden place).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from rlm.errors import ConfigError


def ensure_dir(path: Path, what: str, *, setting: str, option: str) -> Path:
    """Make `path` (and its parents) a directory this process can write in, and return it.

    `what` names its use ("trajectories"); `setting` and `option` say how to choose another
    place in Python (`runs_dir=...`) and on the command line (`--runs-dir DIR`)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            code = errno.EROFS if _read_only(path) else errno.EACCES
            raise PermissionError(code, os.strerror(code), str(path))
    except OSError as exc:
        reason = why_not_a_directory(path, exc)
        raise ConfigError(f"cannot write {what} in {path}: {reason} (set {setting})",
                          cli_message=f"cannot write {what} in {path}: {reason} (give {option})") from exc
    return path


def why_not_a_directory(path: Path, exc: OSError) -> str:
    """The reason `path` could not be made or used as a directory, in words: which file is in
    the way, else the system's words for `exc` (never an empty string)."""
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        for place in (path, *path.parents):
            if os.path.lexists(place) and not place.is_dir():
                return f"{place} is a file, not a directory"
    return exc.strerror or type(exc).__name__


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


__all__ = ["ensure_dir", "why_not_a_directory"]
