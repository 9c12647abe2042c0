"""A regular-expression match over a Corpus (runs inside the kernel): `CorpusMatch`, like
`re.Match` (groups are str, offsets are bytes), and `visible`, text as the user sees it
(invalid bytes as U+FFFD).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def visible(text: str) -> str:
    """Text decoded with surrogateescape, as the user sees it (invalid bytes as U+FFFD)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class CorpusMatch:
    """A regex match over a Corpus, like `re.Match`: groups are str, offsets are bytes."""

    __module__ = "sandbox.kernel.corpus"  # its home before the split, the name model code sees

    __slots__ = ("_groups", "_spans", "endpos", "lastgroup", "lastindex", "pos", "re", "string")

    def __init__(self, match: Any, byte_of: Callable[[int], int], corpus: Any,
                 pos: int, endpos: int, pattern: re.Pattern) -> None:
        n = match.re.groups
        self._groups: tuple[str | None, ...] = tuple(
            None if g is None else visible(g) for g in (match.group(0), *match.groups()))
        spans = [match.span(i) for i in range(n + 1)]
        # converted in increasing order: a window's or batch's conversion goes on from the last
        # index it converted, and restarts from its run's start (up to a MiB) where one goes back
        # (a group's start after the match's end): quadratic over a batch of non-ASCII lines
        offsets = {x: 0 for span in spans for x in span if x >= 0}
        for x in sorted(offsets):
            offsets[x] = byte_of(x)
        self._spans = tuple((-1, -1) if s == (-1, -1) else (offsets[s[0]], offsets[s[1]]) for s in spans)
        self.re, self.string, self.pos, self.endpos = pattern, corpus, pos, endpos
        self.lastindex, self.lastgroup = match.lastindex, match.lastgroup

    def state(self) -> tuple:
        """What a match is, without its corpus and pattern (to rebuild it elsewhere)."""
        return self._groups, self._spans, self.lastindex, self.lastgroup

    @classmethod
    def rebuilt(cls, state: tuple, corpus: Any, pos: int, endpos: int, pattern: re.Pattern) -> CorpusMatch:
        match = cls.__new__(cls)
        match._groups, match._spans, match.lastindex, match.lastgroup = state
        match.re, match.string, match.pos, match.endpos = pattern, corpus, pos, endpos
        return match

    def _index(self, group: Any) -> int:
        if isinstance(group, str):
            if group not in self.re.groupindex:
                raise IndexError("no such group")
            return self.re.groupindex[group]
        if not isinstance(group, int) or not 0 <= group < len(self._groups):
            raise IndexError("no such group")
        return group

    def group(self, *groups: Any) -> Any:
        if not groups:
            return self._groups[0]
        if len(groups) == 1:
            return self._groups[self._index(groups[0])]
        return tuple(self._groups[self._index(g)] for g in groups)

    def groups(self, default: Any = None) -> tuple:
        return tuple(default if g is None else g for g in self._groups[1:])

    def groupdict(self, default: Any = None) -> dict:
        return {name: self.group(name) if self.group(name) is not None else default
                for name in self.re.groupindex}

    def start(self, group: Any = 0) -> int:
        return self._spans[self._index(group)][0]

    def end(self, group: Any = 0) -> int:
        return self._spans[self._index(group)][1]

    def span(self, group: Any = 0) -> tuple[int, int]:
        return self._spans[self._index(group)]

    def expand(self, template: str) -> str:
        groups: dict[Any, str] = {i: g or "" for i, g in enumerate(self._groups)}
        groups.update({name: self._groups[i] or "" for name, i in self.re.groupindex.items()})
        return re.sub(r"\\g<(\w+)>|\\(\d\d?)",
                      lambda m: groups[int(k)] if (k := m.group(1) or m.group(2)).isdigit() else groups[k],
                      template)

    def __getitem__(self, group: Any) -> Any:
        return self.group(group)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<CorpusMatch object; span={self.span()}, match={(self._groups[0] or '')[:80]!r}>"
