"""Regular expressions over a Corpus (runs inside the kernel): a pattern's scan by the fast
engine's plan (`fast_scan`, `prefilter`), or over windows of decoded text with the `regex`
engine (a match that may go on past its window searched again over a larger one), the parts
of a whole-corpus scan on several cores, and the values `re.findall` keeps.
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sandbox.kernel import ascii_re2, fanout, prefilter
from sandbox.kernel import corpus_sizes as sizes
from sandbox.kernel.corpus_match import CorpusMatch, visible
from sandbox.kernel.fast_scan import FastScan, pairs
from sandbox.kernel.windows import LineBatch, Stretch, Window

_RE_FLAGS = ("IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII", "UNICODE", "LOCALE")


def regex_engine(compiled: re.Pattern) -> Any:
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


def match_value(groups: int) -> Callable[[Any], Any]:
    """What `re.findall` keeps of a match of a pattern with `groups` groups."""
    if groups == 0:
        return lambda m: visible(m.group())
    if groups == 1:
        return lambda m: visible(m.group(1) or "")
    return lambda m: tuple(visible(g or "") for g in m.groups())


def batch_values(compiled: re.Pattern, batch: LineBatch) -> list[Any]:
    """What `re.findall` gives over a batch of lines, as the user sees it."""
    program = ascii_re2.program(compiled) if batch.clean else None
    if program is not None:
        return _batch_values_re2(compiled, batch, program)
    found = compiled.findall(batch.text, batch.enter_char)
    if batch.clean:
        return found
    return [tuple(map(visible, v)) if isinstance(v, tuple) else visible(v) for v in found]


def _batch_values_re2(compiled: re.Pattern, batch: LineBatch, program: ascii_re2.AsciiProgram) -> list[Any]:
    """`batch_values` where the pattern has an RE2 program: RE2 finds the matches of each
    sequence of ASCII lines, `re` those of the others. Python's `re` tries every position of a
    candidate line (a `(?i)` alternation: 16 MB/s, half a dense scan's time); RE2 runs as a DFA.
    A pattern with a program has no look-around, `\\A`, `\\Z`, nor `^` / `$` outside multi-line
    mode, so a sequence read alone (up to its newline) gives the matches it gives in the batch."""
    text, found = batch.text, []
    value = match_value(compiled.groups) if compiled.groups else None
    for first, end, ascii_only in batch.groups():
        if not ascii_only:
            found.extend(compiled.findall(text, first, end + 1))
            continue
        head = text.rfind("\n", 0, first) + 1  # the line's start: RE2 reads the text before `first`
        raw = text[head:end].encode("ascii")
        if program.long_line(raw, 0, len(raw)):  # one RE2 call would be too long to interrupt
            found.extend(compiled.findall(text, first, end + 1))
            continue
        if value is None:
            found.extend([text[head + s:head + e] for s, e in program.spans(raw, first - head, len(raw))])
            continue
        values = []
        for s, e in program.spans(raw, first - head, len(raw)):
            m = compiled.match(text, head + s)
            if m is None or m.end() != head + e:  # never seen: Python's own matches of the sequence
                values = compiled.findall(text, first, end + 1)
                break
            values.append(value(m))
        found.extend(values)
    return found


class RegexScanning:
    """A Corpus scanned for a regular expression: by the fast engine's plan, else window by
    window with the regex engine, and in parts on several cores (a part of `Corpus`)."""

    __slots__ = ()
    _mm: Any
    _size: int

    if TYPE_CHECKING:
        def _boundary(self, pos: int) -> int: ...

        def _bound(self, pos: int | None, default: int) -> int: ...

    def _window(self, start: int, limit: int, reach: int) -> tuple[Window, int, int]:
        """The window searched from `start` (bytes; text up to `limit`), reaching `reach`
        bytes past its accepted region; returns it with its accepted end and its tail."""
        accept = limit if limit - start <= sizes.WINDOW else self._boundary(start + sizes.WINDOW)
        tail = limit if limit - accept <= reach else self._boundary(accept + reach)
        head = self._boundary(max(0, start - sizes.MARGIN))
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
        return FastScan(self._mm, self._size, compiled, plan, functools.partial(self._engine_scan, compiled),
                        sizes.MAX_MATCH)

    def _engine_scan(self, compiled: re.Pattern, start: int, limit: int) -> Iterator[tuple[Window, Any]]:
        """The regex engine's matches, window by window.

        The search runs with the `regex` engine's partial matching: a match that reaches the end
        of the window, or one that was still going when the window ran out, is searched again
        over a larger window, so a match is never cut or missed at a window's end."""
        engine, prefix = regex_engine(compiled), _literal_prefix(compiled)
        reach, skip_empty_at = sizes.MARGIN, -1
        while start <= limit:
            if prefix and reach == sizes.MARGIN:  # no match starts before the prefix's next occurrence
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
                    if reach >= sizes.MAX_MATCH:
                        raise ValueError(f"a match longer than {sizes.MAX_MATCH:,} bytes; narrow the pattern "
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
            start, reach = max(accept, resume), sizes.MARGIN

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

    def _first(self, compiled: re.Pattern, lo: int, hi: int, limit: int, pos: int) -> tuple | None:
        """The first match of a scan from `lo` (text up to `limit`) if it starts before `hi`, as
        `CorpusMatch.state()` (it travels from a forked part by pickle)."""
        for window, m in self._raw_scan(compiled, lo, limit):
            if window.byte_of(m.start()) >= hi:
                return None
            return CorpusMatch(m, window.byte_of, self, pos, limit, compiled).state()
        return None

    def _part(self, compiled: re.Pattern, lo: int, hi: int, limit: int, value: Callable[[Any], Any]) -> fanout.Part:
        """The values of the matches of a scan from `lo` (text up to `limit`) that start before
        `hi`, with the spans of the first ones and of the last (start offsets are worked out
        only where a match may start at `hi` or later, or its span is kept)."""
        values: list[Any] = []
        head: list[tuple[int, int]] = []
        last: tuple[Any, Any] | LineBatch | Stretch | None = None
        for piece in self._pieces(compiled, lo, limit):
            if type(piece) is LineBatch and piece.tail <= hi and len(head) >= fanout.HEAD:
                found = batch_values(compiled, piece)  # all of them, in one call
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
