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
(`sandbox/kernel/prefilter.py`): Vectorscan (Hyperscan) scans the bytes for a superset of the
pattern, and Python's own `re` runs only over windows around those places, each holding every
character an attempt from there may read (the rest of its line, or the longest match), so the
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

import array
import bisect
import collections
import collections.abc
import itertools
import mmap
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from sandbox.kernel import fanout, prefilter

WINDOW = 8 << 20  # bytes of text a regex scans per step
MARGIN = 64 << 10  # bytes of text kept on each side of a window
MAX_MATCH = 64 << 20  # the longest match (or line, or piece) a scan will grow a window for
PARALLEL_MIN = 64 << 20  # bytes per core below which a whole-corpus scan stays on one core
FIRST_BLOCK = 1 << 20  # bytes the fast engine scans first (a search may stop there), growing 4x
LAST_BLOCK = 64 << 20  # up to this (the ends of one block are held as runs)
# The fast engine's reports stop being worth a Python call each where they are dense: a superset
# such as `[a-z]` (of `\\b[a-z]\\b`) ends at every letter, and Python's `re` runs over text far
# faster than one call a byte. Past DENSE_MIN reports, more than one in 32 bytes stops the scan
# for match ends (`re` confirms the rest of the block), one in 4 the search for starts.
DENSE_MIN = 4096

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


def _merged(ranges: Iterator[tuple[int, int]], gap: int) -> Iterator[tuple[int, int]]:
    """Ranges (in order of their starts) joined where they overlap or lie closer than `gap`,
    none longer than WINDOW unless one range alone is."""
    current: list[int] | None = None
    for x, z in ranges:
        if current is not None and x <= current[1] + gap and max(z, current[1]) - current[0] <= WINDOW:
            current[1] = max(current[1], z)
            continue
        if current is not None:
            yield current[0], current[1]
        current = [x, z]
    if current is not None:
        yield current[0], current[1]


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
        self._spans = tuple((-1, -1) if s == (-1, -1) else (byte_of(s[0]), byte_of(s[1])) for s in spans)
        self.re, self.string, self.pos, self.endpos = pattern, corpus, pos, endpos
        self.lastindex, self.lastgroup = match.lastindex, match.lastgroup

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


class _Window:
    """Decoded text of bytes [head, tail) of a corpus, searched from byte `start`; matches
    that start before byte `accept` belong to this window."""

    __slots__ = ("_ascii", "_cursor", "_mm", "accept_char", "head", "start_char", "tail", "text")

    def __init__(self, mm: Any, head: int, start: int, accept: int, tail: int) -> None:
        before = bytes(mm[head:start]).decode("utf-8", "surrogateescape")
        body = bytes(mm[start:accept]).decode("utf-8", "surrogateescape")
        after = bytes(mm[accept:tail]).decode("utf-8", "surrogateescape")
        self.text = before + body + after
        self._mm, self.head, self.tail = mm, head, tail
        self.start_char = len(before)
        self.accept_char = len(before) + len(body)
        self._ascii = self.text.isascii()
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
        if self._ascii:
            return self.head + char
        c0, b0 = self._cursor
        if char < c0:
            c0, b0 = 0, self.head
        b = b0 + len(self.text[c0:char].encode("utf-8", "surrogateescape"))
        self._cursor = (char, b)
        return b


_CONTINUE = prefilter.pyperscan.Scan.Continue if prefilter.pyperscan is not None else None
_TERMINATE = prefilter.pyperscan.Scan.Terminate if prefilter.pyperscan is not None else None

_RECENT = 64  # items a Pieces keeps behind its cursor (`lines[i - 1]` after `lines[i]`)
_END = object()


