"""The fast path of a regex scan over a mapped corpus: Vectorscan says where matches may be,
Python's own `re` confirms there (runs inside the kernel).

Vectorscan (through `pyperscan`, block mode) runs the pattern's byte-level superset
(`sandbox/kernel/prefilter.py`) over blocks of the map, 1 MiB first and growing 4x up to 64 MiB
(a search that finds its match early reads little), and reports where matches may end. Each end
gives a range of places where such a match may start (its line, or the pattern's longest match).

Two ways to confirm, both giving exactly the matches `re.finditer` gives on the whole text:
- **Lines in a batch.** Where no attempt of the pattern reads past its own line (it cannot match
  a newline, look-aheads cannot read one, look-behinds read at most the one character before
  it), the matches of the whole text are the matches of its candidate lines: those lines (each
  no longer than `BATCH_LINE`) are joined by newlines into one text, as they are in the corpus,
  and one `finditer` runs over it. This is what makes dense patterns cheap: one call of `re`
  for thousands of candidates, not one per candidate.
- **Windows.** Otherwise (and for longer lines), each range of possible starts is searched in a
  window that holds every character an attempt from there may read (`plan.reach`: the rest of
  the line, or the longest match), so nothing needs growing. Within a window the search jumps to
  the places where a match may start (the reversed superset's matches): a search from every
  position of a line costs a pattern such as `\\w+ing` a backtracking attempt per position. A
  window whose line is longer than the corpus's `MAX_MATCH` is handed back (`giant`) to the
  corpus's windowed engine path.
"""

from __future__ import annotations

import array
import mmap
import re
from collections.abc import Callable, Generator, Iterator
from typing import Any

from sandbox.kernel import ascii_re2, literal_scan, prefilter
from sandbox.kernel.windows import LineBatch, Stretch, Window, char_start_after, char_start_before

FIRST_BLOCK = 1 << 20  # bytes the fast engine scans first (a search may stop there), growing 4x
LAST_BLOCK = 64 << 20  # up to this (the ends of one block are held as runs, see `_match_ends`)
COPIED_BLOCK = 8 << 20  # up to this where a block is copied (the parts of a mapped directory)
BATCH_LINE = 16 << 10  # a candidate line no longer than this is confirmed in a batch of lines
BATCH_BYTES = 1 << 20  # the text of candidate lines one `finditer` runs over, at most
WINDOW = 8 << 20  # the longest window a range of candidate starts is merged into

# The fast engine's reports stop being worth a Python call each where they are dense: a superset
# such as `[a-z]` (of `\\b[a-z]\\b`) ends at every letter, and Python's `re` runs over text far
# faster than one call a byte. Past DENSE_MIN reports, more than one in 32 bytes stops the scan
# for match ends (`re` confirms the rest of the block), one in 4 the search for starts.
DENSE_MIN = 4096
DENSE_AGAIN = 64  # reports enough to tell a block dense where the block before it was
# Where the pattern has an RE2 program (`ascii_re2`), ends denser than one in 2**ASCII_DENSE
# bytes already cost more (a Python step each, and `re` over their lines) than RE2 over every
# line of the rest of the block: those lines become a stretch (`_stretch`).
ASCII_DENSE = 9
STRETCH_MOST = 0.5  # the share of a stretch's bytes in lines above 0x7f past which it is not one
_STRETCH = (-1, -1)  # in the probes of a block: where the rest of it may become a stretch

_CONTINUE = prefilter.pyperscan.Scan.Continue if prefilter.pyperscan is not None else None
_TERMINATE = prefilter.pyperscan.Scan.Terminate if prefilter.pyperscan is not None else None

Giant = Callable[[int, int], Iterator[tuple[Any, Any]]]
Range = tuple[int, int, int, int]  # starts [x, z), the last reported end, the end of its line


def merged(ranges: list[Range], gap: int) -> Iterator[Range]:
    """Ranges [x, z) sorted and joined where they overlap or lie closer than `gap`, none longer
    than WINDOW unless one alone is; each keeps the largest of the two numbers that ride with
    its parts (the last reported match end, and the end of the line of the last one)."""
    current: list[int] | None = None
    for x, z, t, line_end in sorted(ranges):
        if current is not None and x <= current[1] + gap and max(z, current[1]) - current[0] <= WINDOW:
            current[1] = max(current[1], z)
            current[2] = max(current[2], t)
            current[3] = max(current[3], line_end)
            continue
        if current is not None:
            yield current[0], current[1], current[2], current[3]
        current = [x, z, t, line_end]
    if current is not None:
        yield current[0], current[1], current[2], current[3]


