"""Finding and counting a literal in a mapped corpus with Vectorscan (runs inside the kernel).

`context.find(s)`, `s in context` and `context.count(s)` give what `bytes.find` / `bytes.count`
give on the corpus's bytes, at the speed of a SIMD literal search (ripgrep's) instead of
CPython's. The map is scanned in blocks, each with the `len(needle) - 1` bytes after it that an
occurrence starting in it may reach; the first block is small, so a literal near the start is
found at once. A map is scanned in place; the parts of a mapped directory (`Segments`) are
copied a block at a time. Without Vectorscan the map's own `find` is used.
"""

from __future__ import annotations

import array
import mmap
from collections.abc import Iterator
from typing import Any

from sandbox.kernel import prefilter

FIRST_BLOCK = 1 << 20  # bytes a find scans first, growing 4x
LAST_BLOCK = 64 << 20
COPIED_BLOCK = 8 << 20  # where a block is copied (the parts of a mapped directory)

__all__ = ["Occurrences", "count", "find"]


def _blocks(lo: int, hi: int, extra: int, limit: int, last: int) -> Any:
    """Blocks [a, b) from lo to hi, growing up to `last` bytes, each with the end of the data its
    scan reads (an occurrence starting in it ends within `extra` bytes past it, not past `limit`)."""
    a, size = lo, FIRST_BLOCK
    while a < hi:
        b = min(hi, a + size)
        yield a, b, min(limit, b + extra)
        a, size = b, min(size * 4, last)


def _last_block(buffer: Any) -> int:
    """The largest block: a map is scanned in place, anything else is copied block by block."""
    return LAST_BLOCK if isinstance(buffer, mmap.mmap) else COPIED_BLOCK


def find(mm: Any, needle: bytes, lo: int, hi: int) -> int:
    """The offset of the first occurrence of `needle` (not empty) within [lo, hi), or -1."""
    database = prefilter.literal(needle)
    if database is None:
        return int(mm.find(needle, lo, hi))
    found: list[int] = []

    def on_match(_ctx: Any, _id: int, _begin: int, end: int) -> Any:
        found.append(end)
        return prefilter.pyperscan.Scan.Terminate

    scanner = database.build(None, on_match)
    for a, _, data_end in _blocks(lo, hi, len(needle) - 1, hi, _last_block(mm)):
        prefilter.scan(scanner, mm, a, data_end)
        if found:  # the first end is the first occurrence (one literal: ends come in order)
            return a + found[0] - len(needle)
    return -1


class Occurrences:
    """The non-overlapping occurrences of a literal (as `bytes.count` counts them) that a scan
    from `lo` finds starting before `hi`, reading up to `limit`: how many, the spans of the
    first `keep`, and the span of the last."""

    def __init__(self, mm: Any, needle: bytes, lo: int, hi: int, limit: int, keep: int = 0) -> None:
        self.count = 0
        self.head: list[tuple[int, int]] = []
        self.last: tuple[int, int] | None = None
        database = prefilter.literal(needle)
        n = len(needle)
        if database is None:
            pos = lo
            while (pos := mm.find(needle, pos, limit)) != -1 and pos < hi:
                self._add(pos, pos + n, keep)
                pos += n
            return
        state = {"base": 0, "cut": 0, "next": lo}  # block start, starts at or past `cut` wait for the next block

        def on_match(_ctx: Any, _id: int, _begin: int, end: int) -> Any:
            stop = state["base"] + end
            begin = stop - n
            if begin >= state["cut"]:
                return prefilter.pyperscan.Scan.Terminate
            if begin >= state["next"]:
                self._add(begin, stop, keep)
                state["next"] = stop
            return prefilter.pyperscan.Scan.Continue

        scanner = database.build(None, on_match)
        for a, b, data_end in _blocks(lo, min(hi, limit), n - 1, limit, _last_block(mm)):
            state["base"], state["cut"] = a, b
            prefilter.scan(scanner, mm, a, data_end)

    def _add(self, begin: int, end: int, keep: int) -> None:
        self.count += 1
        if len(self.head) < keep:
            self.head.append((begin, end))
        self.last = (begin, end)


