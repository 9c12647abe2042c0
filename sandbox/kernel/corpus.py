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
"""

from __future__ import annotations

import bisect
import collections
import collections.abc
import functools
import itertools
import mmap
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from sandbox.kernel import fanout, literal_scan, prefilter
from sandbox.kernel.fast_scan import FastScan, pairs
from sandbox.kernel.windows import LineBatch, Stretch, Window, char_start_before

WINDOW = 8 << 20  # bytes of text a regex scans per step
SPARSE_HIGH_LINES = 11  # lines above 0x7f decoded on their own where at most one in 2**this bytes
MARGIN = 64 << 10  # bytes of text kept on each side of a window
MAX_MATCH = 64 << 20  # the longest match (or line, or piece) a scan will grow a window for
PARALLEL_MIN = 64 << 20  # bytes per core below which a whole-corpus scan stays on one core

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
_NEWLINES = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines breaks
_BREAK_BYTES = tuple(c.encode("utf-8") for c in _NEWLINES)  # each starts a character in UTF-8


def _chunked_hint(what: str, size: int) -> str:
    return (f"{what} would build the whole {size:,}-byte corpus in memory; work on pieces instead: "
            "`for offset, text in context.chunks(10_000_000): ...` (text is a str), or a slice "
            "`context[a:b]`, or `for line in context.splitlines(): ...`")


def _visible(text: str) -> str:
    """Text decoded with surrogateescape, as the user sees it (invalid bytes as U+FFFD)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_RE_FLAGS = ("IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII", "UNICODE", "LOCALE")


def _engine(compiled: re.Pattern) -> Any:
    """`compiled` in the `regex` engine (its re-compatible VERSION0), which can tell when a
    match was cut short by the end of the text (`partial=True`)."""
    import regex

    flags = regex.VERSION0
    for name in _RE_FLAGS:
        if compiled.flags & getattr(re, name) and name != "UNICODE":
            flags |= getattr(regex, name)
    return regex.compile(compiled.pattern, flags)


def _literal_prefix(compiled: re.Pattern) -> bytes:
    """The text every match of `compiled` starts with (UTF-8), or b"" if there is none to rely
    on: a scan may then jump with `mmap.find`, far faster than the regex engine, to where it
    occurs. Read from the standard library's parser; anything unexpected means no prefix."""
    if compiled.flags & (re.IGNORECASE | re.VERBOSE):
        return b""
    try:
        from re import _constants, _parser  # type: ignore[attr-defined]

        chars = []
        for op, arg in _parser.parse(compiled.pattern, compiled.flags).data:
            if op is not _constants.LITERAL:
                break
            chars.append(chr(arg))
        return "".join(chars).encode("utf-8", "surrogatepass")
    except Exception:  # noqa: BLE001 - an optimisation only
        return b""


def _match_value(groups: int) -> Callable[[Any], Any]:
    """What `re.findall` keeps of a match of a pattern with `groups` groups."""
    if groups == 0:
        return lambda m: _visible(m.group())
    if groups == 1:
        return lambda m: _visible(m.group(1) or "")
    return lambda m: tuple(_visible(g or "") for g in m.groups())


def _batch_values(compiled: re.Pattern, batch: LineBatch) -> list[Any]:
    """What `re.findall` gives over a batch of lines, as the user sees it."""
    found = compiled.findall(batch.text, batch.enter_char)
    if batch.clean:
        return found
    return [tuple(map(_visible, v)) if isinstance(v, tuple) else _visible(v) for v in found]


def _split_lines(raw: bytes, keepends: bool) -> Iterator[list[str]]:
    """`raw.decode("utf-8", "replace").splitlines(keepends)` (raw ends with a newline), as
    lists. One character above U+00FF makes a decoded text 2 or 4 bytes a character, and each
    of its lines is then made by a conversion (the cost of a line, 3x an ASCII text's): the
    runs of ASCII lines are decoded as ASCII on their own (the others found by Vectorscan).
    Cut after newlines only, so no break (\r\n) and no character is split."""
    if raw.isascii():
        yield raw.decode("ascii").splitlines(keepends)
        return
    high = literal_scan.high_lines(raw, 0, len(raw))
    if high is None or len(high) // 2 > len(raw) >> SPARSE_HIGH_LINES:  # no Vectorscan, or many such lines
        yield raw.decode("utf-8", "replace").splitlines(keepends)
        return
    for a, b, above in literal_scan.line_runs(high, 0, len(raw)):  # a line above 0x7f with its newline
        yield raw[a:b + 1].decode("utf-8", "replace").splitlines(keepends) if above else \
            raw[a:b].decode("ascii").splitlines(keepends)


