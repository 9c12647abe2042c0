"""A memory-mapped text corpus with a str-like API (runs inside the kernel).

Used when a context is too large to hold as a Python `str`. Positions are *byte offsets*
into the UTF-8 file; for ASCII text they equal character positions. Slices and matches
return `str` (decoded, invalid bytes replaced). Regular expressions take `str` patterns
and run over the bytes, so `\\w`, `\\d` and case folding follow ASCII rules.
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Iterator
from typing import Any

_DOC = """Corpus: a memory-mapped text too large to hold as a str ({size:,} bytes).
Positions are byte offsets (equal to character positions for ASCII text).
  len(c), c[i], c[a:b]            -> str slices (decoded)
  c.find(s, start=0, end=None)    -> offset or -1;  c.rfind(...), c.count(s)
  c.search(pattern, start=0)      -> CorpusMatch or None (str regex over bytes)
  c.finditer(pattern) / c.findall(pattern, limit=None)
  c.lines(start=0)                -> iterator over lines (str, without newline)
  c.chunks(size, overlap=0)       -> iterator over (offset, str) windows of about size bytes
"""


class CorpusMatch:
    """A regex match over a Corpus: groups decoded to str, offsets in bytes."""

    __slots__ = ("_m",)

    def __init__(self, match: re.Match) -> None:
        self._m = match

    def group(self, *groups: Any) -> Any:
        value = self._m.group(*groups)
        if isinstance(value, tuple):
            return tuple(_decode(v) for v in value)
        return _decode(value)

    def groups(self) -> tuple:
        return tuple(_decode(v) for v in self._m.groups())

    def groupdict(self) -> dict:
        return {k: _decode(v) for k, v in self._m.groupdict().items()}

    def start(self, group: Any = 0) -> int:
        return self._m.start(group)

    def end(self, group: Any = 0) -> int:
        return self._m.end(group)

    def span(self, group: Any = 0) -> tuple[int, int]:
        return self._m.span(group)

    def __getitem__(self, group: Any) -> Any:
        return self.group(group)

    def __repr__(self) -> str:
        return f"<CorpusMatch span={self.span()} match={self.group()[:80]!r}>"


def _decode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _pattern(pattern: Any, flags: int) -> re.Pattern:
    if isinstance(pattern, re.Pattern):
        flags |= pattern.flags & ~re.UNICODE
        pattern = pattern.pattern
    if isinstance(pattern, str):
        pattern = pattern.encode("utf-8")
    return re.compile(pattern, flags & ~re.UNICODE)


class Corpus:
    """A read-only, memory-mapped UTF-8 text. See `help_text()` for the API."""

    __slots__ = ("_mm", "_size", "path")

    def __init__(self, fd: int, path: str = "") -> None:
        self._size = os.fstat(fd).st_size
        self._mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if self._size else b""
        self.path = path

    def help_text(self) -> str:
        return _DOC.format(size=self._size)

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"<Corpus of {self._size:,} bytes; use .help_text() for the API>"

    def __getitem__(self, key: Any) -> str:
        if isinstance(key, slice):
            start, stop, step = key.indices(self._size)
            return bytes(self._mm[start:stop:step]).decode("utf-8", "replace")
        if key < 0:
            key += self._size
        if not 0 <= key < self._size:
            raise IndexError("corpus index out of range")
        return bytes(self._mm[key : key + 1]).decode("utf-8", "replace")

    def __contains__(self, sub: str) -> bool:
        return self.find(sub) != -1

    def __iter__(self) -> Iterator[str]:
        return self.lines()

    def find(self, sub: str, start: int = 0, end: int | None = None) -> int:
        return self._mm.find(sub.encode("utf-8"), start, self._size if end is None else end)

    def rfind(self, sub: str, start: int = 0, end: int | None = None) -> int:
        return self._mm.rfind(sub.encode("utf-8"), start, self._size if end is None else end)

    def count(self, sub: str) -> int:
        needle = sub.encode("utf-8")
        if not needle:
            return self._size + 1
        return sum(1 for _ in re.finditer(re.escape(needle), self._mm))

    def search(self, pattern: Any, start: int = 0, flags: int = 0) -> CorpusMatch | None:
        m = _pattern(pattern, flags).search(self._mm, start)
        return CorpusMatch(m) if m else None

    def finditer(self, pattern: Any, flags: int = 0) -> Iterator[CorpusMatch]:
        for m in _pattern(pattern, flags).finditer(self._mm):
            yield CorpusMatch(m)

    def findall(self, pattern: Any, flags: int = 0, limit: int | None = None) -> list:
        compiled = _pattern(pattern, flags)
        results: list = []
        for m in compiled.finditer(self._mm):
            if compiled.groups == 0:
                results.append(_decode(m.group()))
            elif compiled.groups == 1:
                results.append(_decode(m.group(1)))
            else:
                results.append(tuple(_decode(g) for g in m.groups()))
            if limit is not None and len(results) >= limit:
                break
        return results

    def lines(self, start: int = 0) -> Iterator[str]:
        pos = start
        while pos < self._size:
            nl = self._mm.find(b"\n", pos)
            end = self._size if nl == -1 else nl
            yield bytes(self._mm[pos:end]).decode("utf-8", "replace")
            pos = end + 1

    def chunks(self, size: int, overlap: int = 0) -> Iterator[tuple[int, str]]:
        """Yield (byte offset, text) windows of about `size` bytes, never splitting a character."""
        if size <= 0 or overlap < 0 or overlap >= size:
            raise ValueError("need size > 0 and 0 <= overlap < size")
        pos = 0
        while pos < self._size:
            end = self._boundary(min(pos + size, self._size))
            if end <= pos:
                end = min(pos + size, self._size)
            yield pos, bytes(self._mm[pos:end]).decode("utf-8", "replace")
            if end >= self._size:
                break
            pos = max(self._boundary(end - overlap), pos + 1)

    def _boundary(self, pos: int) -> int:
        """Move pos back to the start of a UTF-8 character."""
        while 0 < pos < self._size and (self._mm[pos] & 0xC0) == 0x80:
            pos -= 1
        return pos
