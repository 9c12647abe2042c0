"""RE2 running a Python pattern over ASCII lines with Python's meaning (runs inside the kernel).

Python's `re` backtracks from every position of a text; for a dense pattern such as
`\\b\\w+tion\\b` (a match every 250 bytes) that is most of a scan's time. RE2 runs the same
kind of pattern as a DFA, several times faster, with the same leftmost-first choice of match
(the alternative and repeat count a backtracking engine would take). Their meanings differ
elsewhere: RE2's `\\b`, `\\w` and case folding are ASCII or Unicode in other ways than Python's,
`$` and `^` differ, and RE2 has no look-arounds or back references.

So this translation is exact on ASCII text only, and refuses what it cannot make exact:
- each character test (a literal, a class, `.`, `\\w`, a literal under `(?i)`) becomes the set
  of ASCII bytes that Python's own `re` says the test matches (all 128 tried), whatever the
  flags; no non-ASCII byte is in any set;
- `\\b` and `\\B` are RE2's (on ASCII text the same as Python's, Unicode or not);
- `^` and `$` only in multi-line mode (RE2's are then Python's: a line start or end);
- groups, alternations, greedy and lazy repeats as they are; repeats of something that can
  match empty, and everything else (look-arounds, back references, atomic groups, possessive
  repeats, `\\A`, `\\Z`, `^` and `$` without `re.M`), are refused: None.
The caller runs RE2 only over lines with no byte above 0x7f, and Python's `re` over the others.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

try:  # optional at import time: without it dense scans confirm with Python's `re` as before
    import re2 as _re2_module
    from re2 import _re2
except ImportError:  # pragma: no cover - google-re2 is a dependency; kept for a broken install
    _re2_module = None
    _re2 = None

_RE2_MAX_REPEAT = 1000  # RE2 refuses a repeat count above this
_MAX_PROGRAM = 1 << 15  # characters of translated pattern
# Where RE2's DFA outgrows its memory (`a[ab]{1000}c` on a/b text) RE2 runs its NFA: about 5 ns a
# byte per instruction of the program, in one C++ call that SIGINT cannot stop (the host kills
# the kernel a few seconds after its interrupt). A call is given at most WORK // instructions
# bytes of whole lines (about 0.3 s at worst), and no line longer than that (see `long_line`).
WORK = 1 << 26


class _Refused(Exception):
    """The pattern has a construct this translation cannot make exact."""


class AsciiProgram:
    """A compiled RE2 program whose matches on ASCII text are Python's (see the module
    docstring): `spans(buffer, pos, endpos)` gives the (start, end) of each match, in order,
    as `re.finditer` would over those bytes decoded (bytes before `pos` are context for `\\b`
    and `^`)."""

    __slots__ = ("_match", "_unanchored", "groups", "step")

    def __init__(self, regexp: Any, groups: int) -> None:
        self._match = regexp.Match
        self._unanchored = _re2.RE2.Anchor.UNANCHORED
        self.groups = groups
        # the bytes one call may search (then up to the end of the line there)
        self.step = max(1 << 12, WORK // max(1, regexp.ProgramSize(), regexp.ReverseProgramSize()))

    @property
    def search(self) -> tuple[Any, Any]:
        """RE2's own call and its unanchored mode: `call(mode, buffer, pos, endpos)[0]` is the
        span of the first match in [pos, endpos), or (-1, -1)."""
        return self._match, self._unanchored

    def spans(self, buffer: Any, pos: int, endpos: int) -> Iterator[tuple[int, int]]:
        match, unanchored, step = self._match, self._unanchored, self.step
        while pos < endpos:
            # a call over whole lines of about `step` bytes: no match holds a newline
            stop = endpos if endpos - pos <= step else buffer.find(b"\n", pos + step, endpos) + 1 or endpos
            found = match(unanchored, buffer, pos, stop)[0]
            if found[0] < 0:
                pos = stop
                continue
            yield found
            pos = found[1]  # never an empty match: refused (the pattern's least width is > 0)

    def long_line(self, buffer: Any, pos: int, endpos: int) -> bool:
        """Whether a line of bytes [pos, endpos) of `buffer` (pos a line start) is longer than
        one call may search (`step`); a step of `step` bytes each."""
        step = self.step
        while endpos - pos > step:
            newline = buffer.rfind(b"\n", pos, pos + step + 1)
            if newline == -1:
                return True
            pos = newline + 1
        return False


_SETS: dict[tuple[Any, str, int], bytes] = {}  # a long alternation of words tests the same letters
_MAX_SETS = 4096  # thousands of times, at 128 trials each: each test's set once


def _char_set(op: Any, arg: Any, flags: int) -> bytes:
    """The RE2 class of the ASCII characters one character test matches, asked of Python."""
    key = (op, repr(arg), flags)
    found = _SETS.get(key)
    if found is None:
        if len(_SETS) >= _MAX_SETS:
            _SETS.clear()
        found = _SETS[key] = _ascii_class(op, arg, flags)
    return found


def _ascii_class(op: Any, arg: Any, flags: int) -> bytes:
    from re import _compiler, _parser  # type: ignore[attr-defined]

    state = _parser.State()
    state.flags = flags
    test = _compiler.compile(_parser.SubPattern(state, [(op, arg)]), flags)
    members = [code for code in range(128) if test.fullmatch(chr(code))]
    if not members:
        return rb"[^\x00-\xff]"  # matches nothing
    out, i = [], 0
    while i < len(members):
        j = i
        while j + 1 < len(members) and members[j + 1] == members[j] + 1:
            j += 1
        out.append(b"\\x%02x" % members[i] + (b"-\\x%02x" % members[j] if j > i else b""))
        i = j + 1
    return b"[" + b"".join(out) + b"]"


class _Translator:
    def __init__(self) -> None:
        self.depth = 0

    def seq(self, items: list[Any], flags: int) -> bytes:
        self.depth += 1
        if self.depth > 100:
            raise _Refused("nested too deep")
        try:
            out = b""
            for op, arg in items:
                out += self.node(op, arg, flags)
                if len(out) > _MAX_PROGRAM:
                    raise _Refused("too long")
            return out
        finally:
            self.depth -= 1

    def node(self, op: Any, arg: Any, flags: int) -> bytes:
        from re import _compiler, _parser  # type: ignore[attr-defined]
        from re import _constants as c  # type: ignore[attr-defined]

        if op in (c.LITERAL, c.NOT_LITERAL, c.ANY, c.IN):
            return _char_set(op, arg, flags)
        if op is c.BRANCH:
            return b"(?:" + b"|".join(self.seq(list(a), flags) for a in arg[1]) + b")"
        if op is c.SUBPATTERN:
            group, add, remove, sub = arg
            # as re's compiler combines them: `(?a:...)` drops the Unicode flag (folding and
            # classes are then ASCII's), `(?u:...)` the ASCII one
            inner = self.seq(list(sub), _compiler._combine_flags(flags, add, remove))
            return (b"(?:" if group is None else b"(") + inner + b")"
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            lo, hi, sub = arg
            if _parser.SubPattern(_parser.State(), list(sub)).getwidth()[0] == 0:
                raise _Refused("a repeat of something that may match empty")  # engines differ there
            if lo > _RE2_MAX_REPEAT or (hi is not c.MAXREPEAT and hi > _RE2_MAX_REPEAT):
                raise _Refused("a repeat count RE2 refuses")
            bounds = b"{%d,}" % lo if hi is c.MAXREPEAT else b"{%d,%d}" % (lo, hi)
            return b"(?:" + self.seq(list(sub), flags) + b")" + bounds + (b"?" if op is c.MIN_REPEAT else b"")
        if op is c.AT:
            if arg is c.AT_BOUNDARY:
                return rb"\b"
            if arg is c.AT_NON_BOUNDARY:
                return rb"\B"
            if arg is c.AT_BEGINNING and flags & re.MULTILINE:
                return b"(?m:^)"
            if arg is c.AT_END and flags & re.MULTILINE:
                return b"(?m:$)"
        raise _Refused(str(op))


# Each program keeps its DFA's states (up to RE2's max_mem, 8 MiB) while it is cached: a few
# programs, so that the patterns of a session hold tens of MiB at most, not hundreds.
_PROGRAMS = 8


@functools.lru_cache(maxsize=_PROGRAMS)
def _program(pattern: str, flags: int) -> AsciiProgram | None:
    if _re2_module is None:
        return None
    from re import _parser  # type: ignore[attr-defined]

    try:
        parsed = _parser.parse(pattern, flags)
        if parsed.getwidth()[0] == 0:
            return None  # may match empty: RE2 and Python step past empty matches differently
        expression = _Translator().seq(list(parsed.data), parsed.state.flags)
    except (_Refused, RecursionError, re.error, OverflowError):
        return None
    if len(expression) > _MAX_PROGRAM:
        return None
    try:
        regexp = _latin1(expression)
    except Exception:  # noqa: BLE001 - a limit of RE2's: no program
        return None
    if not regexp.ok() or regexp.NumberOfCapturingGroups() != parsed.state.groups - 1:
        return None
    return AsciiProgram(regexp, regexp.NumberOfCapturingGroups())


def _latin1(expression: bytes) -> Any:
    options = _re2_module.Options()
    options.encoding = _re2_module.Options.Encoding.LATIN1
    options.log_errors = False
    options.max_mem = 8 << 20  # RE2's default, said here: see _PROGRAMS
    return _re2.RE2(expression, options)


def program(compiled: re.Pattern) -> AsciiProgram | None:
    """The RE2 program of a compiled str pattern, exact on ASCII text, or None."""
    if not isinstance(compiled.pattern, str):
        return None
    return _program(compiled.pattern, compiled.flags)
