"""Decoded pieces of a mapped corpus that a regex runs over, and the way back from their
character indexes to the corpus's byte offsets (runs inside the kernel).

`Window` is one stretch of the corpus. `LineBatch` is a set of whole lines of the corpus joined
by newlines into one text, so one `finditer` confirms many candidate lines (see
`sandbox/kernel/fast_scan.py` for when that gives exactly the matches of the whole text).
`Stretch` is a run of whole lines whose ASCII lines' matches RE2 finds
(`sandbox/kernel/ascii_re2.py`) and the others' Python's `re`; a match object is Python's.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

from sandbox.kernel import literal_scan


def char_starts_around(mm: Any, size: int, pos: int) -> list[int]:
    """The offsets where characters start, as the text is decoded (surrogateescape), from a few
    bytes before `pos` to the end of the character holding it. A continuation byte that no
    valid sequence holds (`\\x80` after ASCII, or after a truncated sequence) is a character of
    its own (U+DC80 + byte), where a match may start and a search may resume: skipping every
    continuation byte missed matches there, made `search(p, m.end())` find the same match again
    for ever, and took a Python step per byte of a run of them. A character starts at most 3
    bytes before `pos`, and decoding from there meets the real boundaries by `pos` (a stray
    continuation byte decodes as one character)."""
    first = max(0, pos - 3)
    out, at = [], first
    for char in bytes(mm[first:min(size, pos + 4)]).decode("utf-8", "surrogateescape"):
        out.append(at)
        at += len(char.encode("utf-8", "surrogateescape"))
    out.append(at)
    return out


def char_start_before(mm: Any, size: int, pos: int) -> int:
    """`pos`, moved back to the start of the character it falls in (as decoded)."""
    if not 0 < pos < size or (mm[pos] & 0xC0) != 0x80:
        return pos
    return max(s for s in char_starts_around(mm, size, pos) if s <= pos)


def char_start_after(mm: Any, size: int, pos: int) -> int:
    """`pos`, moved forward to the start of a character (as decoded)."""
    if not 0 < pos < size or (mm[pos] & 0xC0) != 0x80:
        return pos
    return next(s for s in char_starts_around(mm, size, pos) if s >= pos)


class Window:
    """Decoded text of bytes [head, tail) of a corpus, searched from byte `start`; matches
    that start before byte `accept` belong to this window."""

    __slots__ = ("_ascii", "_cursor", "_mm", "accept_char", "head", "start_char", "tail", "text")

    def __init__(self, mm: Any, head: int, start: int, accept: int, tail: int) -> None:
        raw = mm[head:tail]
        self._mm, self.head, self.tail = mm, head, tail
        self._ascii = raw.isascii()
        if self._ascii:  # most windows: characters are bytes, one decode
            self.text = raw.decode("ascii")
            self.start_char, self.accept_char = start - head, accept - head
        else:
            self.start_char = len(raw[:start - head].decode("utf-8", "surrogateescape"))
            self.accept_char = self.start_char + len(raw[start - head:accept - head].decode("utf-8", "surrogateescape"))
            self.text = raw.decode("utf-8", "surrogateescape")
        self._cursor = (0, head)  # (char, byte) of the last conversion: matches come in order

    def char_of(self, byte: int) -> int:
        """The index in `text` of the character at byte `byte` (a character boundary)."""
        if self._ascii:
            return byte - self.head
        c0, b0 = self._cursor
        if byte < b0:
            c0, b0 = 0, self.head
        char = c0 + len(bytes(self._mm[b0:byte]).decode("utf-8", "surrogateescape"))
        self._cursor = (char, byte)
        return char

    def byte_of(self, char: int) -> int:
        """The corpus byte offset of index `char` of `text`."""
        if self._ascii:
            return self.head + char
        c0, b0 = self._cursor
        if char < c0:
            c0, b0 = 0, self.head
        b = b0 + len(self.text[c0:char].encode("utf-8", "surrogateescape"))
        self._cursor = (char, b)
        return b


class LineBatch:
    """Whole lines of a corpus (each without its newline), in order, joined by newlines into
    `text` by `close()`; lines next to each other in the corpus are kept as one run. The text
    begins with a newline unless its first line begins the corpus, and after the last line
    holds what the corpus holds there as far as `$` and `\\Z` can tell: the end (the scan's
    limit), a final newline, or a newline that is not the last character (two newlines: nothing
    that cannot match a newline matches after them). `enter_char` is where a search starts (the
    first line may be entered past its start); `tail` is the corpus offset of the last line's
    end. `clean`: the text holds no undecodable byte (no surrogate escape)."""

    __slots__ = ("_ascii", "_bytes", "_char_ends", "_chars", "_cursor", "_ends", "_enter", "_limit", "_mm",
                 "clean", "enter_char", "size", "tail", "text")

    def __init__(self, mm: Any, limit: int) -> None:
        self._mm, self._limit = mm, limit
        self._bytes: list[int] = []  # the corpus offset where each run of lines starts
        self._ends: list[int] = []  # and where it ends (the last line's end)
        self._chars: list[int] = []  # the index in `text` where each run starts (by close())
        self._char_ends: list[int] = []  # and where its last line ends
        self._ascii: list[bool] = []
        self._enter = 0
        self._cursor = (0, 0)  # (char, byte) of the last conversion in a run of non-ASCII text
        self.size = self.enter_char = self.tail = 0
        self.text = ""
        self.clean = True

    def __bool__(self) -> bool:
        return bool(self._bytes)

    def add(self, line_start: int, enter: int, line_end: int) -> None:
        """Line [line_start, line_end) (line_end: its newline, or the limit), searched from
        `enter` if it is the first line."""
        if self._bytes and line_start == self.tail + 1:
            self._ends[-1] = line_end
        else:
            if not self._bytes:
                self._enter = enter
            self._bytes.append(line_start)
            self._ends.append(line_end)
        self.size += line_end - line_start + 1
        self.tail = line_end

    def close(self) -> LineBatch:
        """Build `text` (and the map back to offsets); returns the batch."""
        runs = [self._mm[a:b] for a, b in zip(self._bytes, self._ends, strict=True)]
        texts: list[str] = []
        count = 1 if self._bytes[0] > 0 else 0  # the newline before the first line
        for raw in runs:
            ascii_only = raw.isascii()
            texts.append(raw.decode("ascii") if ascii_only else raw.decode("utf-8", "surrogateescape"))
            self._chars.append(count)
            self._char_ends.append(count + len(texts[-1]))
            self._ascii.append(ascii_only)
            count += len(texts[-1]) + 1
        if self.tail >= self._limit:
            end = ""
        elif self.tail + 1 >= self._limit:
            end = "\n"
        else:
            end = "\n\n"
        self.text = ("\n" if self._bytes[0] > 0 else "") + "\n".join(texts) + end
        head = self._mm[self._bytes[0]:self._enter]
        self.enter_char = self._chars[0] + (len(head) if head.isascii() else
                                            len(head.decode("utf-8", "surrogateescape")))
        if not all(self._ascii):
            try:
                self.text.encode("utf-8")
            except UnicodeEncodeError:
                self.clean = False
        return self

    def groups(self) -> Iterator[tuple[int, int, bool]]:
        """The runs of `text` (after close()) gathered into the longest sequences of ASCII runs
        and of the others, in order: (first char, where its last line ends, ASCII), the first
        from `enter_char`."""
        ascii_flags, starts, ends = self._ascii, self._chars, self._char_ends
        i = 0
        while i < len(starts):
            j = i
            while j + 1 < len(starts) and ascii_flags[j + 1] == ascii_flags[i]:
                j += 1
            yield (self.enter_char if i == 0 else starts[i]), ends[j], ascii_flags[i]
            i = j + 1

    def byte_of(self, char: int) -> int:
        """The corpus byte offset of index `char` of `text` (within a line or at its end)."""
        i = bisect.bisect_right(self._chars, char) - 1
        first = self._chars[i]
        if self._ascii[i]:
            return self._bytes[i] + char - first
        c0, b0 = self._cursor  # matches come in order: convert from the last one in this run
        if not first <= c0 <= char:
            c0, b0 = first, self._bytes[i]
        b = b0 + len(self.text[c0:char].encode("utf-8", "surrogateescape"))
        self._cursor = (char, b)
        return b


DECODED = 4 << 20  # bytes of ASCII lines decoded at a time for their values


class _LineText:
    """The Latin-1 text of bytes [head, tail) of a corpus: one ASCII line's rest, from the
    character before a match (what `\\b` and `^` look at) to its end."""

    __slots__ = ("head", "tail")

    def __init__(self, head: int, tail: int) -> None:
        self.head, self.tail = head, tail

    def byte_of(self, char: int) -> int:
        return self.head + char


class _Shifted:
    """A window over a buffer that holds the corpus's bytes from offset `base` on."""

    __slots__ = ("_base", "_window", "tail", "text")

    def __init__(self, window: Window, base: int) -> None:
        self._window, self._base = window, base
        self.text, self.tail = window.text, window.tail + base

    def byte_of(self, char: int) -> int:
        return self._window.byte_of(char) + self._base


