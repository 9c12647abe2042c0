"""A loaded text context read on the host, as the kernel reads it: its bytes at any place, which
document holds a place (and its page, slide or section), and line numbers within a document.

This is what checks a citation from model code without trusting the kernel: the kernel says
where a quote is (byte offsets in the context's text); `ContextReader` reads those bytes from
the files the host prepared (the file itself, the joined text, or the pack and the large files a
Corpus maps where they are) and says which document they are in.
"""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

from sandbox.context_paths import open_regular
from sandbox.context_spec import ContextSpec

# newlines are counted up to this far into a document to give a quote's line numbers; a quote
# deeper into a larger document has its byte range only (counting 36 GB of a 40 GB file would
# read it all again); and at most LINE_COUNT_BUDGET bytes are counted per reader, whatever the
# kernel sends (it chooses the places)
LINE_COUNT_BYTES = 2 << 30
LINE_COUNT_BUDGET = 4 << 30
_COUNT_PIECE = 16 << 20


@dataclass(frozen=True)
class DocumentSpan:
    """One document of a context: its name, where its text sits in the context's text (bytes),
    its kind ("text", or the format it was extracted from) and its places (pages, slides,
    sheets, sections) as (byte offset from its start, label)."""

    name: str
    offset: int
    length: int
    kind: str = "text"
    places: tuple[tuple[int, str], ...] = ()

    @property
    def end(self) -> int:
        return self.offset + self.length

    def place_at(self, offset: int) -> str | None:
        """The label of the page or part that holds `offset` of the context (None: none)."""
        starts = [at for at, _ in self.places]
        i = bisect.bisect_right(starts, offset - self.offset) - 1
        return self.places[i][1] if i >= 0 else None


class ContextReader:
    """The text of one loaded context (a str or a Corpus in the kernel), read on the host."""

    def __init__(self, spec: ContextSpec) -> None:
        if spec.mode not in ("text", "corpus"):
            raise ValueError(f"context {spec.name!r} is {spec.mode}, not text")
        self.name = spec.name
        self.label = spec.label
        index: Any = json.loads(spec.index_path.read_text(encoding="utf-8")) if spec.index_path else None
        entries = index["docs"] if isinstance(index, dict) else index
        self._sources = [spec.data_path, *spec.mapped]
        self._handed = dict(spec.handed)
        if isinstance(index, dict):  # a pack plus files mapped in place: [source, offset, length]
            self._segments = [tuple(int(x) for x in s) for s in index["segments"]]
        else:
            self._segments = [(0, 0, spec.nbytes)]
        self._seg_starts: list[int] = []
        total = 0
        for _, _, n in self._segments:
            self._seg_starts.append(total)
            total += n
        self.size = total
        if entries is None:  # one file, or a value: the whole text is the one document
            self.documents = [DocumentSpan(spec.label, 0, total)]
        else:
            self.documents = [DocumentSpan(str(e["path"]), int(e["offset"]), int(e["length"]),
                                           str(e.get("kind") or "text"),
                                           tuple((int(at), str(label)) for at, label in e.get("places") or []))
                              for e in entries]
        self._doc_starts = [d.offset for d in self.documents]
        # a document's offset -> places newlines were counted to, and the newlines before each
        self._marks: dict[int, tuple[list[int], list[int]]] = {}
        self._counted = 0
        self._files: dict[int, BinaryIO] = {}

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> ContextReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _file(self, source: int) -> BinaryIO:
        """The source file, opened once, only while still a regular file and the file the
        kernel was handed at that path (when it was handed one)."""
        if source not in self._files:
            path = self._sources[source]
            f = open_regular(path)
            st = os.fstat(f.fileno())
            if self._handed.get(str(path), (st.st_dev, st.st_ino)) != (st.st_dev, st.st_ino):
                f.close()  # another file at that path than the kernel holds: its bytes are no check
                raise ValueError(f"{self.label} was replaced since it was loaded")
            self._files[source] = f
        return self._files[source]

    def read(self, start: int, end: int) -> bytes:
        """The bytes [start, end) of the context's text (as the kernel reads them)."""
        if not 0 <= start <= end <= self.size:
            raise ValueError(f"bytes {start:,}-{end:,} are outside the context ({self.size:,} bytes)")
        out = bytearray()
        i = bisect.bisect_right(self._seg_starts, start) - 1
        at = start
        while at < end and i < len(self._segments):
            source, offset, length = self._segments[i]
            seg_start = self._seg_starts[i]
            lo, hi = at - seg_start, min(end - seg_start, length)
            data = os.pread(self._file(source).fileno(), hi - lo, offset + lo)
            if len(data) != hi - lo:
                raise ValueError(f"{self.label} is shorter than when it was loaded")
            out += data
            at = seg_start + hi
            i += 1
        return bytes(out)

    def document_at(self, offset: int) -> DocumentSpan | None:
        """The document whose text holds byte `offset` (None: a header line between documents)."""
        i = bisect.bisect_right(self._doc_starts, offset) - 1
        if i < 0:
            return None
        doc = self.documents[i]
        return doc if doc.offset <= offset < doc.end or (doc.length == 0 and offset == doc.offset) else None

    def line_of(self, doc: DocumentSpan, offset: int) -> int | None:
        """The line number (from 1) of byte `offset` of the context within `doc`; None when it
        lies more than LINE_COUNT_BYTES into the document or the reader's budget is spent.
        Counting goes on from the nearest place counted before (in any order of offsets)."""
        if offset - doc.offset > LINE_COUNT_BYTES:
            return None
        places, counts = self._marks.setdefault(doc.offset, ([doc.offset], [0]))
        i = bisect.bisect_right(places, offset) - 1
        at, newlines = places[i], counts[i]
        if offset - at > LINE_COUNT_BUDGET - self._counted:
            return None
        while at < offset:
            step = min(_COUNT_PIECE, offset - at)
            newlines += self.read(at, at + step).count(b"\n")
            self._counted += step
            at += step
            if step == _COUNT_PIECE:  # a mark at each whole piece: later counts start there
                j = bisect.bisect_right(places, at)
                places.insert(j, at)
                counts.insert(j, newlines)
        return newlines + 1
