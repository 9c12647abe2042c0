"""A fast engine's view of a Python regular expression (runs inside the kernel).

A scan of a Corpus (`re.findall(p, context)`) must give exactly what Python's `re` gives on the
same text as a `str`, but Python's engines try every position of a multi-GiB text one by one.
This module turns a Python pattern into a *byte-level superset* of it for Hyperscan (a SIMD
DFA/literal engine): wherever Python's pattern matches the decoded text between characters s and
e, the superset matches the UTF-8 bytes between the same two offsets. The superset may match more
(a class becomes the bytes its characters begin with, then any continuation bytes; repeats lose
their upper bounds; `\\b` and look-arounds are dropped, a back reference repeats its group's
pattern) but never less, so every Python match lies where Hyperscan reports one; the Corpus then
runs the real pattern (Python's `re`) over those places only. A superset that matches more only
makes a scan slower; one that matches less, or an engine that misses a match of it, loses
results: the expression keeps to shapes Vectorscan was seen to get right (see `_emit_set`,
`_repeat`).

How a reported end is turned into the place where a Python match may start (`Plan.mode`):
- "line": the superset cannot match a newline, so a match lies within one line (most patterns);
- "bounded": its matches are at most `max_bytes` long;
- neither: no plan (the regex engine's own path).
Within a short window, the reversed superset run over the window's bytes backwards reports the
offsets where a match may start, so the regex engine tries those positions only.

`plan(compiled)` is None where no superset helps: a pattern that can match the empty string,
one Hyperscan cannot compile, or no Hyperscan in this Python (the Corpus then scans as before).
"""

from __future__ import annotations

import functools
import mmap
import re
from dataclasses import dataclass
from typing import Any

try:  # optional at import time: without it every scan takes the regex engine's own path
    import pyperscan
except ImportError:  # pragma: no cover - pyperscan is a dependency; kept for a broken install
    pyperscan = None  # type: ignore[assignment]

MAX_CODE = 0x10FFFF
_CONTINUATIONS = rb"[\x80-\xbf]*"  # the rest of a character (unbounded: see `_repeat`)
_HIGH_BYTES = ((1 << 256) - 1) ^ ((1 << 128) - 1)  # bytes 0x80-0xff, as a bit set
_BIG_REPEAT = 1000  # a bounded repeat above this is made unbounded (a superset, and a smaller automaton)
_MAX_LOOKBEHIND = 16 << 20  # characters a look-behind may read back (a window holds 4 bytes each)
_MAX_EXPRESSION = 1 << 15  # bytes of expression: Vectorscan refuses patterns above about 16,000


class Unsupported(Exception):
    """The pattern has a construct this translation does not handle: no fast path."""


# ----- sets of characters as sorted, disjoint, inclusive intervals -----------------------
Ranges = tuple[tuple[int, int], ...]


def _norm(pairs: list[tuple[int, int]]) -> Ranges:
    out: list[list[int]] = []
    for lo, hi in sorted(pairs):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((a, b) for a, b in out)


def _complement(ranges: Ranges) -> Ranges:
    out, pos = [], 0
    for lo, hi in ranges:
        if lo > pos:
            out.append((pos, lo - 1))
        pos = hi + 1
    if pos <= MAX_CODE:
        out.append((pos, MAX_CODE))
    return tuple(out)


def _intersect(ranges: Ranges, lo: int, hi: int) -> Ranges:
    return tuple((max(a, lo), min(b, hi)) for a, b in ranges if a <= hi and b >= lo)


def _size(ranges: Ranges) -> int:
    return sum(b - a + 1 for a, b in ranges)


@dataclass(frozen=True)
class CharSet:
    """Characters as ranges, plus `any_nonascii`: every non-ASCII character is in (a superset)."""

    ranges: Ranges
    any_nonascii: bool = False


