"""The documents of a loaded context as model code sees them (runs inside the kernel): `Doc`
(its path, where its text sits in `context`, its kind and its places: pages, slides, sheets,
sections), `Place`, `where_in` (which document holds an offset) and `doc_from_entry` (a Doc
from the host's index).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any, NamedTuple


class Place(NamedTuple):
    """A page, slide, sheet or section of a document: its name ("p. 12") and where its text
    sits in `context` (it starts with the line "[p. 12]")."""

    label: str
    offset: int
    length: int


Place.__module__ = "sandbox.kernel.runtime"  # its home before the split, the name model code sees


class Doc:
    """One document of a context: its path, where its text sits in `context`, its kind
    ("text", or the format its text was extracted from: "pdf", "docx", ...) and its places
    (pages, slides, sheets or sections, in order)."""

    __module__ = "sandbox.kernel.runtime"  # its home before the split, the name model code and the host see

    __slots__ = ("_source", "kind", "length", "offset", "path", "places")
    path: str
    offset: int
    length: int
    kind: str
    places: tuple[Place, ...]
    _source: Any

    def __init__(self, path: str, offset: int, length: int, source: Any, kind: str = "text",
                 places: tuple[Place, ...] = ()) -> None:
        for name, value in (("path", path), ("offset", offset), ("length", length), ("_source", source),
                            ("kind", kind), ("places", tuple(Place(*p) for p in places))):
            object.__setattr__(self, name, value)

    # a document is loaded data, as `docs` is: a cell that renamed or moved one would leave later
    # cells reading its invention (the `docs` list itself is put back if changed, see pristine)
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a document of `docs` cannot be changed (not {name!r}); "
                             "keep what you need in your own variables")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a document of `docs` cannot be changed (not {name!r})")

    def __reduce__(self) -> tuple[Any, ...]:  # copy, deepcopy and pickle build it anew
        return Doc, (self.path, self.offset, self.length, self._source, self.kind, self.places)

    @property
    def text(self) -> str:
        return self._source[self.offset : self.offset + self.length]

    def page(self, n: int) -> str:
        """The text of page n (1 is the first; a slide, sheet or section for documents that
        have those instead), starting with its line "[p. n]"."""
        if not self.places:
            raise ValueError(f"{self.path} has no pages or parts (it is {self.kind}): use .text")
        if not isinstance(n, int) or not 1 <= n <= len(self.places):
            raise IndexError(f"{self.path} has {len(self.places)} pages or parts: give 1 to {len(self.places)}")
        place = self.places[n - 1]
        return self._source[place.offset : place.offset + place.length]

    def place_at(self, offset: int) -> str | None:
        """The name of the page or part ("p. 12") that holds `offset` (an offset of `context`),
        or None when the document has none there."""
        i = bisect.bisect_right([p.offset for p in self.places], offset) - 1
        if i < 0 or not self.offset <= offset < self.offset + max(self.length, 1):
            return None
        return self.places[i].label

    def keys(self) -> list[str]:
        return ["path", "offset", "length", "kind", "places", "text"]

    def __getitem__(self, key: str) -> Any:
        if key not in ("path", "offset", "length", "kind", "places", "text"):
            raise KeyError(key)
        return getattr(self, key)

    def __repr__(self) -> str:
        extra = f", kind={self.kind!r}, places={len(self.places)}" if self.kind != "text" or self.places else ""
        return f"Doc(path={self.path!r}, offset={self.offset}, length={self.length}{extra})"


def where_in(docs: Sequence[Doc], offset: int) -> str | None:
    """Which document (and page or part) holds `offset` of the context: "report.pdf p. 12"."""
    starts = [d.offset for d in docs]
    i = bisect.bisect_right(starts, offset) - 1
    if i < 0 or offset >= docs[i].offset + max(docs[i].length, 1):
        return None
    place = docs[i].place_at(offset)
    return f"{docs[i].path} {place}" if place else docs[i].path


def doc_from_entry(entry: dict[str, Any], offset: int, length: int, value: Any, places: Any = None) -> Doc:
    """A Doc from an index entry, at `offset` (its places, relative to its start, in the same
    unit as `offset`: `places`, or the entry's own)."""
    relative = (entry.get("places") if places is None else places) or []
    spans = []
    for i, (at, label) in enumerate(relative):
        end = relative[i + 1][0] if i + 1 < len(relative) else length
        spans.append(Place(str(label), offset + at, max(end - at, 0)))
    return Doc(entry["path"], offset, length, value, str(entry.get("kind") or "text"), tuple(spans))
