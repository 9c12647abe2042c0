"""A Python pattern as a byte-level superset of itself for Hyperscan (runs inside the kernel).

`translate` reads the pattern with the standard library's parser: wherever Python's pattern
matches the decoded text between characters s and e, the superset matches the UTF-8 bytes
between the same two offsets. The superset may match more (a class becomes the bytes its
characters begin with, then any continuation bytes; repeats lose their upper bounds; `\\b` and
look-arounds are dropped, a back reference repeats its group's pattern) but never less. A
superset that matches more only makes a scan slower; one that matches less, or an engine that
misses a match of it, loses results: the expression keeps to shapes Vectorscan was seen to get
right (see `pattern_charsets.emit_set`, `_repeat`). The plan built on it is `prefilter`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandbox.kernel.pattern_charsets import (
    MAX_CODE,
    CharSet,
    Unsupported,
    bit_ranges,
    class_of_bytes,
    class_set,
    complement,
    emit_set,
    intersect,
    literal_set,
    rare_members,
    set_widths,
)

_HIGH_BYTES = ((1 << 256) - 1) ^ ((1 << 128) - 1)  # bytes 0x80-0xff, as a bit set
_BIG_REPEAT = 1000  # a bounded repeat above this is made unbounded (a superset, and a smaller automaton)
_MAX_LOOKBEHIND = 16 << 20  # characters a look-behind may read back (a window holds 4 bytes each)
_MAX_EXPRESSION = 1 << 15  # bytes of expression: Vectorscan refuses patterns above about 16,000
_MOST_RARE = 64  # characters split off a pattern's sets as literals (a class of accented letters a
# position adds one each: hundreds of literals, each reported wherever the text holds it)


# ----- the pattern ------------------------------------------------------------------------
@dataclass
class Piece:
    """A translated part: its byte pattern (None: it cannot match), its length in bytes
    (max None: unbounded), and whether it can match a newline."""

    expr: bytes | None
    min_bytes: int = 0
    max_bytes: int | None = 0
    newline: bool = False
    reversed: bytes = b""  # the same pattern for the text read backwards (its matches' starts)
    byteset: int = 0  # every byte it may match, as a bit set
    nested: bool = False  # it holds a quantifier or an alternation


_NEVER = Piece(None)


def _sized(expr: bytes) -> bytes:
    """`expr`, unless it is longer than any pattern Vectorscan compiles: a back reference
    spells out its group, so `(x)(\\1\\1)(\\2\\2)...` doubles at each group, and the translation
    would take minutes and gigabytes for what `re` compiles at once."""
    if len(expr) > _MAX_EXPRESSION:
        raise Unsupported("an expression too long for Vectorscan")
    return expr


def _concat(pieces: list[Piece]) -> Piece:
    if any(p.expr is None for p in pieces):
        return _NEVER
    maxes = [p.max_bytes for p in pieces]
    byteset = 0
    for p in pieces:
        byteset |= p.byteset
    return Piece(_sized(b"".join(p.expr for p in pieces)),  # type: ignore[misc]
                 sum(p.min_bytes for p in pieces),
                 None if None in maxes else sum(maxes),  # type: ignore[arg-type]
                 any(p.newline for p in pieces),
                 b"".join(p.reversed for p in reversed(pieces)),
                 byteset, any(p.nested for p in pieces))


def _set_piece(charset: CharSet) -> Piece:
    emitted = emit_set(charset)
    if emitted is None:
        return _NEVER
    lo, hi = set_widths(charset)
    byteset = 0
    for a, b in intersect(charset.ranges, 0, 127):
        byteset |= ((1 << (b + 1)) - 1) ^ ((1 << a) - 1)
    wide = hi > 1 or charset.any_nonascii or bool(intersect(charset.ranges, 128, MAX_CODE))
    if wide:
        byteset |= _HIGH_BYTES
    return Piece(emitted[0], lo, hi, any(a <= 10 <= b for a, b in charset.ranges), emitted[1],
                 byteset, wide)


class _Translator:
    def __init__(self, groups: dict[int, tuple[list[Any], int]], split_rare: bool = False) -> None:
        self.groups = groups  # group number -> (its subpattern, its flags): for back references
        # where set: a set of ASCII characters and a few others is its ASCII part, and the
        # others' bytes are gathered in `rare` (see `Translation.split`)
        self.split_rare = split_rare
        self.rare: set[bytes] = set()
        self.lookbehind = 0  # the widest look-behind, in characters
        self.ahead_newline = False  # whether a look-ahead may read over a newline
        self.ahead_bytes: int | None = 0  # how far past a match's end look-aheads may read
        self.depth = 0

    def seq(self, items: list[Any], flags: int) -> Piece:
        self.depth += 1
        if self.depth > 200:
            raise Unsupported("nested too deep")
        try:
            return _concat([self.node(op, arg, flags) for op, arg in items])
        finally:
            self.depth -= 1

    def _set(self, charset: CharSet) -> Piece:
        split = rare_members(charset) if self.split_rare else None
        if split is None:
            return _set_piece(charset)
        self.rare.update(split[1])
        return _set_piece(split[0])

    def node(self, op: Any, arg: Any, flags: int) -> Piece:  # noqa: C901 - one case per node kind
        from re import _constants as c  # type: ignore[attr-defined]

        if op is c.LITERAL:
            if flags & re.IGNORECASE:
                return self._set(literal_set(arg, True, True))
            if 0xD800 <= arg <= 0xDFFF and not 0xDC80 <= arg <= 0xDCFF:
                return _NEVER  # a surrogate the text cannot hold
            raw = bytes([arg - 0xDC00]) if 0xDC80 <= arg <= 0xDCFF else chr(arg).encode("utf-8")
            byteset = 0
            for b in raw:
                byteset |= 1 << b
            return Piece(b"".join(b"\\x%02x" % b for b in raw), len(raw), len(raw), arg == 10,
                         b"".join(b"\\x%02x" % b for b in reversed(raw)), byteset)
        if op is c.NOT_LITERAL:
            return self._set(CharSet(complement(((arg, arg),))))
        if op is c.ANY:
            everything = ((0, MAX_CODE),)
            return self._set(CharSet(everything if flags & re.DOTALL else complement(((10, 10),))))
        if op is c.IN:
            return self._set(class_set(list(arg), flags, True))
        if op is c.BRANCH:
            return _branch_of([self.seq(list(a), flags) for a in arg[1]])
        if op is c.SUBPATTERN:
            group, add, remove, sub = arg
            inner_flags = (flags | add) & ~remove
            if group is not None:
                self.groups[group] = (list(sub), inner_flags)
            return self.seq(list(sub), inner_flags)
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            lo, hi, sub = arg
            item = self.seq(list(sub), flags)
            if item.expr is None:
                return Piece(b"", 0, 0) if lo == 0 else _NEVER
            if hi is c.MAXREPEAT or hi > _BIG_REPEAT:
                hi = None
            lo = min(lo, _BIG_REPEAT)
            if item.min_bytes == 0 and item.max_bytes == 0:
                return Piece(b"", 0, 0)
            if lo == hi == 1:
                return item
            unbounded = hi is None or item.max_bytes is None
            least, most = item.min_bytes * lo, None if unbounded else item.max_bytes * hi
            if item.nested:  # flat: Vectorscan missed matches of repeats of repeats or alternations
                flat = class_of_bytes(bit_ranges(item.byteset))
                bounds = _repeat(least)
                return Piece(flat + bounds, least, most, item.newline, flat + bounds, item.byteset, True)
            bounds = _repeat(lo)
            return Piece(b"(?:" + item.expr + b")" + bounds, least, most,
                         item.newline, b"(?:" + item.reversed + b")" + bounds, item.byteset, True)
        if op is c.AT:
            if arg in (c.AT_BEGINNING, c.AT_BEGINNING_STRING):
                return Piece(b"^", reversed=b"$")  # Hyperscan runs in multi-line mode: a superset of both
            if arg in (c.AT_END, c.AT_END_STRING):
                return Piece(b"$", reversed=b"^")
            return Piece(b"")  # \b, \B: dropped
        if op in (c.ASSERT, c.ASSERT_NOT):
            direction, sub = arg
            if direction > 0:  # how far it reads decides how much text a window must hold
                ahead = self.seq(list(sub), flags)
                self.ahead_newline = self.ahead_newline or ahead.newline or ahead.expr is None
                self.ahead_bytes = None if self.ahead_bytes is None or ahead.max_bytes is None \
                    else max(self.ahead_bytes, ahead.max_bytes)
            if direction < 0:  # it reads back its width, and what the assertions in it read
                from re import _parser  # type: ignore[attr-defined]

                outer, self.lookbehind = self.lookbehind, 0
                self.seq(list(sub), flags)  # a look-ahead in it is recorded: it reads forward
                width = _parser.SubPattern(_parser.State(), list(sub)).getwidth()[1] + self.lookbehind
                if width > _MAX_LOOKBEHIND:
                    raise Unsupported("a look-behind wider than a window")
                self.lookbehind = max(outer, width)
            return Piece(b"")
        if op is c.ATOMIC_GROUP:
            return self.seq(list(arg), flags)
        if op is c.GROUPREF:
            if arg not in self.groups:
                raise Unsupported("a reference to a group not yet closed")
            sub, group_flags = self.groups[arg]
            return self.seq(sub, group_flags | (flags & re.IGNORECASE))
        if op is c.GROUPREF_EXISTS:
            _, yes, no = arg
            alternatives = [self.seq(list(yes), flags), self.seq(list(no), flags) if no else Piece(b"")]
            return _branch_of(alternatives)
        raise Unsupported(str(op))


def _repeat(least: int) -> bytes:
    """A repeat's bounds in the expression: its least count, and no upper bound. Vectorscan
    misses matches of bounded repeats (`[\\x00-\\x1f][^0-9]{1,12}\\n` over a text with two such
    lines reports the first one only), and the expression need only be a superset: the
    longest match is counted on the Python side (`Piece.max_bytes`), not read from it."""
    return b"{%d,}" % least


def _branch_of(alternatives: list[Piece]) -> Piece:
    kept = [p for p in alternatives if p.expr is not None]
    if not kept:
        return _NEVER
    maxes = [p.max_bytes for p in kept]
    byteset = 0
    for p in kept:
        byteset |= p.byteset
    return Piece(_sized(b"(?:" + b"|".join(p.expr for p in kept) + b")"),  # type: ignore[misc]
                 min(p.min_bytes for p in kept),
                 None if None in maxes else max(maxes),  # type: ignore[type-var]
                 any(p.newline for p in kept),
                 b"(?:" + b"|".join(p.reversed for p in kept) + b")",
                 byteset, len(kept) > 1 or kept[0].nested)


@dataclass
class Translation:
    """A pattern's superset (`whole`), the superset of its starts that the fast engine runs
    (`starts`: a trailing unbounded repeat cut to its least count), and what a confirming
    window needs to know."""

    whole: Piece
    starts: Piece
    lookbehind: int  # the widest look-behind, in characters
    ahead_newline: bool  # a look-ahead may read over a newline
    ahead_bytes: int | None  # how far past a match's end look-aheads may read (None: no bound)
    literal_start: bool  # it begins with a literal: `re` skips ahead to it quickly by itself
    costly_start: bool  # it begins with an unbounded repeat: each failed attempt backtracks over a run
    # `starts` as its ASCII-only expression and the bytes of the few non-ASCII characters split
    # off its sets (`pattern_charsets.rare_members`), or None where no set was split: every
    # match of `starts` either matches the expression (the same bytes, the same end) or holds
    # one of those characters, which ends after the match's start and no later than its end
    split: tuple[bytes, list[bytes]] | None = None


def translate(pattern: str, flags: int) -> Translation:
    """The superset of a Python pattern (see the module docstring). The starts' superset cuts a
    trailing repeat to its least count (`def \\w+` becomes `def \\w`, `\\d{1,3}\\b` at the end
    becomes `\\d`; zero-width assertions after it go too): where the pattern matches from s,
    that prefix matches from s too, and it reports one end where the whole would report one
    per character."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    parsed = _parser.parse(pattern, flags)
    items, top_flags = list(parsed.data), parsed.state.flags
    translator = _Translator({})
    whole = starts = translator.seq(items, top_flags)
    literal_start = bool(items) and items[0][0] is c.LITERAL and not top_flags & re.IGNORECASE
    costly_start = _starts_with_unbounded_repeat(items)
    start_items = items
    last = len(items) - 1
    while last >= 0 and items[last][0] is c.AT:  # `\b`, `$`: the prefix before them will do
        last -= 1
    if last >= 0 and items[last][0] in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) \
            and (items[last][1][1] is c.MAXREPEAT or items[last][1][1] > items[last][1][0]):
        lo, _, sub = items[last][1]
        cut = items[:last] + ([(c.MAX_REPEAT, (lo, lo, sub))] if lo else [])
        prefix = _Translator({}).seq(cut, top_flags)
        if prefix.expr is not None and prefix.min_bytes > 0:
            starts, start_items = prefix, cut
    splitter = _Translator({}, split_rare=True)
    ascii_starts = splitter.seq(start_items, top_flags)
    split = None
    if 0 < len(splitter.rare) <= _MOST_RARE and ascii_starts.expr is not None and ascii_starts.min_bytes > 0:
        split = (ascii_starts.expr, sorted(splitter.rare))
    return Translation(whole, starts, translator.lookbehind, translator.ahead_newline, translator.ahead_bytes,
                       literal_start, costly_start, split)


def _starts_with_unbounded_repeat(items: list[Any]) -> bool:
    """Whether the first thing the pattern consumes is an unbounded repeat (`\\w+ing`,
    `(?:[a-z]+ing|...)`): a search then costs a backtracking run at every position, and knowing
    where matches may start pays for itself."""
    from re import _constants as c  # type: ignore[attr-defined]

    for op, arg in items:
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            continue
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            return arg[1] is c.MAXREPEAT or arg[1] > 16 or _starts_with_unbounded_repeat(list(arg[2]))
        if op is c.SUBPATTERN:
            return _starts_with_unbounded_repeat(list(arg[3]))
        if op is c.ATOMIC_GROUP:
            return _starts_with_unbounded_repeat(list(arg))
        if op is c.BRANCH:
            return any(_starts_with_unbounded_repeat(list(alternative)) for alternative in arg[1])
        return False
    return False