_ASCII_WORD = _norm([(48, 57), (65, 90), (95, 95), (97, 122)])
_ASCII_DIGIT = ((48, 57),)
_ASCII_SPACE = _norm([(9, 13), (28, 32)])  # str.isspace() below 128: \t\n\v\f\r, \x1c-\x1f, space
_ASCII_ONLY_SPACE = _norm([(9, 13), (32, 32)])  # \s under re.ASCII: [ \t\n\r\f\v], not \x1c-\x1f
_ASCII = ((0, 127),)


def _category(name: str, ascii_only: bool, want_superset: bool) -> CharSet:
    """A class escape (`\\w`, `\\D`...): exact under re.ASCII; otherwise its ASCII part, plus every
    non-ASCII character for a superset (Python's Unicode tables need not be Hyperscan's)."""
    base = {"WORD": _ASCII_WORD, "DIGIT": _ASCII_DIGIT, "SPACE": _ASCII_ONLY_SPACE if ascii_only else _ASCII_SPACE}
    negated = name.startswith("NOT_")
    ascii_part = base[name.removeprefix("NOT_")]
    if negated:
        ascii_part = _intersect(_complement(ascii_part), 0, 127)
    if ascii_only:  # exact: \w is ASCII, \W is everything else
        return CharSet(_norm([*ascii_part, (128, MAX_CODE)]) if negated else ascii_part)
    return CharSet(ascii_part, any_nonascii=want_superset)


def _upper(code: int) -> int:
    upper = chr(code).upper()
    return ord(upper) if len(upper) == 1 else code


@functools.lru_cache(maxsize=1)
def _case_index() -> dict[int, list[int]]:
    """Every character, by its simple lower case and by its upper case (Python's tables)."""
    import _sre

    index: dict[int, list[int]] = {}
    for code in range(MAX_CODE + 1):
        for other in {_sre.unicode_tolower(code), _upper(code)}:
            if other != code:
                index.setdefault(other, []).append(code)
    return index


def _case_partners(code: int) -> set[int]:
    """Every character Python's re.IGNORECASE may match for `code` (a superset: lower and upper
    cases both ways, and the special equivalences such as s / U+017F)."""
    import _sre
    from re import _compiler  # type: ignore[attr-defined]

    seeds = {code, _sre.unicode_tolower(code), _upper(code)}
    for seed in list(seeds):
        seeds.update(getattr(_compiler, "_EXTRA_CASES", {}).get(seed, ()))
    out = set(seeds)
    index = _case_index()
    for seed in seeds:
        out.update(index.get(seed, ()))
        out.update((_sre.unicode_tolower(seed), _upper(seed)))
    return out


def _range_set(lo: int, hi: int, ignore_case: bool, want_superset: bool) -> CharSet:
    if not ignore_case or not want_superset:
        return CharSet(((lo, hi),))  # the range itself always matches: the subset under negation
    if hi - lo > 512:  # too many to fold one by one: the range, every ASCII letter, any non-ASCII
        return CharSet(_norm([(lo, hi), (65, 90), (97, 122)]), any_nonascii=True)
    codes: set[int] = set()
    for code in range(lo, hi + 1):
        codes |= _case_partners(code)
    return CharSet(_norm([(c, c) for c in codes]))


def _union(sets: list[CharSet]) -> CharSet:
    return CharSet(_norm([r for s in sets for r in s.ranges]), any(s.any_nonascii for s in sets))


