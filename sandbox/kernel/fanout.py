"""Whole-corpus scans on every core (runs inside the kernel).

A Corpus scan (`re.findall` over it, `count`) is cut into one part per core; each part is
scanned in a forked child (the memory map and the page cache are shared; only the matches
travel back, pickled through a pipe) while this process scans the first. Splitting a
sequential scan changes nothing in its result: where a match crosses into the next part,
that part is rescanned from the match's end until it meets a match the part's own scan
found, after which the two agree (the scan from any position is deterministic).

If a child cannot be forked (the process limit), fails, or the scan is interrupted, the
children are killed and reaped and the caller scans sequentially.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Span = tuple[int, int, Any]  # (start byte, end byte, value)
__all__ = ["HEAD", "Part", "Span", "merge", "merge_count", "run_parts", "shared"]


def run_parts(work: Callable[[int], Any], parts: int) -> list[Any] | None:
    """[work(0), ..., work(parts - 1)]: part 0 here, the others in forked children. None if
    any child could not be forked or did not finish (the caller then works sequentially)."""
    children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    try:
        for k in range(1, parts):
            read_fd, write_fd = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                os.close(read_fd)
                os.close(write_fd)
                return None
            if pid == 0:  # the child: scan, send, exit without running any cleanup of the parent's
                status = 1
                try:
                    os.close(read_fd)
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    data = _dumps(work(k))
                    with os.fdopen(write_fd, "wb") as out:
                        out.write(data)
                    status = 0
                finally:
                    os._exit(status)
            os.close(write_fd)
            children.append((pid, read_fd))
        results = [work(0)]
        while children:
            pid, read_fd = children[0]
            with os.fdopen(read_fd, "rb") as inp:
                data = inp.read()
            children.pop(0)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                return None
            results.append(pickle.loads(data))
        return results
    finally:
        for pid, read_fd in children:  # interrupted or failed: nothing is left running
            with contextlib.suppress(OSError):
                os.close(read_fd)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


@dataclass
class Part:
    """What a part's scan found: every value, the spans of its first matches (to meet a rescan
    of it) and the span of its last match (None if it found none)."""

    values: Sequence[Any]  # a list, or range(n) where only how many counts
    head: list[tuple[int, int]]
    last: tuple[int, int] | None
    repeated: bool = False  # equal values are one object (`shared`)


def _dumps(result: Any) -> bytes:
    """A part's result as it goes through the pipe. Pickle's memo writes a repeated object
    once, which `shared` values need; for millions of distinct values it is most of the time
    (3 M lines: 1.0 s with it, 0.2 s without), so a part whose values do not repeat is
    pickled without it (no value holds itself: nothing to loop on)."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = isinstance(result, Part) and not result.repeated and isinstance(result.values, list)
    pickler.dump(result)
    return out.getvalue()


SHARED_CHUNK = 1 << 16  # values looked at before deciding whether sharing pays


def shared(values: list[Any]) -> list[Any]:
    """`values` with equal ones made one object, while they repeat: a findall of words gives a
    few thousand values millions of times, and pickling millions of distinct str objects (each
    memoized) from a part's child took longer than the scan; shared, they pickle as references
    and take a fraction of the memory. Where the first SHARED_CHUNK values are mostly distinct
    (lines, addresses), the rest are left as they are."""
    seen: dict[Any, Any] = {}
    try:
        out = [seen.setdefault(v, v) for v in values[:SHARED_CHUNK]]
        if 2 * len(seen) > len(out):
            return values
        for at in range(SHARED_CHUNK, len(values), SHARED_CHUNK):
            out.extend([seen.setdefault(v, v) for v in values[at:at + SHARED_CHUNK]])
            if len(seen) > SHARED_CHUNK:  # no longer repeating: the rest as they are
                out.extend(values[at + SHARED_CHUNK:])
                break
    except TypeError:  # an unhashable value
        return values
    return out


HEAD = 64  # spans a part keeps of its first matches


def merge(parts: list[Part], bounds: list[int], rescan: Callable[[int, int], Iterable[Span]]) -> list[Any]:
    """The values a sequential scan gives, from the parts' own scans (part k scanned from
    bounds[k], keeping matches that start before bounds[k + 1]). `rescan(a, b)` scans from a,
    keeping the spans that start before b."""
    out: list[Any] = []
    for piece in _pieces(parts, bounds, rescan):
        out.extend(piece)
    return out


def merge_count(parts: list[Part], bounds: list[int], rescan: Callable[[int, int], Iterable[Span]]) -> int:
    """How many values `merge` would give (parts may hold `range(n)` for n values: nothing is
    made of them)."""
    return sum(len(piece) for piece in _pieces(parts, bounds, rescan))


def _pieces(parts: list[Part], bounds: list[int], rescan: Callable[[int, int], Iterable[Span]]) -> list[Sequence[Any]]:
    """What `merge` joins: slices of the parts' values and the values of rescans."""
    out: list[Sequence[Any]] = [parts[0].values]
    last = parts[0].last
    for k in range(1, len(parts)):
        part = parts[k]
        if last is None or last[1] <= bounds[k]:
            # the same empty match, seen from both sides, counts once
            first = part.head[0] if part.head else None
            same_empty = first is not None and last is not None and last[0] == last[1] == first[0] == first[1]
            skip = 1 if same_empty else 0
            out.append(part.values[skip:] if skip else part.values)
            if len(part.values) > skip:
                last = part.last
            continue
        heads = {span: i for i, span in enumerate(part.head)}
        redone: list[Span] = []
        for span in rescan(last[1], bounds[k + 1]):
            i = heads.get((span[0], span[1]))
            if i is not None:  # back in step with the part's own scan
                out.append([v for _, _, v in redone])
                out.append(part.values[i:])
                last = part.last
                break
            redone.append(span)
        else:
            out.append([v for _, _, v in redone])
            if redone:
                last = (redone[-1][0], redone[-1][1])
    return out