def _without_break(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line and line[-1] in _NEWLINES else line


class CorpusMatch:
    """A regex match over a Corpus, like `re.Match`: groups are str, offsets are bytes."""

    __slots__ = ("_groups", "_spans", "endpos", "lastgroup", "lastindex", "pos", "re", "string")

    def __init__(self, match: Any, byte_of: Callable[[int], int], corpus: Corpus,
                 pos: int, endpos: int, pattern: re.Pattern) -> None:
        n = match.re.groups
        self._groups: tuple[str | None, ...] = tuple(
            None if g is None else _visible(g) for g in (match.group(0), *match.groups()))
        spans = [match.span(i) for i in range(n + 1)]
        # converted in increasing order: a window's or batch's conversion goes on from the last
        # index it converted, and restarts from its run's start (up to a MiB) where one goes back
        # (a group's start after the match's end): quadratic over a batch of non-ASCII lines
        offsets = {x: 0 for span in spans for x in span if x >= 0}
        for x in sorted(offsets):
            offsets[x] = byte_of(x)
        self._spans = tuple((-1, -1) if s == (-1, -1) else (offsets[s[0]], offsets[s[1]]) for s in spans)
        self.re, self.string, self.pos, self.endpos = pattern, corpus, pos, endpos
        self.lastindex, self.lastgroup = match.lastindex, match.lastgroup

    def state(self) -> tuple:
        """What a match is, without its corpus and pattern (to rebuild it elsewhere)."""
        return self._groups, self._spans, self.lastindex, self.lastgroup

    @classmethod
    def rebuilt(cls, state: tuple, corpus: Corpus, pos: int, endpos: int, pattern: re.Pattern) -> CorpusMatch:
        match = cls.__new__(cls)
        match._groups, match._spans, match.lastindex, match.lastgroup = state
        match.re, match.string, match.pos, match.endpos = pattern, corpus, pos, endpos
        return match

    def _index(self, group: Any) -> int:
        if isinstance(group, str):
            if group not in self.re.groupindex:
                raise IndexError("no such group")
            return self.re.groupindex[group]
        if not isinstance(group, int) or not 0 <= group < len(self._groups):
            raise IndexError("no such group")
        return group

    def group(self, *groups: Any) -> Any:
        if not groups:
            return self._groups[0]
        if len(groups) == 1:
            return self._groups[self._index(groups[0])]
        return tuple(self._groups[self._index(g)] for g in groups)

    def groups(self, default: Any = None) -> tuple:
        return tuple(default if g is None else g for g in self._groups[1:])

    def groupdict(self, default: Any = None) -> dict:
        return {name: self.group(name) if self.group(name) is not None else default
                for name in self.re.groupindex}

    def start(self, group: Any = 0) -> int:
        return self._spans[self._index(group)][0]

    def end(self, group: Any = 0) -> int:
        return self._spans[self._index(group)][1]

    def span(self, group: Any = 0) -> tuple[int, int]:
        return self._spans[self._index(group)]

    def expand(self, template: str) -> str:
        groups: dict[Any, str] = {i: g or "" for i, g in enumerate(self._groups)}
        groups.update({name: self._groups[i] or "" for name, i in self.re.groupindex.items()})
        return re.sub(r"\\g<(\w+)>|\\(\d\d?)",
                      lambda m: groups[int(k)] if (k := m.group(1) or m.group(2)).isdigit() else groups[k],
                      template)

    def __getitem__(self, group: Any) -> Any:
        return self.group(group)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<CorpusMatch object; span={self.span()}, match={(self._groups[0] or '')[:80]!r}>"


_RECENT = 64  # items a Pieces keeps behind its cursor (`lines[i - 1]` after `lines[i]`)
_END = object()


class Pieces:
    """A lazy sequence of the lines (or pieces) of a corpus: iterate it, index it, slice it,
    take its len(). Each pass reads the corpus again; what is kept is the length once known and
    a cursor (the pass that served the last index, with the few items before it), so that
    `for i in range(len(lines)): lines[i]`, with neighbours such as `lines[i - 1]` or
    `lines[i - 2:i + 3]`, reads the corpus once, not once an index."""

    __slots__ = ("_count", "_iter", "_len", "_make", "_next", "_recent", "_what")

    def __init__(self, make: Callable[[], Iterator[str]], what: str,
                 count: Callable[[], int] | None = None) -> None:
        self._make = make
        self._what = what
        self._count = count  # how many there are, without making them
        self._len: int | None = None
        self._iter: Iterator[str] | None = None  # the cursor: a pass, the index of its next item,
        self._next = 0  # and the last items it gave
        self._recent: collections.deque[str] = collections.deque(maxlen=_RECENT)

    def __iter__(self) -> Iterator[str]:
        return self._make()

    def __len__(self) -> int:
        if self._len is None:
            self._len = self._count() if self._count is not None else sum(1 for _ in self._make())
        return self._len

    def __bool__(self) -> bool:
        if self._len is not None:
            return self._len > 0
        return next(self._make(), None) is not None

    def _at(self, index: int) -> str:
        """Item `index` (>= 0): from the cursor when it is there or ahead, else from a new pass."""
        behind = self._next - index
        if self._iter is not None and 0 < behind <= len(self._recent):
            return self._recent[-behind]
        if self._iter is None or behind > 0:
            self._iter, self._next = self._make(), 0
            self._recent.clear()
        while self._next <= index:
            item = next(self._iter, _END)
            if item is _END:
                self._len = self._next
                raise IndexError(f"{self._what} index out of range")
            self._recent.append(item)  # type: ignore[arg-type]
            self._next += 1
        return self._recent[-1]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.start, key.stop, 1 if key.step is None else key.step
            if step == 0:
                raise ValueError("slice step cannot be zero")
            if step < 0 or (start or 0) < 0 or (stop is not None and stop < 0):
                return list(self._make())[key] if step < 0 else self._from_end(key)
            items, i = [], start or 0
            try:
                while stop is None or i < stop:
                    items.append(self._at(i))
                    i += step
            except IndexError:
                pass
            return items
        if not isinstance(key, int):
            raise TypeError(f"{self._what} indices must be integers or slices")
        if key < 0 and self._len is None:  # one pass, keeping the last -key items
            last = collections.deque(self._make(), maxlen=-key)
            if len(last) < -key:
                raise IndexError(f"{self._what} index out of range")
            return last[0]
        if key < 0:
            key += self._len  # type: ignore[operator]
            if key < 0:
                raise IndexError(f"{self._what} index out of range")
        return self._at(key)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The first index of `value` (between start and stop), as `list.index`."""
        if start < 0 or (stop is not None and stop < 0):
            start, stop, _ = slice(start, stop).indices(len(self))
        for i, item in enumerate(self._make()):
            if stop is not None and i >= stop:
                break
            if i >= start and item == value:
                return i
        raise ValueError(f"{value!r} is not in the {self._what}")

    def count(self, value: Any) -> int:
        return sum(1 for item in self._make() if item == value)

    def _from_end(self, key: slice) -> list[str]:
        """A slice with negative bounds (`[-10:]`): one pass, keeping what the slice can need."""
        start, stop = key.start or 0, key.stop
        if start >= 0:  # e.g. [5:-5]: everything from start is needed
            items = list(itertools.islice(self._make(), start, None))
            return items[:stop:key.step]
        if stop is not None and stop >= 0:  # e.g. [-10:50]: both ends count, the length is needed
            return self[slice(*slice(start, stop, key.step).indices(len(self)))]
        tail = list(collections.deque(self._make(), maxlen=-start))
        return tail[slice(start, stop, key.step)]

    def __repr__(self) -> str:
        return f"<{self._what} of a corpus (lazy): iterate, index or slice it; len() reads it all>"


# what takes a sequence takes the lines (`random.sample(lines, 5)`: len() and a few indexes)
collections.abc.Sequence.register(Pieces)


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
        """`parts`: (buffer, offset in it, length) in order."""
        self._parts = [(buf, off, n) for buf, off, n in parts if n > 0]
        self._starts: list[int] = []
        total = 0
        for _, _, n in self._parts:
            self._starts.append(total)
            total += n
        self._size = total

    def __len__(self) -> int:
        return self._size

    def _locate(self, pos: int) -> int:
        """The index of the part holding byte `pos` (0 <= pos < size)."""
        return bisect.bisect_right(self._starts, pos) - 1

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self._size)
            if stop <= start:
                return b""
            i = self._locate(start)
            buf, off, n = self._parts[i]
            if stop - self._starts[i] <= n:  # within one part (most slices): no list, no join
                return bytes(buf[off + start - self._starts[i]:off + stop - self._starts[i]])
            pieces = []
            while start < stop:
                buf, off, n = self._parts[i]
                lo = start - self._starts[i]
                hi = min(n, stop - self._starts[i])
                pieces.append(bytes(buf[off + lo:off + hi]))
                start = self._starts[i] + hi
                i += 1
            return b"".join(pieces)
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


class Corpus:
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
        return max(1, min(cores, (hi - lo) // PARALLEL_MIN, 16))

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
                end = min(size, pos + WINDOW)
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
                yield from _split_lines(mm[pos:end], keepends)
                pos = end
        # the lines of each piece handed on by `chain` (C), not by a generator's step a line
        return Pieces(lambda: itertools.chain.from_iterable(lines()), "lines", self._line_count)

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
            for pos in range(0, size, WINDOW):  # pieces overlap by two bytes: a break is seen whole
                piece = bytes(mm[pos:pos + WINDOW + 2])
                cut = min(WINDOW, len(piece))
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
        newlines = sum(bytes(mm[pos:min(hi, pos + WINDOW)]).count(b"\n") for pos in range(lo, hi, WINDOW))
        return newlines + (literal_scan.line_breaks(mm, lo, hi) or 0)

    def _carried_lines(self, pos: int, stop: int, keepends: bool) -> Iterator[str]:
        """The lines of bytes [pos, stop), read a window at a time, a line cut by a window's end
        carried over to the next (up to MAX_MATCH)."""
        carry = ""
        while pos < stop:
            end = self._boundary(min(pos + WINDOW, stop))
            if end <= pos:
                end = min(pos + WINDOW, stop)
            parts = (carry + bytes(self._mm[pos:end]).decode("utf-8", "replace")).splitlines(True)
            pos = end
            # the last line goes on in the next piece unless it ends with a break (a \r may be
            # the first half of \r\n)
            carry = parts.pop() if parts and (parts[-1][-1] not in _NEWLINES or parts[-1][-1] == "\r") else ""
            if len(carry) > MAX_MATCH:
                raise ValueError(f"a line longer than {MAX_MATCH:,} bytes; use context.chunks(...)")
            for part in parts:
                yield part if keepends else _without_break(part)
        if carry:
            yield carry if keepends else _without_break(carry)

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
            if b - a > MAX_MATCH:
                raise ValueError(f"a piece longer than {MAX_MATCH:,} bytes; use context.chunks(...)")
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
    def _window(self, start: int, limit: int, reach: int) -> tuple[Window, int, int]:
        """The window searched from `start` (bytes; text up to `limit`), reaching `reach`
        bytes past its accepted region; returns it with its accepted end and its tail."""
        accept = limit if limit - start <= WINDOW else self._boundary(start + WINDOW)
        tail = limit if limit - accept <= reach else self._boundary(accept + reach)
        head = self._boundary(max(0, start - MARGIN))
        return Window(self._mm, head, start, accept, tail), accept, tail

    def _scan(self, compiled: re.Pattern, pos: int = 0, endpos: int | None = None) -> Iterator[CorpusMatch]:
        """The matches `compiled.finditer(text, pos, endpos)` would give, as CorpusMatch."""
        limit = self._bound(endpos, self._size)
        start = self._boundary(self._bound(pos, 0))
        for window, m in self._raw_scan(compiled, start, limit):
            yield CorpusMatch(m, window.byte_of, self, start, limit, compiled)

    def _raw_scan(self, compiled: re.Pattern, start: int, limit: int) -> Iterator[tuple[Window, Any]]:
        """The matches of a scan from `start` (text up to `limit`), with their window (for byte
        offsets): the fast path where the pattern has a plan, else the regex engine's."""
        fast = self._fast(compiled)
        return self._engine_scan(compiled, start, limit) if fast is None else fast.matches(start, limit)

    def _pieces(self, compiled: re.Pattern, start: int,
                limit: int) -> Iterator[LineBatch | Stretch | tuple[Window, Any]]:
        """What `_raw_scan` gives, with batches of lines and stretches whole where the fast path
        makes them (`fast_scan.pairs` gives their matches)."""
        fast = self._fast(compiled)
        return self._engine_scan(compiled, start, limit) if fast is None else fast.pieces(start, limit)

    def _fast(self, compiled: re.Pattern) -> FastScan | None:
        plan = prefilter.plan(compiled)
        if plan is None or not self._size:
            return None
        return FastScan(self._mm, self._size, compiled, plan, functools.partial(self._engine_scan, compiled), MAX_MATCH)

    def _engine_scan(self, compiled: re.Pattern, start: int, limit: int) -> Iterator[tuple[Window, Any]]:
        """The regex engine's matches, window by window.

        The search runs with the `regex` engine's partial matching: a match that reaches the end
        of the window, or one that was still going when the window ran out, is searched again
        over a larger window, so a match is never cut or missed at a window's end."""
        engine, prefix = _engine(compiled), _literal_prefix(compiled)
        reach, skip_empty_at = MARGIN, -1
        while start <= limit:
            if prefix and reach == MARGIN:  # no match starts before the prefix's next occurrence
                found = self._mm.find(prefix, start, limit)
                if found == -1:
                    return
                start = found
            window, accept, tail = self._window(start, limit, reach)
            last: Any = None
            grow = False
            truncated = tail < limit
            accept_char = window.accept_char if accept < limit else len(window.text) + 1
            text_end = len(window.text) if truncated else -1
            for m in engine.finditer(window.text, window.start_char, partial=truncated):
                m_start, m_end = m.span()
                if m_start >= accept_char:
                    break
                if m_end == text_end or (truncated and m.partial):  # it may go on past the window
                    if reach >= MAX_MATCH:
                        raise ValueError(f"a match longer than {MAX_MATCH:,} bytes; narrow the pattern "
                                         "or search context.chunks(...) pieces")
                    grow = True
                    break
                if m_start == m_end:
                    if window.byte_of(m_start) == skip_empty_at:
                        continue
                    skip_empty_at = window.byte_of(m_end)
                elif skip_empty_at != -1:
                    skip_empty_at = -1
                last = m
                yield window, m
            resume = start if last is None else window.byte_of(last.end())
            if grow:
                start, reach = resume, reach * 4
                continue
            if accept >= limit:
                return
            start, reach = max(accept, resume), MARGIN

    @staticmethod
    def _compile(pattern: Any, flags: int) -> re.Pattern:
        pattern = getattr(pattern, "_rlm_pattern", pattern)  # a re_facade pattern
        if isinstance(pattern, re.Pattern):
            if flags:
                raise ValueError("cannot process flags argument with a compiled pattern")
            compiled = pattern
        else:
            compiled = re.compile(pattern, flags)
        if isinstance(compiled.pattern, bytes):
            raise TypeError("cannot use a bytes pattern on a Corpus (it is text): use a str pattern")
        return compiled

    def search(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0) -> CorpusMatch | None:
        """`re.search` over the corpus: the first PARALLEL_MIN bytes alone (most searches end
        there), then the rest cut into one part per core, each looking for its first match; the
        first part that has one holds the answer (no match starts before it)."""
        compiled = self._compile(pattern, flags)
        limit = self._bound(endpos, self._size)
        start = self._boundary(self._bound(pos, 0))
        split = self._boundary(min(limit, start + PARALLEL_MIN))
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

    def _first(self, compiled: re.Pattern, lo: int, hi: int, limit: int, pos: int) -> tuple | None:
        """The first match of a scan from `lo` (text up to `limit`) if it starts before `hi`, as
        `CorpusMatch.state()` (it travels from a forked part by pickle)."""
        for window, m in self._raw_scan(compiled, lo, limit):
            if window.byte_of(m.start()) >= hi:
                return None
            return CorpusMatch(m, window.byte_of, self, pos, limit, compiled).state()
        return None

    def finditer(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0) -> Iterator[CorpusMatch]:
        return self._scan(self._compile(pattern, flags), pos, endpos)

    def findall(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0,
                limit: int | None = None) -> list:
        """`re.findall` over the corpus; a whole-corpus scan (no `limit`) uses every core."""
        compiled = self._compile(pattern, flags)
        value = _match_value(compiled.groups)
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
                results.extend(_batch_values(compiled, piece))
                continue
            if type(piece) is Stretch and limit is None:
                results.extend(piece.values(compiled, value, stop + 1))
                continue
            for _, m in pairs(compiled, piece):
                results.append(value(m))
                if limit is not None and len(results) >= limit:
                    return results
        return results

    def _part(self, compiled: re.Pattern, lo: int, hi: int, limit: int, value: Callable[[Any], Any]) -> fanout.Part:
        """The values of the matches of a scan from `lo` (text up to `limit`) that start before
        `hi`, with the spans of the first ones and of the last (start offsets are worked out
        only where a match may start at `hi` or later, or its span is kept)."""
        values: list[Any] = []
        head: list[tuple[int, int]] = []
        last: tuple[Any, Any] | LineBatch | Stretch | None = None
        for piece in self._pieces(compiled, lo, limit):
            if type(piece) is LineBatch and piece.tail <= hi and len(head) >= fanout.HEAD:
                found = _batch_values(compiled, piece)  # all of them, in one call
                if found:
                    values.extend(found)
                    last = piece
                continue
            if type(piece) is Stretch and len(head) >= fanout.HEAD:
                found = piece.values(compiled, value, hi)
                if found:
                    values.extend(found)
                    last = piece
                if piece.tail > hi:
                    break
                continue
            for window, m in pairs(compiled, piece):
                if window.tail > hi or len(head) < fanout.HEAD:
                    begin = window.byte_of(m.start())
                    if begin >= hi:
                        break
                    if len(head) < fanout.HEAD:
                        head.append((begin, window.byte_of(m.end())))
                values.append(value(m))
                last = (window, m)
            else:
                continue
            break
        if isinstance(last, LineBatch):  # the last match of the batch
            last = (last, collections.deque(compiled.finditer(last.text, last.enter_char), maxlen=1)[0])
        if isinstance(last, Stretch):
            span = last.last_span
        else:
            span = None if last is None else (last[0].byte_of(last[1].start()), last[0].byte_of(last[1].end()))
        kept = fanout.shared(values)
        return fanout.Part(kept, head, span, repeated=kept is not values)

    def _spans(self, compiled: re.Pattern, lo: int, hi: int, limit: int,
               value: Callable[[Any], Any]) -> Iterator[fanout.Span]:
        """The matches of a scan from `lo` (text up to `limit`) that start before `hi`."""
        for window, m in self._raw_scan(compiled, lo, limit):
            begin = window.byte_of(m.start())
            if begin >= hi:
                return
            yield begin, window.byte_of(m.end()), value(m)

    def match(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0) -> CorpusMatch | None:
        compiled = self._compile(pattern, flags)
        engine = _engine(compiled)
        limit = self._bound(endpos, self._size)
        start = self._boundary(self._bound(pos, 0))
        reach = MARGIN
        while True:
            window, _, tail = self._window(start, limit, reach)
            truncated = tail < limit
            m = engine.match(window.text, window.start_char, partial=truncated)
            if m is not None and truncated and (m.partial or m.end() == len(window.text)):
                if reach >= MAX_MATCH:
                    raise ValueError(f"a match longer than {MAX_MATCH:,} bytes; narrow the pattern")
                reach *= 4
                continue
            return None if m is None else CorpusMatch(m, window.byte_of, self, start, limit, compiled)

    def fullmatch(self, pattern: Any, pos: int = 0, endpos: int | None = None, flags: int = 0) -> CorpusMatch | None:
        compiled = self._compile(pattern, flags)
        limit = self._bound(endpos, self._size)
        start = self._boundary(self._bound(pos, 0))
        if limit - start > MAX_MATCH:
            raise ValueError(_chunked_hint("fullmatch over the whole corpus", self._size))
        window = Window(self._mm, self._boundary(max(0, start - MARGIN)), start, limit, limit)
        m = compiled.fullmatch(window.text, window.start_char)
        return None if m is None else CorpusMatch(m, window.byte_of, self, start, limit, compiled)

    def _boundary(self, pos: int) -> int:
        """Move pos back to the start of the character it falls in, as the text is decoded
        (a stray continuation byte starts one: see `windows.char_starts_around`)."""
        return char_start_before(self._mm, self._size, pos)