def _class(items: list[Any], flags: int, want_superset: bool) -> CharSet:
    """An `IN` node's set: a superset of what it matches (or, under a negation, a subset)."""
    from re import _constants as c  # type: ignore[attr-defined]

    negate = bool(items) and items[0][0] is c.NEGATE
    if negate:
        items = items[1:]
    inner_superset = want_superset != negate  # a negation turns a superset of its items into a subset
    ignore_case, ascii_only = bool(flags & re.IGNORECASE), bool(flags & re.ASCII)
    parts = []
    for op, arg in items:
        if op is c.LITERAL:
            parts.append(_literal_set(arg, ignore_case, inner_superset))
        elif op is c.RANGE:
            parts.append(_range_set(arg[0], arg[1], ignore_case, inner_superset))
        elif op is c.CATEGORY:
            name = str(arg).removeprefix("CATEGORY_")
            if name.removeprefix("NOT_") not in ("WORD", "DIGIT", "SPACE"):
                raise Unsupported(str(arg))
            parts.append(_category(name, ascii_only, inner_superset))
        else:
            raise Unsupported(str(op))
    inner = _union(parts)
    if not negate:
        return inner
    if inner.any_nonascii:  # only reached when a subset was wanted, which never sets it
        raise Unsupported("negated superset")
    return CharSet(_complement(inner.ranges))


def _literal_set(code: int, ignore_case: bool, want_superset: bool) -> CharSet:
    if ignore_case and want_superset:
        return CharSet(_norm([(p, p) for p in _case_partners(code)]))
    return CharSet(((code, code),))


def _bit_ranges(bits: int) -> list[tuple[int, int]]:
    """The bytes of a bit set, as inclusive ranges."""
    out: list[tuple[int, int]] = []
    for b in range(256):
        if bits >> b & 1:
            if out and out[-1][1] == b - 1:
                out[-1] = (out[-1][0], b)
            else:
                out.append((b, b))
    return out


def _byte_class(pairs: list[tuple[int, int]] | Ranges) -> bytes:
    body = b"".join(b"\\x%02x" % a if a == b else b"\\x%02x-\\x%02x" % (a, b) for a, b in pairs)
    return b"[" + body + b"]"


def _emit_set(charset: CharSet) -> tuple[bytes, bytes] | None:
    """The set as a byte-level pattern matching one character of the text, and the same for the
    text read backwards (None: no character): one class of the bytes such a character may
    begin with, then any continuation bytes. Not the exact UTF-8 sequences: Vectorscan missed
    matches of patterns made of alternations of them (an ASCII text, `aaaaaaa aaa aaaa`, lost
    the second `aaa ` of `[\\w\\u212a-\\udc80][^\\xff-\\ue000\\n][\\x1f-\\u212a\\w] `)."""
    firsts = list(_intersect(charset.ranges, 0, 127))
    upper = _intersect(charset.ranges, 128, MAX_CODE)
    if charset.any_nonascii or _size(upper) > (MAX_CODE - 127) // 2:
        firsts.append((0x80, 0xFF))
    else:
        for lo, hi in upper:
            # an invalid byte of the file is the character U+DC80 + byte (surrogateescape)
            firsts += [(a - 0xDC00, b - 0xDC00) for a, b in _intersect(((lo, hi),), 0xDC80, 0xDCFF)]
            for a, b in ((lo, min(hi, 0xD7FF)), (max(lo, 0xE000), hi)):
                if a <= b:
                    firsts.append((chr(a).encode("utf-8")[0], chr(b).encode("utf-8")[0]))
    if not firsts:
        return None
    byte_class = _byte_class(_norm(firsts))
    if max(b for _, b in firsts) < 0x80:
        return byte_class, byte_class
    return byte_class + _CONTINUATIONS, _CONTINUATIONS + byte_class


# code points by the bytes one takes in the text: an escaped invalid byte (U+DC80-U+DCFF) takes one
_WIDTH_SPANS = ((0, 0x7F, 1), (0x80, 0x7FF, 2), (0x800, 0xDC7F, 3), (0xDC80, 0xDCFF, 1),
                (0xDD00, 0xFFFF, 3), (0x10000, MAX_CODE, 4))


