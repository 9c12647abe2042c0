"""The extractor's bounded output: the text of every document a file holds, written as UTF-8
to one file, with where each document and each of its places (page, sheet, slide, section)
begins; stops, saying why, at a byte limit or a deadline (runs inside the extraction worker)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

MAX_NAME_CHARS = 300  # a member's or a place's name is cut past this
MAX_PLACES = 200_000  # places of one file past this are not recorded (their text still is)


# the start of a line that looks like a marker the sink writes (a place) or that joins documents
_FORGED = re.compile(r"^(?=\[(?:p\. \d|slide \d|sheet |ch\. \d|§ )|==> )", re.MULTILINE)


class Cut(Exception):
    """Extraction stops here; what was written so far is kept. `reason` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def clean_name(name: str) -> str:
    """A member's or a place's name on one line, without control characters, bounded."""
    text = "".join(c if c.isprintable() else " " for c in name).strip()
    return text[:MAX_NAME_CHARS]


@dataclass
class _Doc:
    name: str
    kind: str
    start: int
    places: list[list[Any]] = field(default_factory=list)


class Sink:
    """Writes documents' text to `out`, at most `max_bytes` in all, until `deadline`
    (time.monotonic()); past either, `Cut` is raised and the text so far is kept."""

    def __init__(self, out: BinaryIO, max_bytes: int, deadline: float) -> None:
        self._out = out
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.written = 0
        self.docs: list[_Doc] = []
        self.notes: list[str] = []  # what a reader could not read (a member left out, an encrypted part)
        self.places = 0

    def begin(self, name: str, kind: str) -> None:
        """Start a document (`name`: "" for the file itself, else a member's path in it)."""
        self.end()
        self.docs.append(_Doc(clean_name(name), kind, self.written))

    def end(self) -> None:
        """Close the document being written (a final newline)."""
        if self.docs and self.written > self.docs[-1].start:
            self.text("\n")

    def place(self, label: str) -> None:
        """A place begins here (a page, a sheet, a slide, a section): recorded, and written as
        a line "[label]" so that a model reading the text sees where it is."""
        label = clean_name(label)
        if not self.docs:
            self.begin("", "text")
        doc = self.docs[-1]
        if self.written > doc.start:
            self._write("\n")
        if self.places < MAX_PLACES:
            doc.places.append([self.written - doc.start, label])
            self.places += 1
        self._write(f"[{label}]\n")

    def text(self, text: str) -> None:
        """Text of the document (a line of it that looks like a place or document marker,
        "[p. 7]" or "==> x <==", is shown with a zero-width space in front, so that only the
        real ones start a line)."""
        if not text:
            return
        if "[" in text or "==> " in text:
            text = _FORGED.sub("\u200b", text)
        self._write(text)

    def _write(self, text: str) -> None:
        if time.monotonic() > self.deadline:
            raise Cut("time limit")
        if not self.docs:
            self.begin("", "text")
        data = text.encode("utf-8", "replace")
        room = self.max_bytes - self.written
        if len(data) > room:
            # whole characters only: back off continuation bytes at the cut
            end = max(room, 0)
            while end > 0 and (data[end] & 0xC0) == 0x80:
                end -= 1
            self._out.write(data[:end])
            self.written += end
            raise Cut(f"output limit ({self.max_bytes:,} bytes)")
        self._out.write(data)
        self.written += len(data)

    def check(self) -> None:
        """Raise Cut when the deadline has passed (between pages, members, rows)."""
        if time.monotonic() > self.deadline:
            raise Cut("time limit")

    def index(self) -> dict[str, Any]:
        """What the host reads besides the text: each document's name, kind, byte range and
        places (offsets from the document's start), and the notes."""
        docs = []
        for i, doc in enumerate(self.docs):
            end = self.docs[i + 1].start if i + 1 < len(self.docs) else self.written
            if end > doc.start or doc.places:
                docs.append({"name": doc.name, "kind": doc.kind, "offset": doc.start, "length": end - doc.start,
                             "places": doc.places})
        return {"docs": docs, "notes": self.notes[:200], "bytes": self.written}
