"""A memory-mapped text corpus that answers the `str` idioms models write (runs inside the kernel).

Used when a context is too large to hold as a Python `str`. What works as on a `str`, with the
same results: `x in c`, `c.find / rfind / index / rindex / count / startswith / endswith`,
`c[a:b]`, `len(c)`, `c.splitlines()` and `c.split(sep)` (lazy sequences: iterate, index, slice,
`len`), and regular expressions through the `re` the kernel hands out (`re.search(p, c)`,
`re.findall`, `re.finditer`, `re.match`, `re.fullmatch`, `pattern.search(c)`...; see
`sandbox/kernel/re_facade.py`) or the methods of the same names here.

Positions are *byte offsets* into the UTF-8 file (equal to character positions for ASCII
text): `len(c)` is the size in bytes and offsets are found in O(1) whatever the size. Slices
never split a character (each bound moves back to the start of the character it falls in),
so `c[m.start():m.end()] == m.group()` for any match and any text.

Regular expressions have `str` semantics. Most patterns take the fast path
(`sandbox/kernel/fast_scan.py`, `prefilter.py`): Vectorscan (Hyperscan) scans the bytes for a
superset of the pattern, and Python's own `re` runs only over the candidate lines, or windows
around those places, each holding every character an attempt from there may read, so the
result is `re`'s. Other patterns (one that may match the empty string, or run over lines without
bound, or that Vectorscan cannot compile) run over decoded windows of `WINDOW` bytes with
`MARGIN` bytes of text on each side (lookbehind, lookahead, `$`) with the `regex` engine; a
match that reaches the end of its window is retried over a larger one, up to `MAX_MATCH` bytes.
That engine differs from `re` in places: it counts combining marks as `\\w` and folds a few
letters (dotted and dotless i, long s, the Kelvin sign) otherwise. Invalid UTF-8 bytes read as
U+FFFD.

`strip()` (and `lstrip` / `rstrip`) gives a Corpus over the same bytes, without copying.
What would build the whole text in memory (`lower()`, `encode()`, `str(c)`, `re.sub`,
iterating character by character...) fails at once with an error that names the chunked way.

This module holds `Corpus` itself, the `str` idioms; its scans are `corpus_regex`'s and
`corpus_lines`'s, its matches `corpus_match`'s, its lazy sequences `corpus_pieces`'s, the
buffers it reads `corpus_segments`'s and the sizes it scans in `corpus_sizes`'s.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from typing import Any

from sandbox.kernel import corpus_sizes as sizes
from sandbox.kernel import fanout, literal_scan
from sandbox.kernel.corpus_lines import LineScanning, split_lines
from sandbox.kernel.corpus_match import CorpusMatch
from sandbox.kernel.corpus_pieces import Pieces
from sandbox.kernel.corpus_regex import RegexScanning, batch_values, match_value, regex_engine
from sandbox.kernel.corpus_segments import Segments, map_file
from sandbox.kernel.fast_scan import pairs
from sandbox.kernel.windows import LineBatch, Stretch, Window, char_start_before

# the Corpus and what it hands out (most of it defined in the modules above)
__all__ = [
    "Corpus", "CorpusMatch", "Pieces", "Segments", "map_file",
]


_DOC = """Corpus: a memory-mapped text too large to hold as a str ({size:,} bytes). Use it like a str:
  len(c), c[a:b], 'x' in c, c.find(s) / rfind / index / count / startswith / endswith
  re.search(p, c) / re.findall / re.finditer / re.match, re.compile(p).search(c)
  c.splitlines() / c.split(sep)   -> lazy sequences: for line in ..., [:10], [-5:], len(...)
  c.chunks(size, overlap=0)       -> (offset, str) windows of about size bytes
  c.strip() / lstrip / rstrip     -> a Corpus of the same bytes without the outer whitespace
