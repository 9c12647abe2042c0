"""The character sets of a pattern for its byte-level superset (runs inside the kernel): sets as
sorted, disjoint, inclusive code-point ranges (`CharSet`), what a class, a category or a
literal matches (with Python's case folding), and a set as the byte class its characters'
UTF-8 encodings begin with (`emit_set`), with the bytes one character takes (`set_widths`).
`Unsupported` says a construct has no translation (see `pattern_superset`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

MAX_CODE = 0x10FFFF
_CONTINUATIONS = rb"[\x80-\xbf]*"  # the rest of a character (unbounded: see `pattern_superset._repeat`)


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


def complement(ranges: Ranges) -> Ranges:
    out, pos = [], 0
    for lo, hi in ranges:
        if lo > pos:
            out.append((pos, lo - 1))
        pos = hi + 1
    if pos <= MAX_CODE:
        out.append((pos, MAX_CODE))
    return tuple(out)


def intersect(ranges: Ranges, lo: int, hi: int) -> Ranges:
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
        ascii_part = intersect(complement(ascii_part), 0, 127)
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


def class_set(items: list[Any], flags: int, want_superset: bool) -> CharSet:
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
            parts.append(literal_set(arg, ignore_case, inner_superset))
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
    return CharSet(complement(inner.ranges))


def literal_set(code: int, ignore_case: bool, want_superset: bool) -> CharSet:
    if ignore_case and want_superset:
        return CharSet(_norm([(p, p) for p in _case_partners(code)]))
    return CharSet(((code, code),))


def bit_ranges(bits: int) -> list[tuple[int, int]]:
    """The bytes of a bit set, as inclusive ranges."""
    out: list[tuple[int, int]] = []
    for b in range(256):
        if bits >> b & 1:
            if out and out[-1][1] == b - 1:
                out[-1] = (out[-1][0], b)
            else:
                out.append((b, b))
    return out


def class_of_bytes(pairs: list[tuple[int, int]] | Ranges) -> bytes:
    body = b"".join(b"\\x%02x" % a if a == b else b"\\x%02x-\\x%02x" % (a, b) for a, b in pairs)
    return b"[" + body + b"]"


def emit_set(charset: CharSet) -> tuple[bytes, bytes] | None:
    """The set as a byte-level pattern matching one character of the text, and the same for the
    text read backwards (None: no character): one class of the bytes such a character may
    begin with, then any continuation bytes. Not the exact UTF-8 sequences: Vectorscan missed
    matches of patterns made of alternations of them (an ASCII text, `aaaaaaa aaa aaaa`, lost
    the second `aaa ` of `[\\w\\u212a-\\udc80][^\\xff-\\ue000\\n][\\x1f-\\u212a\\w] `)."""
    firsts = list(intersect(charset.ranges, 0, 127))
    upper = intersect(charset.ranges, 128, MAX_CODE)
    if charset.any_nonascii or _size(upper) > (MAX_CODE - 127) // 2:
        firsts.append((0x80, 0xFF))
    else:
        for lo, hi in upper:
            # an invalid byte of the file is the character U+DC80 + byte (surrogateescape)
            firsts += [(a - 0xDC00, b - 0xDC00) for a, b in intersect(((lo, hi),), 0xDC80, 0xDCFF)]
            for a, b in ((lo, min(hi, 0xD7FF)), (max(lo, 0xE000), hi)):
                if a <= b:
                    firsts.append((chr(a).encode("utf-8")[0], chr(b).encode("utf-8")[0]))
    if not firsts:
        return None
    byte_class = class_of_bytes(_norm(firsts))
    if max(b for _, b in firsts) < 0x80:
        return byte_class, byte_class
    return byte_class + _CONTINUATIONS, _CONTINUATIONS + byte_class


RARE_MOST = 8  # non-ASCII members a set may have for `rare_members` to split them off


def rare_members(charset: CharSet) -> tuple[CharSet, list[bytes]] | None:
    """A set of some ASCII characters and a few others (at most RARE_MOST: the case partners
    `(?i)` adds, K for k, ſ for s, İ and ı for i), as its ASCII part and the bytes each
    other member takes in the text; None for any other set. The lead byte of a partner stands
    in a superset as that byte then any continuation bytes, which Vectorscan cannot reduce to
    literals: `(?i)(?:error|warning|timeout|failed)` scanned at 0.8 GB/s, its ASCII part at
    2.7 GB/s, beside the partners as literals of their own (see `prefilter`)."""
    if charset.any_nonascii:
        return None
    ascii_part = intersect(charset.ranges, 0, 127)
    upper = intersect(charset.ranges, 128, MAX_CODE)
    if not ascii_part or not upper or _size(upper) > RARE_MOST:
        return None
    members = []
    for lo, hi in upper:
        for code in range(lo, hi + 1):
            if 0xDC80 <= code <= 0xDCFF:  # an invalid byte of the file (surrogateescape)
                members.append(bytes([code - 0xDC00]))
            elif not 0xD800 <= code <= 0xDFFF:  # no other surrogate is in a decoded text
                members.append(chr(code).encode("utf-8"))
    return CharSet(ascii_part), members


# code points by the bytes one takes in the text: an escaped invalid byte (U+DC80-U+DCFF) takes one
_WIDTH_SPANS = ((0, 0x7F, 1), (0x80, 0x7FF, 2), (0x800, 0xDC7F, 3), (0xDC80, 0xDCFF, 1),
                (0xDD00, 0xFFFF, 3), (0x10000, MAX_CODE, 4))


def set_widths(charset: CharSet) -> tuple[int, int]:
    """The fewest and most bytes one character of the set takes: every width a range holds,
    not only its ends' (a range from U+0080 to U+DCFF holds three-byte characters)."""
    if charset.any_nonascii:
        return 1, 4  # an invalid byte is one character of one byte
    widths = [n for lo, hi in charset.ranges for a, b, n in _WIDTH_SPANS if lo <= b and hi >= a]
    return min(widths), max(widths)
