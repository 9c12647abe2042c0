"""Paths given as contexts: shown as one safe line, checked for what they are, opened only
while still regular files, why one cannot be read, and a snapshot of a file that says its
size is 0 (/proc, /sys).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from sandbox.errors import ContextError

_LINE_BREAKERS = re.compile(r"[\x00-\x1f\x7f]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(path: Path | str, limit: int | None = None) -> str:
    """A path as one line of text that is always valid UTF-8 (bytes of a name that are not
    UTF-8 as \\xNN escapes, control characters, newlines included, as \\n or \\xNN: a name
    must not begin a line of its own in a message or a listing), shortened in the middle to
    `limit` characters when given."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    text = _LINE_BREAKERS.sub(lambda m: _NAMED_ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), text)
    if limit is not None and len(text) > limit:
        keep = max(limit - 5, 2) // 2
        text = f"{text[:keep]} ... {text[-keep:]}"
    return text


MESSAGE_PATH_CHARS = 200  # a path in an error message or a summary line, shortened past this


_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                  (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def special_kind(mode: int) -> str | None:
    """What a file that is neither a regular file nor a directory is ("a FIFO (named pipe)",
    "a socket", ...), or None for those two."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), "not a regular file")


def check_path(path: Path) -> os.stat_result:
    """The status of a path given as (part of) a context: a regular file or a directory, else
    a ContextError that says what it is (a symlink loop, a link to nothing, a path too long,
    a FIFO, a socket, a device) without opening it (opening a FIFO waits for a writer)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ContextError(stat_problem(path, exc)) from None
    kind = special_kind(st.st_mode)
    if kind is not None:
        also = ", or the text it gives (in Python, read it and pass the str)" if kind.startswith("a FIFO") else ""
        raise ContextError(f"{shown(path, MESSAGE_PATH_CHARS)} is {kind}, not a file or a directory; give a "
                           f"regular file{also}")
    return st



def open_regular(path: Path | str) -> BinaryIO:
    """`path` opened for reading, if it is still a regular file: opened without waiting (a
    FIFO swapped in after it was looked at would wait for a writer) and checked on the open
    descriptor, so what was checked is what is read. ContextError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        kind = special_kind(os.fstat(fd).st_mode)
        if kind is not None or stat.S_ISDIR(os.fstat(fd).st_mode):
            raise ContextError(f"{shown(path, MESSAGE_PATH_CHARS)} changed while it was read: it is now "
                               f"{kind or 'a directory'}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise

def stat_problem(path: Path | str, exc: OSError) -> str:
    """One line on why `path` cannot be looked at."""
    short = shown(path, MESSAGE_PATH_CHARS)
    if exc.errno == errno.ELOOP:
        return f"{short} is a loop of symbolic links"
    if exc.errno == errno.ENAMETOOLONG:
        return (f"the path is too long for this system ({len(os.fsencode(path)):,} bytes; the limit is "
                f"{os.pathconf('/', 'PC_PATH_MAX'):,}): {short}")
    if exc.errno == errno.ENOENT:
        return (f"{short} is a symbolic link to a missing file" if os.path.islink(path)
                else f"no such file or directory: {short}")
    if exc.errno == errno.EACCES:
        return f"cannot read {short}: permission denied"
    return f"cannot read {short}: {exc.strerror or exc}"


def skip_reason(exc: OSError) -> str:
    """The reason a walk gives for a file or directory it could not look at."""
    return {errno.ENAMETOOLONG: "path too long", errno.ENOENT: "broken link",
            errno.ELOOP: "link loop"}.get(exc.errno or 0, "unreadable")


SNAPSHOT_BYTES = 64 << 20  # a file that says its size is 0 (/proc, /sys) is read up to this


def snapshot(path: Path, copy: Path) -> Path | None:
    """A file that reports size 0 may still have text (/proc/cpuinfo): its text now, copied
    (up to SNAPSHOT_BYTES), or None when it has none."""
    with open(copy, "wb") as out:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)  # a file that waits (/proc/kmsg) ends
        try:
            while out.tell() < SNAPSHOT_BYTES:
                try:
                    chunk = os.read(fd, min(1 << 20, SNAPSHOT_BYTES - out.tell()))
                except BlockingIOError:
                    break
                if not chunk:
                    break
                out.write(chunk)
        finally:
            os.close(fd)
    return copy if copy.stat().st_size else None
