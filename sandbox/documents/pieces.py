"""Between extraction and a context: the files of a context as the pieces of text it is made
of (a plain file whole, or one document of a file's extracted text, with its places), and
what the model and the user are told about extraction (formats, how places are marked, what
was cut or could not be read)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.documents.formats import FORMAT_NAMES, SNIFF_BYTES, detect
from sandbox.documents.pool import ExtractOptions, extract_files

NOT_EXTRACTED = "not extracted"  # the reason a document that could not be read is left out under


@dataclass
class Piece:
    """A document of a context: `label` names it; its bytes are `source[offset:offset+length]`
    (length None: the whole file, read as a plain text file is); `places` are [offset from
    its start, name]; `kind` the format it was extracted from, or None for plain text."""

    label: str
    source: Path
    offset: int = 0
    length: int | None = None
    places: list[list[Any]] = field(default_factory=list)
    kind: str | None = None
    # the file a document is (not a member of one), where it can be shown as a picture
    origin: Path | None = None

    def entry(self, offset: int, length: int) -> dict[str, Any]:
        """Its line of the index the kernel reads, at `offset` of the joined text."""
        entry: dict[str, Any] = {"path": self.label, "offset": offset, "length": length}
        if self.kind is not None:
            entry["kind"] = self.kind
        if self.places:
            entry["places"] = self.places
        return entry


def pictures_of(pieces: list[Piece]) -> dict[str, list[str]]:
    """The documents that can be shown to a vision model, by name: [file, format]."""
    return {p.label: [str(p.origin), p.kind] for p in pieces
            if p.origin is not None and p.kind in ("pdf", "image")}


def document_format(path: Path, head: bytes | None = None) -> str | None:
    """The document format of a file (see `formats.detect`), from its first bytes."""
    if head is None:
        try:
            with open(path, "rb") as f:
                head = f.read(SNIFF_BYTES)
        except OSError:
            return None
    return detect(path.name, head)


def pieces_of(files: list[Path], label: Callable[[Path], str], options: ExtractOptions | None,
              skipped: dict[str, list[str]]) -> tuple[list[Piece], dict[str, Any]]:
    """The pieces `files` make up, in order: with `options`, files of a document format are
    extracted (their documents become pieces; a file that could not be read is added to
    `skipped`); the extraction's summary (empty when nothing was extracted)."""
    formats = {p: document_format(p) for p in files} if options is not None else {}
    wanted = [(p, fmt) for p, fmt in formats.items() if fmt is not None]
    if not wanted:
        return [Piece(label(p), p) for p in files], {}
    started = time.monotonic()
    results = extract_files(wanted, options)
    summary: dict[str, Any] = {"files": len(wanted), "cached": 0, "seconds": 0.0, "formats": {}, "documents": 0,
                               "cut": {}, "failed": {}, "notes": [], "weak_layers": []}
    counts: Counter[str] = Counter()
    pieces: list[Piece] = []
    for p in files:
        result = results.get(p)
        if result is None:
            pieces.append(Piece(label(p), p))
            continue
        name = label(p)
        summary["cached"] += int(result.cached)
        summary["weak_layers"] += [w for w in result.weak_layers if w not in summary["weak_layers"]]
        summary["notes"].extend(f"{name}: {n}" if not n.startswith(name) else n for n in result.notes[:20])
        if result.error is not None or result.text is None:
            summary["failed"][name] = result.error or "no text came back"
            skipped.setdefault(NOT_EXTRACTED, []).append(name)
            continue
        if not result.docs:  # read, and nothing in it is text: left out as a plain file would be
            skipped.setdefault("binary" if any("binary" in n for n in result.notes) else "empty", []).append(name)
            continue
        counts[result.fmt] += 1
        if result.cut:
            summary["cut"][name] = result.cut
        for doc in result.docs:
            pieces.append(Piece(f"{name}:{doc['name']}" if doc["name"] else name, result.text, doc["offset"],
                                doc["length"], doc["places"], doc["kind"], None if doc["name"] else p))
            summary["documents"] += 1
    summary["formats"] = dict(counts.most_common())
    summary["seconds"] = round(time.monotonic() - started, 3)
    summary["notes"] = summary["notes"][:50]
    return pieces, summary


_MARKS = (("page", '"[p. N]"', {"pdf"}), ("slide", '"[slide N]"', {"pptx", "odf"}),
          ("sheet", '"[sheet NAME]"', {"xlsx", "odf"}), ("chapter", '"[ch. N]"', {"epub"}),
          ("section", '"[§ HEADING]"', {"docx", "odf", "html"}))
_CONTAINERS = {"zip", "tar", "gz", "bz2", "xz", "zst", "eml", "mbox"}


def describe_extraction(summary: dict[str, Any]) -> str:
    """For the context's description: what was extracted and how its places are marked."""
    if not summary:
        return ""
    formats = ", ".join(f"{n} {FORMAT_NAMES.get(fmt, fmt)}{'s' if n > 1 else ''}"
                        for fmt, n in summary["formats"].items())
    text = ""
    if formats:
        present = set(summary["formats"])
        marks = [f"{what} starts with a line {mark}" for what, mark, kinds in _MARKS if present & kinds]
        text = f"; text extracted from {formats}"
        if marks:
            text += (f": each {', each '.join(marks)}; docs[i].page(N) is the text of its part N (a page, slide, "
                     "sheet...)")
        if present & _CONTAINERS:
            text += "; each member of an archive, attachment or message is a document of its own, named \"file:member\""
        text += "; place_of(offset) names the document (and page) holding that offset of the context"
        if present & {"pdf", "image"}:
            text += ("; llm_query(question, images=[(doc, N)]) shows page N of a PDF document (images=[doc]: a "
                     "picture document) to the sub-model, if it can see images")
    if summary["cut"]:
        text += "; cut short: " + ", ".join(f"{k} ({v})" for k, v in list(summary["cut"].items())[:10])
    if summary["failed"]:
        text += "; could not be read: " + ", ".join(f"{k} ({v})" for k, v in list(summary["failed"].items())[:10])
    return text
