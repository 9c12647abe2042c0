"""A fast engine's plan for a Python regular expression (runs inside the kernel).

A scan of a Corpus (`re.findall(p, context)`) must give exactly what Python's `re` gives on the
same text as a `str`, but Python's engines try every position of a multi-GiB text one by one.
A pattern is turned into a *byte-level superset* of it (`pattern_superset.translate`) for
Hyperscan (a SIMD DFA/literal engine, here Vectorscan through `pyperscan`): every Python match
lies where Hyperscan reports one; the Corpus then runs the real pattern (Python's `re`) over
those places only.

How a reported end is turned into the place where a Python match may start (`Plan.mode`):
- "line": the superset cannot match a newline, so a match lies within one line (most patterns);
- "bounded": its matches are at most `max_bytes` long;
- neither: no plan (the regex engine's own path).
Within a short window, the reversed superset run over the window's bytes backwards reports the
offsets where a match may start, so the regex engine tries those positions only.

Where a set of the superset holds ASCII characters and a few others (`(?i)k` is also U+212A),
the database Vectorscan runs is the superset with those sets cut to their ASCII part, beside
each of the few characters as a literal of its own (`_compile_split`): a lead byte followed by
any continuation bytes keeps Vectorscan from reducing an alternation of words to literals.

`plan(compiled)` is None where no superset helps: a pattern that can match the empty string,
one Hyperscan cannot compile, or no Hyperscan in this Python (the Corpus then scans as before).
The other block-mode databases the scans use (`literal`, `line_breaks`, `high_lines`) are
built here too, and `scan` runs one over a buffer.
"""

from __future__ import annotations

import functools
import mmap
import re
from dataclasses import dataclass
from typing import Any

from sandbox.kernel.pattern_charsets import Unsupported
from sandbox.kernel.pattern_superset import translate

try:  # optional at import time: without it every scan takes the regex engine's own path
    import pyperscan
except ImportError:  # pragma: no cover - pyperscan is a dependency; kept for a broken install
    pyperscan = None  # type: ignore[assignment]


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
    database = _compile_split(*found.split) if found.split is not None else None
    if database is None:
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


def _compile_split(expression: bytes, rare: list[bytes]) -> Any:
    """A block-mode database of an ASCII-only expression and, beside it, each of a few
    non-ASCII characters as a literal of its bytes (`pattern_superset.Translation.split`): what
    Vectorscan reports is then a superset of a starts superset's ends as far as the scan needs,
    a place after each match's start and no later than its end. None where it cannot be
    compiled (the one expression is used then)."""
    patterns = [pyperscan.Pattern(expression, pyperscan.Flag.MULTILINE, pyperscan.Flag.DOTALL, tag=0)]
    patterns += [pyperscan.Pattern(_escaped(raw), tag=k + 1) for k, raw in enumerate(rare)]
    try:
        return pyperscan.BlockDatabase(*patterns)
    except Exception:  # noqa: BLE001 - a limit of Hyperscan's: the one expression
        return None


@functools.lru_cache(maxsize=64)
def literal(needle: bytes) -> Any:
    """A block-mode database that reports every occurrence of `needle` (its end), or None
    without Vectorscan."""
    if pyperscan is None or not needle:
        return None
    return _compile(_escaped(needle))


def _escaped(raw: bytes) -> bytes:
    """An expression matching the bytes `raw` literally."""
    return b"".join(b"\\x%02x" % byte for byte in raw)


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