class Stretch:
    """Whole lines [lo, tail) of a corpus (lo a line start; tail past a newline, or the scan's
    limit) of a pattern that cannot match over a line's end nor read past it: RE2's `program`
    (exact on ASCII text) finds the matches of the lines with no byte above 0x7f, Python's `re`
    those of the others (`high`: their (start, end) pairs, ends at their newlines), each line
    alone. `buffer` holds the corpus's bytes from offset `base` on (at least from lo - 1).
    A match of an ASCII line given by `pairs` is Python's own match object made at the place
    RE2 found; where Python disagrees there (never seen), the rest of that line is Python's
    matches. `last_span`: the corpus span of the last match given, once read."""

    __slots__ = ("_base", "_buffer", "_high", "_program", "last_span", "lo", "tail")

    def __init__(self, buffer: Any, base: int, lo: int, tail: int, program: Any, high: Any) -> None:
        self._buffer, self._base, self._program, self._high = buffer, base, program, high
        self.lo, self.tail = lo, tail
        self.last_span: tuple[int, int] | None = None

    def _parts(self) -> Iterator[tuple[int, int, bool]]:
        """(start, end, holds a byte above 0x7f) of the runs of ASCII lines and of the other
        lines, in order, as buffer offsets."""
        return literal_scan.line_runs(self._high, self.lo - self._base, self.tail - self._base)

    def _line(self, a: int, b: int) -> Window | _Shifted:
        window = Window(self._buffer, a, a, b, b)
        return window if not self._base else _Shifted(window, self._base)

    def values(self, compiled: re.Pattern, value: Any, until: int) -> list[Any]:
        """What `re.findall` gives over the stretch (`value` makes one of a match object), of
        the matches that start before corpus offset `until`; `last_span` is then the last of
        them."""
        buffer, base, limit = self._buffer, self._base, until - self._base
        found: list[Any] = []
        keep = found.append
        match, unanchored = self._program.search
        for a, b, high in self._parts():
            if a >= limit:
                break
            if high or compiled.groups:
                for text, m in (self._high_pairs(compiled, a, b) if high else self._ascii_pairs(compiled, a, b)):
                    start = text.byte_of(m.start())
                    if start >= until:
                        return found
                    keep(value(m))
                    self.last_span = (start, text.byte_of(m.end()))
                continue
            while a < b:  # a piece of whole lines at a time: one decode each, each value a slice of it
                # (and no longer than one RE2 call may search: see `ascii_re2.WORK`)
                piece_end = buffer.find(b"\n", min(a + min(DECODED, self._program.step), b), b) + 1 or b
                text = str(buffer[a:piece_end], "ascii")
                pos, last = a, None
                while pos < piece_end:  # `AsciiProgram.spans` inline: a generator's step a match is dear here
                    span = match(unanchored, buffer, pos, piece_end)[0]
                    s = span[0]
                    if s < 0 or s >= limit:
                        break
                    pos = span[1]
                    keep(text[s - a:pos - a])
                    last = span
                if last is not None:
                    self.last_span = (last[0] + base, last[1] + base)
                a = piece_end
        return found

    def pairs(self, compiled: re.Pattern) -> Iterator[tuple[Any, Any]]:
        """(text, match) for each match of the stretch, in order, as `re.finditer` gives them."""
        for a, b, high in self._parts():
            yield from self._high_pairs(compiled, a, b) if high else self._ascii_pairs(compiled, a, b)

    def _high_pairs(self, compiled: re.Pattern, a: int, b: int) -> Iterator[tuple[Any, Any]]:
        line = self._line(a, b)
        for m in compiled.finditer(line.text):
            yield line, m

    def _ascii_pairs(self, compiled: re.Pattern, a: int, end: int) -> Iterator[tuple[_LineText, Any]]:
        buffer, base = self._buffer, self._base
        resume, skip_to = a, -1  # where the last match ended; a line Python took
        # the line of the last match, found and decoded once (from the character before it):
        # a text cut a match, from it to the line's end, made a long line's matches quadratic
        line_start = line_end = head = -1
        text, where = "", _LineText(0, 0)
        for s, e in self._program.spans(buffer, a, end):
            if s < skip_to:
                continue
            if s > line_end:
                newline = buffer.find(b"\n", e, end)
                line_end = end if newline == -1 else newline
                line_start = buffer.rfind(b"\n", a, s) + 1 or a
                head = line_start - 1 if line_start > 0 else line_start
                text, where = str(buffer[head:line_end], "latin-1"), _LineText(head + base, line_end + base)
            m = compiled.match(text, s - head)
            if m is not None and m.end() == e - head:
                yield where, m
                resume = e
                continue
            for m in compiled.finditer(text, max(resume, line_start) - head):
                yield where, m
            skip_to = line_end