class Pieces:
    """A lazy sequence of the lines (or pieces) of a corpus: iterate it, index it, slice it,
    take its len(). Each pass reads the corpus again; what is kept is the length once known and
    a cursor (the pass that served the last index, with the few items before it), so that
    `for i in range(len(lines)): lines[i]`, with neighbours such as `lines[i - 1]` or
    `lines[i - 2:i + 3]`, reads the corpus once, not once an index."""

    __slots__ = ("_iter", "_len", "_make", "_next", "_recent", "_what")

    def __init__(self, make: Callable[[], Iterator[str]], what: str) -> None:
        self._make = make
        self._what = what
        self._len: int | None = None
        self._iter: Iterator[str] | None = None  # the cursor: a pass, the index of its next item,
        self._next = 0  # and the last items it gave
        self._recent: collections.deque[str] = collections.deque(maxlen=_RECENT)

    def __iter__(self) -> Iterator[str]:
        return self._make()

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for _ in self._make())
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
            pieces = []
            i = self._locate(start)
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
        return self._mm.find(self._needle(sub, "find"), self._bound(start, 0), self._bound(end, self._size))

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
                return len(fanout.merge(found, bounds, lambda a, b: self._occurrences(needle, a, b, hi)))
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
        spans = list(self._occurrences(needle, lo, hi, limit))
        return fanout.Part([None] * len(spans), [s[:2] for s in spans[:fanout.HEAD]],
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
    def _texts(self, size: int = WINDOW) -> Iterator[str]:
        """The corpus as consecutive decoded pieces of about `size` bytes."""
        for _, text in self.chunks(size):
            yield text

    def splitlines(self, keepends: bool = False) -> Pieces:
        """The lines, as `str.splitlines` would give them, one pass at a time."""
        def lines() -> Iterator[str]:
            carry = ""
            for text in self._texts():
                parts = (carry + text).splitlines(True)
                # the last line goes on in the next piece unless it ends with a break (a \r may
                # be the first half of \r\n)
                carry = parts.pop() if parts and (parts[-1][-1] not in _NEWLINES or parts[-1][-1] == "\r") else ""
                if len(carry) > MAX_MATCH:
                    raise ValueError(f"a line longer than {MAX_MATCH:,} bytes; use context.chunks(...)")
                for part in parts:
                    yield part if keepends else _without_break(part)
            if carry:
                yield carry if keepends else _without_break(carry)
        return Pieces(lines, "lines")

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
    def _window(self, start: int, limit: int, reach: int) -> tuple[_Window, int, int]:
        """The window searched from `start` (bytes; text up to `limit`), reaching `reach`
        bytes past its accepted region; returns it with its accepted end and its tail."""
        accept = limit if limit - start <= WINDOW else self._boundary(start + WINDOW)
        tail = limit if limit - accept <= reach else self._boundary(accept + reach)
        head = self._boundary(max(0, start - MARGIN))
        return _Window(self._mm, head, start, accept, tail), accept, tail

    def _scan(self, compiled: re.Pattern, pos: int = 0, endpos: int | None = None) -> Iterator[CorpusMatch]:
        """The matches `compiled.finditer(text, pos, endpos)` would give, as CorpusMatch."""
        limit = self._bound(endpos, self._size)
        start = self._boundary(self._bound(pos, 0))
        for window, m in self._raw_scan(compiled, start, limit):
            yield CorpusMatch(m, window.byte_of, self, start, limit, compiled)

    def _raw_scan(self, compiled: re.Pattern, start: int, limit: int) -> Iterator[tuple[_Window, Any]]:
        """The matches of a scan from `start` (text up to `limit`), with their window (for byte
        offsets): the fast path where the pattern has a plan, else the regex engine's."""
        plan = prefilter.plan(compiled)
        if plan is not None and isinstance(self._mm, mmap.mmap):  # Vectorscan's block mode: one buffer
            return self._confirmed(compiled, plan, start, limit)
        return self._engine_scan(compiled, start, limit)

    def _engine_scan(self, compiled: re.Pattern, start: int, limit: int) -> Iterator[tuple[_Window, Any]]:
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

    def _confirmed(self, compiled: re.Pattern, plan: prefilter.Plan, start: int,
                   limit: int) -> Iterator[tuple[_Window, Any]]:
        """What `_raw_scan` gives, with Python's own `re` run only where the fast engine says a
        match may start (`prefilter`): each candidate range [x, z) of start offsets is searched
        in a window from x (with `plan.before` bytes of text before it, for look-behinds) to as
        far as any attempt from there may read (`plan.reach`: the end of the line, or the longest
        match), so the window holds every attempt whole and nothing needs growing. Within a
        window the search jumps to the places where a match may start (the reversed pattern's
        ends): a search from every position of a line costs a pattern such as `\\w+ing` a
        backtracking attempt per position. The pattern cannot match the empty string."""
        candidates = self._candidates(plan, start, limit)
        pending: tuple[int, int] | None = None
        while True:
            if pending is None:
                pending = next(candidates, None)
                if pending is None:
                    return
            (x, z), pending = pending, None
            if z <= start:
                continue
            pos, accept = max(start, self._boundary_after(x)), self._boundary_after(z)
            if pos >= accept:
                continue
            tail = self._reach_end(plan, accept, limit)
            # The next candidates that start within this window's text are confirmed in it: a
            # window of its own each would decode and search the rest of a long line (or the
            # longest match) again per candidate, quadratic in a long line's length.
            while tail - pos <= MAX_MATCH and (pending := next(candidates, None)) is not None \
                    and pending[0] < tail:
                wider = self._boundary_after(pending[1])
                if plan.reach == "line" and self._mm.find(b"\n", max(accept - 1, 0), max(wider - 1, 0)) == -1:
                    further = tail  # the same line (no search to its end again)
                else:
                    further = self._reach_end(plan, wider, limit)
                if further != tail and (wider - pos > WINDOW or further - pos > MAX_MATCH):
                    break
                accept, tail, pending = max(accept, wider), further, None
            if tail - pos > MAX_MATCH:  # a giant line: the windows of the engine's path, not one
                last_end = accept
                for window, m in self._engine_scan(compiled, pos, limit):
                    if window.byte_of(m.start()) >= accept:
                        break
                    last_end = window.byte_of(m.end())
                    yield window, m
                start = max(accept, last_end)
                continue
            window = _Window(self._mm, self._boundary(max(0, pos - plan.before)), pos, accept, tail)
            accept_char = window.accept_char if accept < limit else len(window.text) + 1
            jumps = self._match_starts(plan, pos, tail)
            last: Any = None
            at, k = window.start_char, 0
            while True:
                if jumps is not None:  # the next place a match may start, from `at`
                    here = window.byte_of(at)
                    while k < len(jumps) and jumps[k] < here:
                        k += 1
                    if k == len(jumps):
                        break
                    at = max(at, window.char_of(self._boundary_after(jumps[k])))
                m = compiled.search(window.text, at)
                if m is None or m.start() >= accept_char:
                    break
                last = m
                yield window, m
                at = m.end()
            start = max(accept, window.byte_of(last.end()) if last is not None else accept)

    def _reach_end(self, plan: prefilter.Plan, accept: int, limit: int) -> int:
        """Where the text every attempt starting before `accept` may read ends: past the end of
        the line of the last start (and one character more, for `$` and `\\b`), or past the
        longest match."""
        if plan.reach == "line":
            newline = self._mm.find(b"\n", max(accept - 1, 0), limit)
            end = limit if newline == -1 else newline + 5
        else:
            end = accept + plan.whole_max_bytes + 4  # type: ignore[operator]
        return min(limit, self._boundary_after(min(end, self._size)))

    def _match_starts(self, plan: prefilter.Plan, a: int, b: int) -> list[int] | None:
        """The sorted offsets in [a, b) where a match lying within bytes [a, b) may start: the
        ends of the reversed superset's matches over the window's bytes read backwards. None
        without such a database (every position is then tried)."""
        if plan.starts is None:
            return None
        found = array.array("q")
        most = max(DENSE_MIN, (b - a) >> 2)  # a start in 4 bytes: trying every position is no worse

        def on_match(_ctx: Any, _id: int, _begin: int, end: int) -> Any:
            found.append(b - end)
            return _CONTINUE if len(found) <= most else _TERMINATE

        plan.starts.build(None, on_match).scan(self._mm[a:b][::-1])  # a short window: copied
        if len(found) > most:  # starts nearly everywhere: `re` tries every position faster
            return None
        found.reverse()  # reported backwards, each offset once
        return found  # type: ignore[return-value]

    def _candidates(self, plan: prefilter.Plan, start: int, limit: int) -> Iterator[tuple[int, int]]:
        """Ranges [x, z) of byte offsets, in order, outside which no match of the plan's pattern
        starts (between `start` and `limit`). The fast engine scans blocks of growing size (a
        search that finds its match early reads little), each with what a match starting in it
        may reach past its end (the rest of its line, or the pattern's longest match)."""
        a, block = start, FIRST_BLOCK
        while a < limit:
            b = min(limit, a + block)
            if plan.mode == "bounded":
                data_end = min(limit, b + plan.max_bytes)  # type: ignore[operator]
            else:
                newline = self._mm.find(b"\n", b - 1, limit) if b < limit else -1
                data_end = limit if newline == -1 else newline + 1
            runs, ordered = self._match_ends(plan, a, data_end)
            starts = self._starts(plan, runs, a, b, data_end)
            for x, z in _merged(starts if ordered else iter(sorted(starts)), plan.join_gap):
                while z - x > WINDOW:  # the rest of a dense block: in windows
                    yield x, x + WINDOW
                    x += WINDOW
                yield x, z
            a, block = b, min(block * 4, LAST_BLOCK)

    def _match_ends(self, plan: prefilter.Plan, a: int, b: int) -> tuple[array.array, bool]:
        """Hyperscan over bytes [a, b): the offsets (in the corpus) of the reported match ends,
        as runs: the first and the last end of each run of ends that lie closer than the plan's
        join gap (their start ranges would be joined anyway), spanning at most WINDOW bytes.
        A flat array, not an object per end: a superset such as `a` for `(?<=Q)a` ends at every
        byte of a block of up to 64 MiB. With whether the ends came in order (Hyperscan reports
        them by their offset)."""
        runs = array.array("q")
        gap, span = plan.join_gap, WINDOW
        order, count, stopped = [True], [0], [False]

        def on_match(_ctx: Any, _id: int, _begin: int, end: int) -> Any:
            t = a + end
            count[0] += 1
            if count[0] > DENSE_MIN and count[0] > (t - a) >> 5:  # dense: see DENSE_MIN
                stopped[0] = True
                return _TERMINATE
            if runs:
                if 0 <= t - runs[-1] <= gap and t - runs[-2] <= span:
                    runs[-1] = t
                    return _CONTINUE
                if t < runs[-1]:
                    order[0] = False
            runs.append(t)
            runs.append(t)
            return _CONTINUE

        scanner = plan.database.build(None, on_match)
        for view in self._views(a, b):
            scanner.scan(view)
        if stopped[0]:
            # stopped where ends were dense: every match from the last run on may start in
            # the rest of the block (a match ending later starts no earlier than the last
            # run's start bound), which `re` confirms window by window
            runs[-1] = b
        return runs, order[0]

    def _views(self, a: int, b: int) -> Iterator[Any]:
        """Bytes [a, b) of the map as a buffer, without copying."""
        with memoryview(self._mm) as whole:
            view = whole[a:b]
            try:
                yield view
            finally:
                view.release()

    def _starts(self, plan: prefilter.Plan, runs: array.array, a: int, b: int,
                data_end: int) -> Iterator[tuple[int, int]]:
        """Where the matches ending in each run of reported ends (`_match_ends`) may start,
        clipped to [a, b), in order: a match ending at t starts at t - max_bytes or later, and
        on t's line, so from where the run's first end says to its last end."""
        widest = plan.max_bytes
        line_start, line_end = a, a  # the line of the last end looked at
        for i in range(0, len(runs), 2):
            t, last = runs[i], runs[i + 1]
            if plan.mode == "bounded":
                x = max(a, t - widest)  # type: ignore[operator]
            else:
                if t - 1 >= line_end:
                    line_start = self._mm.rfind(b"\n", a, t) + 1 or a
                    newline = self._mm.find(b"\n", t - 1, data_end)
                    line_end = data_end if newline == -1 else newline
                x = max(line_start, a) if widest is None else max(line_start, a, t - widest)
            if x < b:
                yield x, min(last, b)

    def _boundary_after(self, pos: int) -> int:
        """Move pos forward to the start of a character (see `_starts_around`)."""
        if not 0 < pos < self._size or (self._mm[pos] & 0xC0) != 0x80:
            return pos
        return next(s for s in self._starts_around(pos) if s >= pos)

    def _starts_around(self, pos: int) -> list[int]:
        """The offsets where characters start, as the text is decoded (surrogateescape), from
        a few bytes before `pos` (a continuation byte) to the end of the character holding it.
        A continuation byte that no valid sequence holds (`\x80` after ASCII, or after a
        truncated sequence) is a character of its own (U+DC80 + byte), where a match may start:
        skipping every continuation byte missed those, and took a Python step per byte of a
        run of them. A character starts at most 3 bytes before `pos`, and decoding from there
        meets the real boundaries by `pos` (a stray continuation byte decodes as one character)."""
        first = max(0, pos - 3)
        out, at = [], first
        for char in bytes(self._mm[first:min(self._size, pos + 4)]).decode("utf-8", "surrogateescape"):
            out.append(at)
            at += len(char.encode("utf-8", "surrogateescape"))
        out.append(at)
        return out

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
        return next(self._scan(self._compile(pattern, flags), pos, endpos), None)

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
        for _, m in self._raw_scan(compiled, start, stop):
            results.append(value(m))
            if limit is not None and len(results) >= limit:
                break
        return results

    def _part(self, compiled: re.Pattern, lo: int, hi: int, limit: int, value: Callable[[Any], Any]) -> fanout.Part:
        """The values of the matches of a scan from `lo` (text up to `limit`) that start before
        `hi`, with the spans of the first ones and of the last (start offsets are worked out
        only where a match may start at `hi` or later, or its span is kept)."""
        values: list[Any] = []
        head: list[tuple[int, int]] = []
        last: tuple[_Window, Any] | None = None
        for window, m in self._raw_scan(compiled, lo, limit):
            if window.tail > hi or len(head) < fanout.HEAD:
                begin = window.byte_of(m.start())
                if begin >= hi:
                    break
                if len(head) < fanout.HEAD:
                    head.append((begin, window.byte_of(m.end())))
            values.append(value(m))
            last = (window, m)
        span = None if last is None else (last[0].byte_of(last[1].start()), last[0].byte_of(last[1].end()))
        return fanout.Part(values, head, span)

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
        window = _Window(self._mm, self._boundary(max(0, start - MARGIN)), start, limit, limit)
        m = compiled.fullmatch(window.text, window.start_char)
        return None if m is None else CorpusMatch(m, window.byte_of, self, start, limit, compiled)

    def _boundary(self, pos: int) -> int:
        """Move pos back to the start of the character it falls in, as the text is decoded
        (surrogateescape, see `_starts_around`): a few bytes at most. A stray continuation byte
        starts a character: moving back over it, a search from a match's end (`pos=m.end()`)
        found the same match again, and a run of them cost a Python step per byte."""
        if not 0 < pos < self._size or (self._mm[pos] & 0xC0) != 0x80:
            return pos
        return max(s for s in self._starts_around(pos) if s <= pos)
