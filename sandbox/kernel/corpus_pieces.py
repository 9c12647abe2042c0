"""The lines or pieces of a Corpus as a lazy sequence (runs inside the kernel): `Pieces`, to
iterate, index, slice and measure, each pass reading the corpus again, with a cursor so that
neighbouring indexes read it once.
"""

from __future__ import annotations

import collections
import collections.abc
import itertools
from collections.abc import Callable, Iterator
from typing import Any

_RECENT = 64  # items a Pieces keeps behind its cursor (`lines[i - 1]` after `lines[i]`)
_END = object()


class Pieces:
    """A lazy sequence of the lines (or pieces) of a corpus: iterate it, index it, slice it,
    take its len(). Each pass reads the corpus again; what is kept is the length once known and
    a cursor (the pass that served the last index, with the few items before it), so that
    `for i in range(len(lines)): lines[i]`, with neighbours such as `lines[i - 1]` or
    `lines[i - 2:i + 3]`, reads the corpus once, not once an index."""

    __module__ = "sandbox.kernel.corpus"  # its home before the split, the name model code sees

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