def _split(ranges: Iterator[Range]) -> Iterator[Range]:
    """Ranges no longer than WINDOW (the rest of a block where ends were dense is one range):
    the pieces but the last know no line end of their own (-1)."""
    for x, z, t, line_end in ranges:
        while z - x > WINDOW:
            yield x, x + WINDOW, t, -1
            x += WINDOW
        yield x, z, t, line_end


def pairs(compiled: re.Pattern, piece: Any) -> Iterator[tuple[Any, Any]]:
    """The (window, match) pairs of a piece of a scan: itself, or every match of a batch or a
    stretch."""
    if type(piece) is LineBatch:
        return ((piece, m) for m in compiled.finditer(piece.text, piece.enter_char))
    if type(piece) is Stretch:
        return piece.pairs(compiled)
    return iter((piece,))


class FastScan:
    """The fast path over one map (`mm`, `size` bytes) for one compiled pattern and its plan."""

    def __init__(self, mm: Any, size: int, compiled: re.Pattern, plan: prefilter.Plan,
                 giant: Giant, max_match: int) -> None:
        self._mm, self._size, self._compiled, self._plan = mm, size, compiled, plan
        self._giant, self._max_match = giant, max_match
        self._ascii = ascii_re2.program(compiled) if plan.lines_alone else None
        self._dense = False  # whether the last block's ends came dense

    def matches(self, start: int, limit: int) -> Iterator[tuple[Any, Any]]:
        """The matches of `compiled.finditer(text, start, limit)` in order, each with the
        window or batch it was found in (its `byte_of` gives corpus offsets)."""
        for piece in self.pieces(start, limit):
            yield from pairs(self._compiled, piece)

    def pieces(self, start: int, limit: int) -> Iterator[LineBatch | Stretch | tuple[Any, Any]]:
        """What `matches` gives, with the matches of a batch of lines or a stretch left to the
        caller (`pairs` gives them; `findall` takes a batch's or a stretch's values at once)."""
        if self._plan.lines_alone:
            return self._by_lines(start, limit)
        return self._by_windows(start, limit)

    def _by_lines(self, start: int, limit: int) -> Iterator[LineBatch | Stretch | tuple[Any, Any]]:
        mm = self._mm
        batch = LineBatch(mm, limit)
        line_end, long_line = -1, False  # the line of the last end looked at
        for a, b, runs, data_end, dense in self._blocks(start, limit):
            long_ends = array.array("q")  # runs of the ends on long lines
            for first, t in self._probes(runs, dense):
                if first < 0:  # the rest of the block may be a stretch of lines
                    stretch = self._stretch(line_end + 1, data_end, limit)
                    if stretch is None:
                        continue
                    if long_ends:
                        start = yield from self._windows(self._ranges(long_ends, a, b, data_end), start, limit)
                        long_ends = array.array("q")
                    if batch:
                        yield batch.close()
                        batch = LineBatch(mm, limit)
                    yield stretch
                    line_end = data_end - 1 if mm[data_end - 1] == 10 else data_end
                    long_line = False
                    break
                if t <= line_end:  # the same line (a match cannot hold its newline)
                    if long_line:
                        long_ends.extend((first, t))
                    continue
                if long_ends:
                    start = yield from self._windows(self._ranges(long_ends, a, b, data_end), start, limit)
                    long_ends = array.array("q")
                newline = mm.find(b"\n", t - 1, data_end)
                line_end = data_end if newline == -1 else newline
                lowest = max(0, t - BATCH_LINE)
                before = mm.rfind(b"\n", lowest, t)
                line_start = before + 1 if before != -1 or lowest == 0 else -1
                long_line = line_start < 0 or line_end - line_start > BATCH_LINE
                if long_line:
                    long_ends.extend((first, t))
                    if batch:
                        yield batch.close()
                        batch = LineBatch(mm, limit)
                    continue
                enter = max(start, line_start)
                if batch and (enter > line_start or batch.size >= BATCH_BYTES):
                    yield batch.close()
                    batch = LineBatch(mm, limit)
                batch.add(line_start, enter, line_end)
            if long_ends:
                start = yield from self._windows(self._ranges(long_ends, a, b, data_end), start, limit)
            if batch:  # each block's matches before the next block is read (a search stops early)
                yield batch.close()
                batch = LineBatch(mm, limit)

    def _probes(self, runs: array.array, dense: bool) -> Iterator[tuple[int, int]]:
        """The line probes of a block's runs (`_line_probes`). Where the ends came dense (the last
        run reaches the block's end) and the pattern has an RE2 program, the dense run's first
        line, then `_STRETCH`, then (if the stretch was not taken) the rest of its lines."""
        if not dense or self._ascii is None:
            yield from self._line_probes(runs)
            return
        first, last = runs[-2], runs[-1]
        newline = self._mm.find(b"\n", first - 1, last)  # the dense run's first line, whole
        yield from self._line_probes(runs[:-2] + array.array("q", (first, last if newline == -1 else newline)))
        yield _STRETCH
        yield from self._line_probes(runs[-2:])

    def _stretch(self, lo: int, hi: int, limit: int) -> Stretch | None:
        """The lines [lo, hi) (lo a line start; hi past a newline, or the limit) as a `Stretch`
        (RE2 finds the matches of its ASCII lines, `re` those of the others); None where the
        lines above 0x7f are long or most of the text (the candidate lines alone are
        confirmed then)."""
        mm, program = self._mm, self._ascii
        if program is None or lo >= hi or (hi < limit and mm[hi - 1] != 10):
            return None
        # RE2 reads the bytes before a search's start as context: the buffer's must be the
        # corpus's (the byte before `lo`), or there must be none (lo = 0, the buffer's start)
        one = mm.within_one(lo - 1, hi) if lo > 0 and hasattr(mm, "within_one") else None
        if isinstance(mm, mmap.mmap):
            buffer, base = mm, 0
        elif one is not None:
            buffer, base = one[0], lo - 1 - one[1]
        else:  # copied, from the byte before
            buffer, base = mm[max(0, lo - 1):hi], max(0, lo - 1)
        lines = literal_scan.high_lines(buffer, lo - base, hi - base, STRETCH_MOST, BATCH_LINE)
        if lines is None:  # long lines above 0x7f, or mostly such lines
            return None
        if mm[hi - 1] != 10:  # the last line ends at the scan's limit: RE2 would read the bytes
            # past it as context (for `\b` and `$`), so `re` takes that line alone, as a text
            last = buffer.rfind(b"\n", lo - base, hi - base) + 1 or lo - base
            if hi - base - last > BATCH_LINE:
                return None
            if not lines or lines[-2] != last:
                lines.extend((last, hi - base))
        if program.long_line(buffer, lo - base, hi - base):  # one RE2 call would be too long
            return None
        return Stretch(buffer, base, lo, hi, program, lines)

    def _line_probes(self, runs: array.array) -> Iterator[tuple[int, int]]:
        """For each run of reported ends (`_match_ends`), each non-empty line from its first
        end's line to its last end's, as the first and the last place a match may end in it
        (within the run): a line between two ends of a run may hold a match whose end was
        folded into the run."""
        mm = self._mm
        for i in range(0, len(runs), 2):
            t, last = runs[i], runs[i + 1]
            while True:
                newline = mm.find(b"\n", t - 1, last)
                if newline == -1:
                    yield t, last
                    break
                yield t, newline
                t = newline + 2
                while t - 1 < last and mm[t - 1] == 10:  # an empty line holds no match
                    t += 1
                if t > last:
                    break

    def _by_windows(self, start: int, limit: int) -> Iterator[LineBatch | tuple[Any, Any]]:
        for a, b, runs, data_end, _ in self._blocks(start, limit):
            start = yield from self._windows(self._ranges(runs, a, b, data_end), start, limit)

    def _ranges(self, runs: array.array, a: int, b: int, data_end: int) -> Iterator[Range]:
        """The ranges of possible starts of one block, merged into what one window each confirms
        (`_windows` then confirms the ranges that start within a window's text in it)."""
        return merged(self._starts(runs, a, b, data_end), self._plan.join_gap)

    def _windows(self, ranges: Iterator[Range], start: int, limit: int) -> Generator[tuple[Any, Any], None, int]:
        """The matches that start in the ranges (in order, none before `start`), each searched in
        its window; returns where the next search starts."""
        mm, plan, compiled = self._mm, self._plan, self._compiled
        line_reach = plan.reach == "line"
        pieces = _split(ranges)
        pending: Range | None = None
        while True:
            if pending is None:
                pending = next(pieces, None)
                if pending is None:
                    return start
            (x, z, reported, line_end), pending = pending, None
            if z <= start:
                continue
            line_end = self._own_line_end(z, line_end, limit)
            pos = self._boundary_after(start if x < start else x)
            accept = self._boundary_after(z) if z < limit and mm[z] & 0xC0 == 0x80 else z
            if pos >= accept:
                continue
            tail = self._tail(accept, line_end, limit)
            # The next ranges that start within this window's text are confirmed in it: a window
            # of their own would decode and search the rest of a long line (or the longest match)
            # again per range, quadratic in a long line's length.
            while tail - pos <= self._max_match and (pending := next(pieces, None)) is not None \
                    and pending[0] < tail:
                z2, reported2, line_end2 = pending[1], pending[2], self._own_line_end(pending[1], pending[3], limit)
                wider = self._boundary_after(z2) if z2 < limit and mm[z2] & 0xC0 == 0x80 else z2
                further = tail if line_reach and line_end2 == line_end else self._tail(wider, line_end2, limit)
                if further != tail and (wider - pos > WINDOW or further - pos > self._max_match):
                    break
                accept, tail, line_end = max(accept, wider), further, line_end2
                reported, pending = max(reported, reported2), None
            if tail - pos > self._max_match:  # a giant line: the windows of the engine's path, not one
                last_end = accept
                for window, m in self._giant(pos, limit):
                    if window.byte_of(m.start()) >= accept:
                        break
                    last_end = window.byte_of(m.end())
                    yield window, m
                start = max(accept, last_end)
                continue
            window = Window(mm, self._boundary(max(0, pos - plan.before)), pos, accept, tail)
            accept_char = window.accept_char if accept < limit else len(window.text) + 1
            # Every match ends at or after a reported end (the fast engine's pattern is a superset
            # of a prefix of the pattern's) that lies past the match's start: once a match ends
            # at or after the range's last reported end, no other match starts in the range.
            last_char = window.char_of(self._boundary_after(reported)) if reported < tail else len(window.text)
            jumps = self._match_starts(pos, tail)
            last: Any = None
            if jumps is None:
                for m in compiled.finditer(window.text, window.start_char):
                    if m.start() >= accept_char:
                        break
                    last = m
                    yield window, m
                    if m.end() >= last_char:
                        break
            else:
                at, k = window.start_char, 0
                while True:  # from the next place a match may start, at or after `at`
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
                    if m.end() >= last_char:
                        break
                    at = m.end()
            start = max(accept, window.byte_of(last.end()) if last is not None else accept)

    def _own_line_end(self, z: int, line_end: int, limit: int) -> int:
        """The newline ending the line of byte z - 1 (line reach), where a range does not say."""
        if self._plan.reach != "line" or line_end >= z - 1:
            return line_end
        newline = self._mm.find(b"\n", z - 1, limit)  # a piece of a long range (`_split`)
        return limit if newline == -1 else newline

    def _tail(self, accept: int, line_end: int, limit: int) -> int:
        """Where the text every attempt starting before `accept` may read ends: past its line's
        end and one character more (for `$` and `\\b`), or past the longest match."""
        if self._plan.reach == "line":
            return limit if line_end >= limit else min(limit, self._boundary_after(min(line_end + 5, self._size)))
        tail = accept + self._plan.whole_max_bytes + 4  # type: ignore[operator]
        return limit if tail >= limit else self._boundary_after(tail)

    def _match_starts(self, a: int, b: int) -> list[int] | None:
        """The sorted offsets in [a, b) where a match lying within bytes [a, b) may start: the
        ends of the reversed superset's matches over the window's bytes read backwards. None
        without such a database (every position is then tried)."""
        if self._plan.starts is None:
            return None
        found = array.array("q")
        most = max(DENSE_MIN, (b - a) >> 2)  # a start in 4 bytes: trying every position is no worse

        def on_match(_ctx: Any, _id: int, _begin: int, end: int) -> Any:
            found.append(b - end)
            return _CONTINUE if len(found) <= most else _TERMINATE

        self._plan.starts.build(None, on_match).scan(self._mm[a:b][::-1])  # a short window: copied
        if len(found) > most:  # starts nearly everywhere (a set of them held 600 MiB a window)
            return None
        found.reverse()  # reported backwards, each offset once
        return found  # type: ignore[return-value]

    def _blocks(self, start: int, limit: int) -> Iterator[tuple[int, int, array.array, int, bool]]:
        """Blocks [a, b) from `start` to `limit`, growing in size, each with the runs of match
        ends the fast engine reports over it and whether they came dense (`_match_ends`), and
        what a match starting in it may reach past its end (the rest of its line, or the
        pattern's longest match), up to `data_end`."""
        mm, plan = self._mm, self._plan
        a, block = start, FIRST_BLOCK
        last = LAST_BLOCK if isinstance(mm, mmap.mmap) else COPIED_BLOCK
        part_end = getattr(mm, "part_end", None)  # a mapped directory: blocks end where files do,
        while a < limit:  # so that most lie in one file and are scanned in place, not copied
            b = min(limit, a + block)
            if part_end is not None and a < part_end(a) < b:
                b = part_end(a)
            if plan.mode == "bounded":
                data_end = min(limit, b + plan.max_bytes)  # type: ignore[operator]
            else:  # the rest of the line, but no further than a match may run (a longer one, on a
                # giant line, is the engine path's: see `_windows`)
                reach = min(limit, b + self._max_match)
                newline = mm.find(b"\n", b - 1, reach) if b < limit else -1
                data_end = reach if newline == -1 else newline + 1
            runs, dense = self._match_ends(a, data_end)
            yield a, b, runs, data_end, dense
            a, block = b, min(block * 4, last)

    def _match_ends(self, a: int, b: int) -> tuple[array.array, bool]:
        """Vectorscan over bytes [a, b): the offsets (in the corpus) of the reported match ends,
        as runs: the first and the last end of each run of ends that lie closer than the plan's
        join gap (their start ranges would be joined anyway), spanning at most WINDOW bytes. A
        flat array, not an object per end: a superset such as `a` (of `(?<=Q)a`) ends at every
        byte of a block of up to 64 MiB, and a list of them held 150 bytes a byte of text. Where
        the ends come denser than one in 32 bytes (DENSE_MIN) the scan stops, and the last run
        reaches `b`: every match from there may start in the rest of the block (a match ending
        later starts no earlier than that run's start bound), and `re` confirms it. With an RE2
        program, the scan stops at one end in 2**ASCII_DENSE bytes. Also returns whether it
        stopped so."""
        runs = array.array("q")
        gap, span = self._plan.join_gap, WINDOW
        count = [0]
        shift = 5 if self._ascii is None else ASCII_DENSE
        least = DENSE_AGAIN if self._dense else DENSE_MIN  # the blocks of a folder's files are small

        def on_match(_ctx: Any, _id: int, _begin: int, end: int) -> Any:
            t = a + end
            count[0] += 1
            if count[0] > least and count[0] > (t - a) >> shift:
                runs[-1] = b
                return _TERMINATE
            if runs and 0 <= t - runs[-1] <= gap and t - runs[-2] <= span:
                runs[-1] = t
            elif runs and t < runs[-1]:  # out of order (not seen): fold it into the last run
                runs[-2] = min(runs[-2], t)
            else:
                runs.append(t)
                runs.append(t)
            return _CONTINUE

        prefilter.scan(self._plan.database.build(None, on_match), self._mm, a, b)
        self._dense = bool(runs) and runs[-1] == b and count[0] > least
        return runs, self._dense

    def _starts(self, runs: array.array, a: int, b: int, data_end: int) -> list[Range]:
        """Where the matches ending in each run of reported ends may start (from where its first
        end says to its last end), clipped to [a, b), each range with its last reported end and
        (line mode) the offset of the newline ending that end's line (or the end of the data)."""
        mm, plan = self._mm, self._plan
        out: list[Range] = []
        widest = plan.max_bytes
        line_start, line_end = a, a  # the line of the last end looked at
        for i in range(0, len(runs), 2):
            t, last = runs[i], runs[i + 1]
            if plan.mode == "bounded":
                x = max(a, t - widest)
            else:
                if t - 1 >= line_end:
                    line_start = mm.rfind(b"\n", a, t) + 1 or a
                    newline = mm.find(b"\n", t - 1, data_end)
                    line_end = data_end if newline == -1 else newline
                x = max(line_start, a) if widest is None else max(line_start, a, t - widest)
                if last - 1 >= line_end:
                    newline = mm.find(b"\n", last - 1, data_end)
                    line_start, line_end = mm.rfind(b"\n", a, last) + 1 or a, data_end if newline == -1 else newline
            if x < b:
                out.append((x, min(last, b), last, line_end))
        return out

    def _boundary_after(self, pos: int) -> int:
        """Move pos forward to the start of a character, as the text is decoded."""
        return char_start_after(self._mm, self._size, pos)

    def _boundary(self, pos: int) -> int:
        """Move pos back to the start of the character it falls in, as the text is decoded."""
        return char_start_before(self._mm, self._size, pos)
