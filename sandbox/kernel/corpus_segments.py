"""The buffers a Corpus reads (runs inside the kernel): a file mapped for reading (`map_file`),
and several read-only buffers seen as one (`Segments`), so that a directory above
`max_str_bytes` is mapped where its files are instead of copied into one file.
"""

from __future__ import annotations

import bisect
import mmap
from typing import Any


def map_file(fd: int) -> mmap.mmap:
    """A read-only map of the file open as `fd`, read ahead for front-to-back scans."""
    mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    mapped.madvise(mmap.MADV_SEQUENTIAL)
    return mapped


class Segments:
    """Several read-only buffers (file maps, a pack of small files) seen as one: the part of
    the `mmap` interface a Corpus uses (len, [i], [a:b], find, rfind), so that a directory
    above `max_str_bytes` is mapped where its files are instead of copied into one file."""

    def __init__(self, parts: list[tuple[Any, int, int]]) -> None:
        """`parts`: (buffer, offset in it, length) in order. A part of another Segments (a
        stripped corpus of a directory, or of a stripped corpus) is replaced by the buffers it
        covers there: every part is then a plain buffer, which the scans hand to Vectorscan and
        RE2 in place (RE2 refused a Segments: a dense `findall` over `c.strip().strip("x")`
        raised TypeError)."""
        flat: list[tuple[Any, int, int]] = []
        for buf, off, n in parts:
            if isinstance(buf, Segments):
                flat.extend(buf._covering(off, off + n))
            else:
                flat.append((buf, off, n))
        self._parts = [(buf, off, n) for buf, off, n in flat if n > 0]
        self._starts: list[int] = []
        total = 0
        for _, _, n in self._parts:
            self._starts.append(total)
            total += n
        self._size = total
        # the part the last look-up landed in, as (first byte, end, buffer, buffer offset minus
        # corpus offset): a scan's many finds and slices fall in one part (a file) after another,
        # and a bisect per call made a folder's scan a third slower than a file's
        self._last: tuple[int, int, Any, int] = (0, 0, b"", 0)

    def __len__(self) -> int:
        return self._size

    def _covering(self, start: int, stop: int) -> list[tuple[Any, int, int]]:
        """The (buffer, offset, length) parts holding bytes [start, stop), cut to them."""
        out = []
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        while i < len(self._parts) and self._starts[i] < stop:
            buf, off, n = self._parts[i]
            first = self._starts[i]
            lo, hi = max(start, first), min(stop, first + n)
            if lo < hi:
                out.append((buf, off + lo - first, hi - lo))
            i += 1
        return out

    def _locate(self, pos: int) -> int:
        """The index of the part holding byte `pos` (0 <= pos < size)."""
        i = bisect.bisect_right(self._starts, pos) - 1
        buf, off, n = self._parts[i]
        self._last = (self._starts[i], self._starts[i] + n, buf, off - self._starts[i])
        return i

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            lo, hi, buf, delta = self._last
            start, stop = key.start, key.stop
            if key.step is None and type(start) is int and type(stop) is int and lo <= start < stop <= hi:
                return bytes(buf[start + delta:stop + delta])
            start, stop, _ = key.indices(self._size)
            if stop <= start:
                return b""
            i = self._locate(start)
            buf, off, n = self._parts[i]
            if stop - self._starts[i] <= n:  # within one part (most slices): no list, no join
                return bytes(buf[off + start - self._starts[i]:off + stop - self._starts[i]])
            return b"".join(bytes(buf[off:off + n]) for buf, off, n in self._covering(start, stop))
        lo, hi, buf, delta = self._last
        if lo <= key < hi:
            return buf[key + delta]
        if key < 0:
            key += self._size
        i = self._locate(key)
        buf, off, _ = self._parts[i]
        return buf[off + key - self._starts[i]]

    def part_end(self, pos: int) -> int:
        """Where the part holding byte `pos` ends."""
        i = self._locate(pos)
        return self._starts[i] + self._parts[i][2]

    def within_one(self, start: int, stop: int) -> tuple[Any, int, int] | None:
        """(buffer, a, b) where bytes [start, stop) lie whole in one part (as bytes [a, b) of
        that buffer), else None."""
        if not 0 <= start < stop <= self._size:
            return None
        i = self._locate(start)
        buf, off, n = self._parts[i]
        lo = start - self._starts[i]
        return (buf, off + lo, off + lo + stop - start) if lo + stop - start <= n else None

    def find(self, needle: bytes, start: int = 0, end: int | None = None) -> int:
        lo, hi, buf, delta = self._last
        if end is not None and lo <= start <= end <= hi:  # within the last part looked up
            found = buf.find(needle, start + delta, end + delta)
            return found if found < 0 else found - delta
        end = self._size if end is None else min(end, self._size)
        if start >= end or not self._parts:
            return start if not needle and start <= end else -1
        i = self._locate(start)
        while i < len(self._parts) and self._starts[i] < end:
            buf, off, n = self._parts[i]
            base = self._starts[i]
            lo, hi = max(start - base, 0), min(end - base, n)
            found = buf.find(needle, off + lo, off + hi)
            if found != -1:
                return base + found - off
            # a needle across the edge with the next part(s)
            edge = base + n
            if len(needle) > 1 and edge < end:
                a = max(edge - len(needle) + 1, start)
                joint = self[a:min(edge + len(needle) - 1, end)]
                found = joint.find(needle)
                if found != -1:
                    return a + found
            i += 1
        return -1

    def rfind(self, needle: bytes, start: int = 0, end: int | None = None) -> int:
        lo, hi, buf, delta = self._last
        if end is not None and lo <= start <= end <= hi:
            found = buf.rfind(needle, start + delta, end + delta)
            return found if found < 0 else found - delta
        end = self._size if end is None else min(end, self._size)
        if start >= end or not self._parts:
            return end if not needle and start <= end else -1
        i = self._locate(end - 1)
        while i >= 0 and self._starts[i] + self._parts[i][2] > start:
            buf, off, n = self._parts[i]
            base = self._starts[i]
            edge = base + n  # a needle across the edge with the next part(s) starts later
            if len(needle) > 1 and edge < end:
                a = max(edge - len(needle) + 1, start)
                joint = self[a:min(edge + len(needle) - 1, end)]
                found = joint.rfind(needle)
                if found != -1:
                    return a + found
            lo, hi = max(start - base, 0), min(end - base, n)
            found = buf.rfind(needle, off + lo, off + hi)
            if found != -1:
                return base + found - off
            i -= 1
        return -1