Positions (len, find, m.start()) are byte offsets, equal to character positions for ASCII
text; c[a:b] never splits a character. Whole-text operations (lower(), encode(), str(c),
re.sub, list(c)) are refused: apply them to c.chunks(...) pieces or to slices.
"""

# what `str` has that would materialise the corpus, or has no lazy form here
_WHOLE_TEXT = frozenset(
    {"lower", "upper", "casefold", "title", "capitalize", "swapcase", "encode", "replace",
     "translate", "expandtabs", "center", "ljust", "rjust", "zfill", "partition", "rpartition",
     "rsplit", "join", "format", "format_map", "removeprefix",
     "removesuffix", "isalpha", "isalnum", "isdigit", "isdecimal", "isnumeric", "isspace",
     "islower", "isupper", "istitle", "isidentifier", "isprintable", "isascii", "maketrans"}
)


def _chunked_hint(what: str, size: int) -> str:
    return (f"{what} would build the whole {size:,}-byte corpus in memory; work on pieces instead: "
            "`for offset, text in context.chunks(10_000_000): ...` (text is a str), or a slice "
            "`context[a:b]`, or `for line in context.splitlines(): ...`")


class Corpus(LineScanning, RegexScanning):
    """A read-only, memory-mapped UTF-8 text with the `str` idioms; see the module docstring."""

    __slots__ = ("_mm", "_size", "path")

    def __init__(self, fd: int | Segments, path: str = "") -> None:
        """A Corpus of the file open as `fd`, or of several buffers seen as one."""
        self.path = path
        if isinstance(fd, Segments):
            self._mm: Any = fd
            self._size = len(fd)
            return
        self._size = os.fstat(fd).st_size
        self._mm = b""
        if self._size:
            self._mm = map_file(fd)

    def help_text(self) -> str:
        return _DOC.format(size=self._size)

    # ----- size, slices, membership --------------------------------------------------
    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"<Corpus of {self._size:,} bytes; use it like a str, or .help_text()>"

    def _bound(self, pos: int | None, default: int) -> int:
        if pos is None:
            return default
        if pos < 0:
            pos += self._size
        return min(max(pos, 0), self._size)

    def __getitem__(self, key: Any) -> str:
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise ValueError("a Corpus slice takes no step; slice it first: context[a:b][::step]")
            start = self._boundary(self._bound(key.start, 0))
            stop = self._boundary(self._bound(key.stop, self._size))
            return bytes(self._mm[start:stop]).decode("utf-8", "replace") if stop > start else ""
        if not isinstance(key, int):
            raise TypeError("corpus indices must be integers or slices")
        if key < 0:
            key += self._size
        if not 0 <= key < self._size:
            raise IndexError("corpus index out of range")
        start = self._boundary(key)
        return bytes(self._mm[start:start + 4]).decode("utf-8", "replace")[:1]

    def __contains__(self, sub: str) -> bool:
        return self.find(sub) != -1

    def __iter__(self) -> Iterator[str]:
        raise TypeError(_chunked_hint("iterating a Corpus character by character", self._size))

    def __str__(self) -> str:
        raise TypeError(_chunked_hint("str(context) (or printing or formatting the whole corpus)", self._size)
                        + "; print(context[:2000]) shows its start")

    def __format__(self, spec: str) -> str:
        raise TypeError(_chunked_hint("formatting the whole corpus into a string (f\"{context}\")", self._size)
                        + "; put a slice or a chunk's text in the string instead")

    def __getattr__(self, name: str) -> Any:
        if name in _WHOLE_TEXT:
            raise AttributeError(_chunked_hint(f"Corpus.{name}()", self._size))
        raise AttributeError(f"'Corpus' object has no attribute {name!r}; see context.help_text()")

    def __add__(self, other: Any) -> Any:
        raise TypeError(_chunked_hint("adding to a Corpus", self._size))

    __radd__ = __add__

    # ----- str methods ----------------------------------------------------------------
    @staticmethod
    def _needle(sub: Any, method: str) -> bytes:
        if not isinstance(sub, str):
            raise TypeError(f"Corpus.{method}() takes a str, not {type(sub).__name__}")
        return sub.encode("utf-8")

    def find(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        needle, lo, hi = self._needle(sub, "find"), self._bound(start, 0), self._bound(end, self._size)
        if needle and self._size:
            return literal_scan.find(self._mm, needle, lo, hi)
        return self._mm.find(needle, lo, hi)

    def rfind(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        return self._mm.rfind(self._needle(sub, "rfind"), self._bound(start, 0), self._bound(end, self._size))

    def index(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        found = self.find(sub, start, end)
        if found == -1:
            raise ValueError("substring not found")
        return found

    def rindex(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        found = self.rfind(sub, start, end)
        if found == -1:
            raise ValueError("substring not found")
        return found

    def count(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        needle = self._needle(sub, "count")
        lo, hi = self._bound(start, 0), self._bound(end, self._size)
        if not needle:
            return max(hi - lo, 0) + 1
        parts = self._cores_for(lo, hi)
        if parts > 1:
            bounds = self._bounds(lo, hi, parts)
            found = fanout.run_parts(lambda k: self._count_part(needle, bounds[k], bounds[k + 1], hi), parts)
            if found is not None:
                return fanout.merge_count(found, bounds, lambda a, b: self._occurrences(needle, a, b, hi))
        if self._size:
            return literal_scan.count(self._mm, needle, lo, hi)
        n, pos = 0, lo
        while (pos := self._mm.find(needle, pos, hi)) != -1:
            n += 1
            pos += len(needle)
        return n

    def _occurrences(self, needle: bytes, lo: int, hi: int, limit: int) -> Iterator[fanout.Span]:
        """Non-overlapping occurrences of `needle` from `lo` that start before `hi`."""
        pos, step = lo, len(needle)
        while (pos := self._mm.find(needle, pos, limit)) != -1 and pos < hi:
            yield pos, pos + step, None
            pos += step

    def _count_part(self, needle: bytes, lo: int, hi: int, limit: int) -> fanout.Part:
        if self._size:
            found = literal_scan.Occurrences(self._mm, needle, lo, hi, limit, keep=fanout.HEAD)
            return fanout.Part(range(found.count), found.head, found.last)
        spans = list(self._occurrences(needle, lo, hi, limit))
        return fanout.Part(range(len(spans)), [s[:2] for s in spans[:fanout.HEAD]],
                           spans[-1][:2] if spans else None)

    def _cores_for(self, lo: int, hi: int) -> int:
        """How many cores a scan of bytes [lo, hi) is worth."""
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        return max(1, min(cores, (hi - lo) // sizes.PARALLEL_MIN, 16))

    def _bounds(self, lo: int, hi: int, parts: int) -> list[int]:
        """Where each part's scan starts, then hi + 1 (an empty match at hi belongs to the last)."""
        return [lo, *(self._boundary(lo + (hi - lo) * k // parts) for k in range(1, parts)), hi + 1]

    def startswith(self, prefix: Any, start: int | None = None, end: int | None = None) -> bool:
        lo, hi = self._bound(start, 0), self._bound(end, self._size)
        for p in prefix if isinstance(prefix, tuple) else (prefix,):
            b = self._needle(p, "startswith")
            if hi - lo >= len(b) and self._mm[lo:lo + len(b)] == b:
                return True
        return False

    def endswith(self, suffix: Any, start: int | None = None, end: int | None = None) -> bool:
        lo, hi = self._bound(start, 0), self._bound(end, self._size)
        for s in suffix if isinstance(suffix, tuple) else (suffix,):
            b = self._needle(s, "endswith")
            if hi - lo >= len(b) and self._mm[hi - len(b):hi] == b:
                return True
        return False

    # ----- strip: a view, not a copy ---------------------------------------------------
    def strip(self, chars: str | None = None) -> Corpus:
        """The corpus without leading and trailing whitespace (or `chars`), as a Corpus over
        the same bytes: nothing is copied (`context.strip().split("\\n")` stays lazy)."""
        return self._stripped(chars, left=True, right=True)

    def lstrip(self, chars: str | None = None) -> Corpus:
        return self._stripped(chars, left=True, right=False)

    def rstrip(self, chars: str | None = None) -> Corpus:
        return self._stripped(chars, left=False, right=True)

    def _stripped(self, chars: str | None, left: bool, right: bool) -> Corpus:
        if chars is not None and not isinstance(chars, str):
            raise TypeError(f"strip arg must be None or str, not {type(chars).__name__}")
        step = 1 << 16
        lo, hi = 0, self._size
        while left and lo < hi:  # windows end on character boundaries: no character is cut
            end = self._boundary(min(lo + step, hi)) if lo + step < hi else hi
            text = bytes(self._mm[lo:end]).decode("utf-8", "surrogateescape")
            kept = text.lstrip(chars)
            lo += len(text[:len(text) - len(kept)].encode("utf-8", "surrogateescape"))
            if kept:
                break
        while right and hi > lo:
            start = self._boundary(max(hi - step, lo))
            text = bytes(self._mm[start:hi]).decode("utf-8", "surrogateescape")
            kept = text.rstrip(chars)
            hi -= len(text[len(kept):].encode("utf-8", "surrogateescape"))
            if kept:
                break
        if (lo, hi) == (0, self._size):
            return self
        return Corpus(Segments([(self._mm, lo, hi - lo)]), self.path)

    # ----- lines and pieces (lazy) ----------------------------------------------------
    def splitlines(self, keepends: bool = False) -> Pieces:
        """The lines, as `str.splitlines` would give them, one pass at a time."""
        def lines() -> Iterator[list[str]]:
            mm, pos, size = self._mm, 0, self._size
            while pos < size:  # pieces that end with a \n: no line (nor \r\n) is cut
                end = min(size, pos + sizes.WINDOW)
                if end < size:
                    newline = mm.rfind(b"\n", pos, end)
                    if newline == -1:  # no \n in a piece: up to the next one, carried over
                        newline = mm.find(b"\n", end)
                        end = size if newline == -1 else newline + 1
                        for line in self._carried_lines(pos, end, keepends):
                            yield [line]
                        pos = end
                        continue
                    end = newline + 1
                yield from split_lines(mm[pos:end], keepends)
                pos = end
        # the lines of each piece handed on by `chain` (C), not by a generator's step a line
        return Pieces(lambda: itertools.chain.from_iterable(lines()), "lines", self._line_count)

    def lines(self, start: int = 0) -> Iterator[str]:
        """Lines split on '\\n' only (without it), from byte `start`."""
        pos = start
        while pos < self._size:
            nl = self._mm.find(b"\n", pos)
            end = self._size if nl == -1 else nl
            yield bytes(self._mm[pos:end]).decode("utf-8", "replace")
            pos = end + 1

    def split(self, sep: str | None = None, maxsplit: int = -1) -> Pieces:
        """The pieces `str.split(sep, maxsplit)` would give, one pass at a time."""
        if sep is not None:
            needle = self._needle(sep, "split")
            if not needle:
                raise ValueError("empty separator")

        def piece(a: int, b: int) -> str:
            if b - a > sizes.MAX_MATCH:
                raise ValueError(f"a piece longer than {sizes.MAX_MATCH:,} bytes; use context.chunks(...)")
            return bytes(self._mm[a:b]).decode("utf-8", "replace")

        def by_separator() -> Iterator[str]:
            pos, made = 0, 0
            while maxsplit < 0 or made < maxsplit:
                found = self._mm.find(needle, pos)
                if found == -1:
                    break
                yield piece(pos, found)
                pos, made = found + len(needle), made + 1
            yield piece(pos, self._size)

        def by_whitespace() -> Iterator[str]:
            words = self._scan(re.compile(r"\S+"))
            for made, word in enumerate(words):
                if maxsplit < 0 or made < maxsplit:
                    yield word.group()
                else:  # the rest, from this word on, is one piece
                    yield piece(word.start(), self._size)
                    return

        return Pieces(by_whitespace if sep is None else by_separator, "pieces")

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

    # ----- regular expressions ----------------------------------------------------------
    def search(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0) -> CorpusMatch | None:
        """`re.search` over the corpus: the first PARALLEL_MIN bytes alone (most searches end
        there), then the rest cut into one part per core, each looking for its first match; the
        first part that has one holds the answer (no match starts before it)."""
        compiled = self._compile(pattern, flags)
        limit = self._bound(endpos, self._size)
        start = self._boundary(self._bound(pos, 0))
        split = self._boundary(min(limit, start + sizes.PARALLEL_MIN))
        parts = self._cores_for(split, limit)
        if parts < 2:
            return next(self._scan(compiled, start, limit), None)
        first = self._first(compiled, start, split, limit, start)
        if first is None:
            bounds = self._bounds(split, limit, parts)
            found = fanout.run_parts(lambda k: self._first(compiled, bounds[k], bounds[k + 1], limit, start), parts)
            if found is None:  # no child could run: the rest in this process
                found = [self._first(compiled, split, limit + 1, limit, start)]
            first = next((f for f in found if f is not None), None)
        return None if first is None else CorpusMatch.rebuilt(first, self, start, limit, compiled)

    def finditer(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0) -> Iterator[CorpusMatch]:
        return self._scan(self._compile(pattern, flags), pos, endpos)

    def findall(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0,
                limit: int | None = None) -> list:
        """`re.findall` over the corpus; a whole-corpus scan (no `limit`) uses every core."""
        compiled = self._compile(pattern, flags)
        value = match_value(compiled.groups)
        start, stop = self._boundary(self._bound(pos, 0)), self._bound(endpos, self._size)
        parts = self._cores_for(start, stop) if limit is None else 1
        if parts > 1:
            bounds = self._bounds(start, stop, parts)
            found = fanout.run_parts(lambda k: self._part(compiled, bounds[k], bounds[k + 1], stop, value), parts)
            if found is not None:
                return fanout.merge(found, bounds, lambda a, b: self._spans(compiled, a, b, stop, value))
        results: list[Any] = []
        for piece in self._pieces(compiled, start, stop):
            if type(piece) is LineBatch and limit is None:
                results.extend(batch_values(compiled, piece))
                continue
            if type(piece) is Stretch and limit is None:
                results.extend(piece.values(compiled, value, stop + 1))
                continue
            for _, m in pairs(compiled, piece):
                results.append(value(m))
                if limit is not None and len(results) >= limit:
                    return results
        return results

    def match(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0) -> CorpusMatch | None:
        compiled = self._compile(pattern, flags)
        engine = regex_engine(compiled)
        limit = self._bound(endpos, self._size)
        start = self._boundary(self._bound(pos, 0))
        reach = sizes.MARGIN
        while True:
            window, _, tail = self._window(start, limit, reach)
            truncated = tail < limit
            m = engine.match(window.text, window.start_char, partial=truncated)
            if m is not None and truncated and (m.partial or m.end() == len(window.text)):
                if reach >= sizes.MAX_MATCH:
                    raise ValueError(f"a match longer than {sizes.MAX_MATCH:,} bytes; narrow the pattern")
                reach *= 4
                continue
            return None if m is None else CorpusMatch(m, window.byte_of, self, start, limit, compiled)

    def fullmatch(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0) -> CorpusMatch | None:
        compiled = self._compile(pattern, flags)
        limit = self._bound(endpos, self._size)
        start = self._boundary(self._bound(pos, 0))
        if limit - start > sizes.MAX_MATCH:
            raise ValueError(_chunked_hint("fullmatch over the whole corpus", self._size))
        window = Window(self._mm, self._boundary(max(0, start - sizes.MARGIN)), start, limit, limit)
        m = compiled.fullmatch(window.text, window.start_char)
        return None if m is None else CorpusMatch(m, window.byte_of, self, start, limit, compiled)

    def _boundary(self, pos: int) -> int:
        """Move pos back to the start of the character it falls in, as the text is decoded
        (a stray continuation byte starts one: see `windows.char_starts_around`)."""
        return char_start_before(self._mm, self._size, pos)