def _set_widths(charset: CharSet) -> tuple[int, int]:
    """The fewest and most bytes one character of the set takes: every width a range holds,
    not only its ends' (a range from U+0080 to U+DCFF holds three-byte characters)."""
    if charset.any_nonascii:
        return 1, 4  # an invalid byte is one character of one byte
    widths = [n for lo, hi in charset.ranges for a, b, n in _WIDTH_SPANS if lo <= b and hi >= a]
    return min(widths), max(widths)


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
    emitted = _emit_set(charset)
    if emitted is None:
        return _NEVER
    lo, hi = _set_widths(charset)
    byteset = 0
    for a, b in _intersect(charset.ranges, 0, 127):
        byteset |= ((1 << (b + 1)) - 1) ^ ((1 << a) - 1)
    wide = hi > 1 or charset.any_nonascii or bool(_intersect(charset.ranges, 128, MAX_CODE))
    if wide:
        byteset |= _HIGH_BYTES
    return Piece(emitted[0], lo, hi, any(a <= 10 <= b for a, b in charset.ranges), emitted[1],
                 byteset, wide)


class _Translator:
    def __init__(self, groups: dict[int, tuple[list[Any], int]]) -> None:
        self.groups = groups  # group number -> (its subpattern, its flags): for back references
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

    def node(self, op: Any, arg: Any, flags: int) -> Piece:  # noqa: C901 - one case per node kind
        from re import _constants as c  # type: ignore[attr-defined]

        if op is c.LITERAL:
            if flags & re.IGNORECASE:
                return _set_piece(_literal_set(arg, True, True))
            if 0xD800 <= arg <= 0xDFFF and not 0xDC80 <= arg <= 0xDCFF:
                return _NEVER  # a surrogate the text cannot hold
            raw = bytes([arg - 0xDC00]) if 0xDC80 <= arg <= 0xDCFF else chr(arg).encode("utf-8")
            byteset = 0
            for b in raw:
                byteset |= 1 << b
            return Piece(b"".join(b"\\x%02x" % b for b in raw), len(raw), len(raw), arg == 10,
                         b"".join(b"\\x%02x" % b for b in reversed(raw)), byteset)
        if op is c.NOT_LITERAL:
            return _set_piece(CharSet(_complement(((arg, arg),))))
        if op is c.ANY:
            everything = ((0, MAX_CODE),)
            return _set_piece(CharSet(everything if flags & re.DOTALL else _complement(((10, 10),))))
        if op is c.IN:
            return _set_piece(_class(list(arg), flags, True))
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
                flat = _byte_class(_bit_ranges(item.byteset))
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
class Plan:
    """How to find the places where `pattern` may match: see the module docstring."""

    expression: bytes
    mode: str  # "line" or "bounded"
    max_bytes: int | None
    before: int  # bytes of text a confirming window needs before a match's start
    database: Any  # block mode: where matches end
    starts: Any = None  # block mode, the reversed pattern: where in a short window matches start
    join_gap: int = 64  # candidate places closer than this are confirmed in one window
    reach: str = "line"  # "line" / "bounded": how far any attempt reads
    whole_max_bytes: int | None = None  # the longest match of the whole pattern
    lines_alone: bool = False  # no attempt reads past its line (nor before it, but its newline)


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
    last = len(items) - 1
    while last >= 0 and items[last][0] is c.AT:  # `\b`, `$`: the prefix before them will do
        last -= 1
    if last >= 0 and items[last][0] in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) \
            and (items[last][1][1] is c.MAXREPEAT or items[last][1][1] > items[last][1][0]):
        lo, _, sub = items[last][1]
        cut = items[:last] + ([(c.MAX_REPEAT, (lo, lo, sub))] if lo else [])
        prefix = _Translator({}).seq(cut, top_flags)
        if prefix.expr is not None and prefix.min_bytes > 0:
            starts = prefix
    return Translation(whole, starts, translator.lookbehind, translator.ahead_newline, translator.ahead_bytes,
                       literal_start, costly_start)


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


