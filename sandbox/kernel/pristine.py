"""Loaded list and dict contexts stay as they were loaded (runs inside the kernel).

A cell may not rebind `context` (the name is restored after the cell), but a list or a dict can
be changed without rebinding it: `context.sort()`, `context.pop(0)`, `context[:] = [...]`,
`context[0]["amount"] = 0`, `docs.clear()`. A model that does so (it was seen to fill `context`
with made-up sample records) would read its own invention as the data from then on. So each
loaded list or dict is fingerprinted when it is loaded and after every cell, and one whose
fingerprint changed is put back as loaded, with a word to the model.

The fingerprint is the identities of the value's items, breadth first: the whole top level
(and the whole of each list directly in a dict), then deeper levels up to NODES items (a change
deeper in a larger value is not seen); the items it counted are held while watched, so none is
freed and its identity taken by a new object. Only exact lists and dicts are walked, so
nothing a cell made runs code here. A value is put back by its `reload` (a JSON context is
parsed again: a small one from its text, kept; a larger one from its own file, whose descriptor
the kernel keeps: no second copy in memory; documents are rebuilt from their recorded places).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NODES = 200_000  # items below the top level a fingerprint looks at
_CHUNK = 1 << 16  # identities hashed at a time

__all__ = ["NODES", "Pristine", "fingerprint", "watched"]


def watched(value: Any) -> bool:
    """Whether a loaded value can change in place (a list or a dict)."""
    return type(value) in (list, dict)


def fingerprint(value: Any, keep: list[Any] | None = None) -> int:
    """A hash of the identities of `value`'s items, and of its containers' sizes (see the module
    docstring for how far it looks), made a chunk at a time: a list of millions of records is
    looked at whole without a list of millions of identities. With `keep`, the items looked at
    are added to it: held, none of them is freed, so no object a cell makes later can take an
    identity the fingerprint counted (pop() then append() of a computed value once went unseen)."""
    mark = 0
    level, depth, budget = [value], 0, NODES
    # a dict's lists are looked at whole, as the top level is: in {"users": [...], "orders": [...]}
    # a users list of 200,000 records left every later list unseen (orders sorted, popped)
    lists_whole = type(value) is dict
    while level and budget > 0:
        deeper: list[Any] = []
        for item in level:
            kind = type(item)
            whole = depth == 0 or (depth == 1 and lists_whole and kind is list)
            if not whole and budget <= 0:
                continue
            if kind is list:
                children = item
            elif kind is dict:
                children = [*item.keys(), *item.values()]
            else:
                continue
            mark = hash((mark, len(children)))
            for i in range(0, len(children), _CHUNK):
                part = children[i:i + _CHUNK]
                mark = hash((mark, tuple(map(id, part))))
                if keep is not None:
                    keep.append(part)
                if len(deeper) < budget:
                    deeper.extend(c for c in part if type(c) in (list, dict))
            if not whole:
                budget -= len(children)
        level, depth = deeper[:budget], depth + 1
    return mark


class Pristine:
    """The loaded values watched for changes in place, by name, each with how to load it again."""

    def __init__(self) -> None:
        # name -> (fingerprint, the items it looked at, held; reload; release)
        self._watched: dict[str, tuple[int, list[Any], Callable[[], Any], Callable[[], None]]] = {}

    def watch(self, name: str, value: Any, reload: Callable[[], Any],
              release: Callable[[], None] = lambda: None) -> None:
        """Watch `value`, loaded as `name`; `reload()` gives it again as loaded; `release()`
        frees what reloading needs (called when the name is no longer watched)."""
        self.forget(name)
        if watched(value):
            keep: list[Any] = []
            self._watched[name] = (fingerprint(value, keep), keep, reload, release)
        else:
            release()

    def forget(self, name: str) -> None:
        old = self._watched.pop(name, None)
        if old is not None:
            old[3]()

    def changed(self, current: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The watched values that `current` (name -> the value now) holds changed: (name -> the
        value loaded again, name -> why it could not be, e.g. a MemoryError). One that could not
        be stays as the cell left it and is watched as it is now: a later cell is not blamed."""
        restored: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for name, (mark, _, reload, release) in list(self._watched.items()):
            value = current.get(name)
            if value is None or fingerprint(value) == mark:
                continue
            # what the cell took out (held for the fingerprint) is freed before it is read again
            self._watched[name] = (mark, [], reload, release)
            try:
                fresh = reload()
            except Exception as exc:  # noqa: BLE001 - said to the model; the others go on
                failed[name] = f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
                fresh = value
            else:
                restored[name] = fresh
            keep: list[Any] = []
            self._watched[name] = (fingerprint(fresh, keep), keep, reload, release)
        return restored, failed
