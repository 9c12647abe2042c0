"""The lines of a Corpus as `str.splitlines` gives them (runs inside the kernel): the lines of a
piece (runs of ASCII lines decoded on their own, `split_lines`), a line cut by a window's end
carried over to the next, and the lines counted without making them, on every core.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sandbox.kernel import corpus_sizes as sizes
from sandbox.kernel import fanout, literal_scan, prefilter

_NEWLINES = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines breaks
_BREAK_BYTES = tuple(c.encode("utf-8") for c in _NEWLINES)  # each starts a character in UTF-8


def split_lines(raw: bytes, keepends: bool) -> Iterator[list[str]]:
    """`raw.decode("utf-8", "replace").splitlines(keepends)` (raw ends with a newline), as
    lists. One character above U+00FF makes a decoded text 2 or 4 bytes a character, and each
    of its lines is then made by a conversion (the cost of a line, 3x an ASCII text's): the
    runs of ASCII lines are decoded as ASCII on their own (the others found by Vectorscan).
    Cut after newlines only, so no break (\r\n) and no character is split."""
    if raw.isascii():
        yield raw.decode("ascii").splitlines(keepends)
        return
    high = literal_scan.high_lines(raw, 0, len(raw))
    if high is None or len(high) // 2 > len(raw) >> sizes.SPARSE_HIGH_LINES:  # no Vectorscan, or many such lines
        yield raw.decode("utf-8", "replace").splitlines(keepends)
        return
    for a, b, above in literal_scan.line_runs(high, 0, len(raw)):  # a line above 0x7f with its newline
        yield raw[a:b + 1].decode("utf-8", "replace").splitlines(keepends) if above else \
            raw[a:b].decode("ascii").splitlines(keepends)


def _without_break(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line and line[-1] in _NEWLINES else line


class LineScanning:
    """A Corpus's lines counted without making them, and lines read across the windows that cut
    them (a part of `Corpus`)."""

    __slots__ = ()
    _mm: Any
    _size: int

    if TYPE_CHECKING:
        def _boundary(self, pos: int) -> int: ...

        def _cores_for(self, lo: int, hi: int) -> int: ...

    def _line_count(self) -> int:
        """len(self.splitlines()), without making the lines: the newlines counted by
        `bytes.count`, the rarer breaks (\r, \v, \f, \x1c-\x1e, U+0085, U+2028, U+2029) by
        the fast engine, a \r\n counted once, on every core. Each of those starts a character
        in UTF-8, and decoding with replacement never swallows one, so counting bytes counts
        lines."""
        mm, size = self._mm, self._size
        if not size:
            return 0
        last = bytes(mm[max(0, size - 3):size])
        unended = 0 if any(last.endswith(b) for b in _BREAK_BYTES) else 1
        if prefilter.line_breaks() is None:  # no fast engine: the rare breaks piece by piece too
            breaks = 0
            for pos in range(0, size, sizes.WINDOW):  # pieces overlap by two bytes: a break is seen whole
                piece = bytes(mm[pos:pos + sizes.WINDOW + 2])
                cut = min(sizes.WINDOW, len(piece))
                breaks += piece.count(b"\n", 0, cut) - piece.count(b"\r\n", 0, cut + 1)
                breaks += sum(piece.count(b, 0, cut + len(b) - 1) for b in _BREAK_BYTES[1:])
            return breaks + unended
        parts = self._cores_for(0, size)
        bounds = [size * k // parts for k in range(parts)] + [size]
        counts = fanout.run_parts(lambda k: self._breaks(bounds[k], bounds[k + 1]), parts) if parts > 1 else None
        return (sum(counts) if counts is not None else self._breaks(0, size)) + unended

    def _breaks(self, lo: int, hi: int) -> int:
        """The line breaks that end in (lo, hi] (a \r\n counted once, where its \n is)."""
        mm = self._mm
        newlines = sum(bytes(mm[pos:min(hi, pos + sizes.WINDOW)]).count(b"\n") for pos in range(lo, hi, sizes.WINDOW))
        return newlines + (literal_scan.line_breaks(mm, lo, hi) or 0)

    def _carried_lines(self, pos: int, stop: int, keepends: bool) -> Iterator[str]:
        """The lines of bytes [pos, stop), read a window at a time, a line cut by a window's end
        carried over to the next (up to MAX_MATCH)."""
        carry = ""
        while pos < stop:
            end = self._boundary(min(pos + sizes.WINDOW, stop))
            if end <= pos:
                end = min(pos + sizes.WINDOW, stop)
            parts = (carry + bytes(self._mm[pos:end]).decode("utf-8", "replace")).splitlines(True)
            pos = end
            # the last line goes on in the next piece unless it ends with a break (a \r may be
            # the first half of \r\n)
            carry = parts.pop() if parts and (parts[-1][-1] not in _NEWLINES or parts[-1][-1] == "\r") else ""
            if len(carry) > sizes.MAX_MATCH:
                raise ValueError(f"a line longer than {sizes.MAX_MATCH:,} bytes; use context.chunks(...)")
            for part in parts:
                yield part if keepends else _without_break(part)
        if carry:
            yield carry if keepends else _without_break(carry)