def count(mm: Any, needle: bytes, lo: int, hi: int) -> int:
    """How many non-overlapping occurrences of `needle` (not empty) lie within [lo, hi)."""
    return Occurrences(mm, needle, lo, hi, hi).count


def line_breaks(mm: Any, lo: int, hi: int) -> int | None:
    """The line breaks of a UTF-8 map other than \\n (\\r, \\v, \\f, \\x1c-\\x1e, U+0085,
    U+2028, U+2029) that end in (lo, hi], less one for each \\r\\n whose \\n is in [lo, hi)
    (that \\n is counted with the others); None without Vectorscan."""
    database = prefilter.line_breaks()
    if database is None:
        return None
    found = [0]
    state = {"base": 0, "after": 0}  # the view's offset; reports ending at or before `after` are not ours

    def on_match(_ctx: Any, _id: int, _begin: int, end: int) -> Any:
        stop = state["base"] + end
        if stop > state["after"]:  # "\r\n" ends at its \n: that \n is one break less
            found[0] += -1 if mm[stop - 1] == 0x0A else 1
        return prefilter.pyperscan.Scan.Continue

    scanner = database.build(None, on_match)
    block = _last_block(mm)
    for a in range(lo, hi, block):  # a match is at most 3 bytes: each block starts 3 early
        state["base"], state["after"] = max(0, a - 3), a
        prefilter.scan(scanner, mm, max(0, a - 3), min(hi, a + block))
    return found[0]


def line_runs(high: array.array, pos: int, endpos: int) -> Iterator[tuple[int, int, bool]]:
    """(start, end, holds a byte above 0x7f) of the runs of ASCII lines of bytes [pos, endpos)
    and of the other lines (`high`, as `high_lines` gives them: each end at its newline), in
    order."""
    at = pos
    for i in range(0, len(high), 2):
        if high[i] > at:
            yield at, high[i], False
        yield high[i], high[i + 1], True
        at = high[i + 1] + 1
    if at < endpos:
        yield at, endpos, False


def high_lines(buffer: Any, pos: int, endpos: int, share: float | None = None,
               longest: int = 0) -> array.array | None:
    """The lines of bytes [pos, endpos) of a map or bytes (pos a line start) that hold a byte
    above 0x7f, as a flat array of (start, end) pairs, each end at its newline (or endpos).
    With a `share`: None as soon as one is longer than `longest`, or they hold more than that
    share of the bytes (of those read, past the first MiB, or of all): a block of such lines
    is not listed whole (16 bytes a line) only to be refused. None without Vectorscan."""
    database = prefilter.high_lines()
    if database is None:
        return None
    found = array.array("q")
    total = [0, False]  # bytes in such lines; given up

    def on_match(_ctx: Any, _id: int, _begin: int, end: int) -> Any:
        newline = pos + end - 1
        start = buffer.rfind(b"\n", pos, newline) + 1 or pos
        found.extend((start, newline))
        if share is not None:
            total[0] += newline - start
            if newline - start > longest or (newline - pos > 1 << 20 and total[0] > share * (newline - pos)):
                total[1] = True
                return prefilter.pyperscan.Scan.Terminate
        return prefilter.pyperscan.Scan.Continue

    prefilter.scan(database.build(None, on_match), buffer, pos, endpos)
    if total[1]:
        return None
    last = buffer.rfind(b"\n", pos, endpos) + 1 or pos  # a last line with no newline
    if last < endpos and not buffer[last:endpos].isascii():
        found.extend((last, endpos))
        total[0] += endpos - last
        if share is not None and endpos - last > longest:
            return None
    return None if share is not None and total[0] > share * (endpos - pos) else found