@functools.lru_cache(maxsize=64)
def _plan(pattern: str, flags: int) -> Plan | None:
    if pyperscan is None:
        return None
    try:
        found = translate(pattern, flags)
    except (Unsupported, RecursionError, re.error):
        return None
    piece, whole = found.starts, found.whole
    if piece.expr is None or piece.min_bytes == 0 or whole.min_bytes == 0:
        return None  # never matches, or may match empty (at every position): no use
    if not piece.newline:
        mode = "line"
    elif piece.max_bytes is not None:
        mode = "bounded"
    else:
        return None  # a match may run over lines without bound: nothing says where it starts
    database = _compile(piece.expr)
    if database is None:
        return None
    starts = _compile(piece.reversed) if found.costly_start else None
    # A window holds every attempt whole when an attempt (and its look-aheads) cannot read past
    # its line, or past the longest match: then Python's own `re` confirms there, exactly.
    # Otherwise no plan: confirming would need the regex engine's partial matching, whose
    # meaning differs from `re` in places (docs/dependencies.md), and its path is the old one anyway.
    if not whole.newline and not found.ahead_newline:
        reach, longest = "line", None
    elif whole.max_bytes is not None and found.ahead_bytes is not None:
        reach, longest = "bounded", whole.max_bytes + found.ahead_bytes
    else:
        return None
    return Plan(piece.expr, mode, piece.max_bytes, 4 * (found.lookbehind + 2), database, starts,
                join_gap=1024 if found.literal_start else 64, reach=reach, whole_max_bytes=longest,
                lines_alone=reach == "line" and found.lookbehind <= 1)


def _compile(expression: bytes) -> Any:
    """A Vectorscan (through `pyperscan`) block-mode database of one expression, or None where
    it cannot be compiled. Leftmost-start reporting (SOM) is never asked for: the starts of
    matches come from the reversed pattern run over a window's bytes backwards. (Stream mode is
    not used: Vectorscan missed matches there that block mode finds.)"""
    pattern = pyperscan.Pattern(expression, pyperscan.Flag.MULTILINE, pyperscan.Flag.DOTALL)
    try:
        return pyperscan.BlockDatabase(pattern)
    except Exception:  # noqa: BLE001 - too large, or a limit of Hyperscan's: no fast path
        return None


@functools.lru_cache(maxsize=64)
def literal(needle: bytes) -> Any:
    """A block-mode database that reports every occurrence of `needle` (its end), or None
    without Vectorscan."""
    if pyperscan is None or not needle:
        return None
    return _compile(b"".join(b"\\x%02x" % byte for byte in needle))


def scan(scanner: Any, buffer: Any, a: int, b: int) -> None:
    """Run a block-mode scanner over bytes [a, b) of a map (in place) or of anything else that
    slices into bytes (the parts of a mapped directory: in place where the block lies in one
    part, else copied into one block)."""
    one = buffer.within_one(a, b) if hasattr(buffer, "within_one") else None
    if one is not None and isinstance(one[0], mmap.mmap):
        buffer, a, b = one
    if isinstance(buffer, mmap.mmap):
        with memoryview(buffer) as whole, whole[a:b] as view:
            scanner.scan(view)
    else:
        scanner.scan(buffer[a:b])


@functools.lru_cache(maxsize=1)
def line_breaks() -> Any:
    """A block-mode database of the line breaks of `str.splitlines` but \\n, and of \\r\\n
    (reported at its \\n), or None without Vectorscan."""
    if pyperscan is None:
        return None
    return _compile(rb"\r\n|[\r\x0b\x0c\x1c-\x1e]|\xc2\x85|\xe2\x80[\xa8\xa9]")


@functools.lru_cache(maxsize=1)
def high_lines() -> Any:
    """A block-mode database that reports each line holding a byte above 0x7f once, at the
    end of its \n, or None without Vectorscan."""
    if pyperscan is None:
        return None
    return _compile(rb"[\x80-\xff][^\n]*\n")


def plan(compiled: re.Pattern) -> Plan | None:
    """The fast engine's plan for a compiled str pattern, or None (see the module docstring)."""
    if not isinstance(compiled.pattern, str):
        return None
    return _plan(compiled.pattern, compiled.flags)
