"""Evidence: the passages an answer rests on, each checked on the host before it is reported.

Model code marks a passage with `cite(...)` (rlm/kernel/evidence.py); the kernel sends where it
says the quote is (byte offsets in a text context) and the quote. `EvidenceBook` reads those bytes
from the context's own files (`sandbox.ContextReader`, never the kernel's word), keeps the
citation only if the quote is there byte for byte, inside one document, and answers with where
that is: the document, its byte range in the document's text, its lines and its page. What is
refused is said to the model (the cite call prints why) and written to the trajectory.

    op "cite": args `claims`, a list of {context, start, end, quote, note, how}; the handler
    returns one {id, doc, lines, page} or {id: None, why} per claim.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

from rlm.events import CitationEvent
from rlm.tools import KERNEL_DIR
from sandbox import ContextReader, HostRequest, SandboxError, Tools

MAX_CITATIONS = 200  # kept per run; more are refused (an answer does not rest on more)
MAX_CLAIMS = 100  # per request, as the kernel side sends them
MAX_QUOTE_BYTES = 8_000  # 2,000 characters of at most 4 bytes
NOTE_CHARS = 300
# the run view shows a quote inside the document's bytes this far each side of it, read again from
# the context's files, only where they hash to what the host read here (`around_sha256`): a
# trajectory someone crafted cannot make it show the bytes of a file the run never cited
AROUND_BYTES = 400
MAX_REFUSED_EVENTS = 200  # refused claims written to the trajectory per run; the rest are counted only

__all__ = ["MAX_CITATIONS", "Evidence", "EvidenceBook", "answer_evidence", "evidence_from_dicts", "evidence_lines"]


@dataclass(frozen=True)
class Evidence:
    """One verified citation. `document`: the file (or document) the quote is in, as the
    context names it; `start` / `end`: its byte range in that document's text (the file's bytes
    for a UTF-8 text file; for an extracted document, the bytes of its extracted text); `lines`:
    first and last line in the document (None when it lies more than 2 GiB in); `page`: the page,
    slide, sheet or section ("p. 12"), when the document has them; `context` and `at`: the
    context and the byte range in its whole text (what the host checked)."""

    id: int
    quote: str
    document: str
    start: int
    end: int
    lines: tuple[int, int] | None
    page: str | None
    note: str | None
    context: str
    at: tuple[int, int]
    around_sha256: str | None = None  # of the document's bytes AROUND_BYTES either side of the quote

    def where(self) -> str:
        """"report.pdf p. 12, lines 40-44" (or "bytes 10-52" where lines are not counted)."""
        text = self.document + (f" {self.page}" if self.page else "")
        if self.lines is not None:
            a, b = self.lines
            return text + (f", line {a}" if a == b else f", lines {a}-{b}")
        return text + f", bytes {self.start:,}-{self.end:,}"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lines"] = list(self.lines) if self.lines else None
        out["at"] = list(self.at)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        lines = data.get("lines")
        return cls(int(data["id"]), str(data["quote"]), str(data["document"]), int(data["start"]), int(data["end"]),
                   (int(lines[0]), int(lines[1])) if lines else None, data.get("page"), data.get("note"),
                   str(data.get("context", "context")), (int(data["at"][0]), int(data["at"][1])),
                   str(data["around_sha256"]) if data.get("around_sha256") else None)


def evidence_from_dicts(items: Any) -> list[Evidence]:
    """Evidence read back from its dicts (a session file, a trajectory); malformed ones are passed over."""
    out = []
    for item in items if isinstance(items, list) else []:
        try:
            out.append(Evidence.from_dict(item))
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    return out


class Refused(ValueError):
    """A citation that does not hold; its message is what the model is told."""


class EvidenceBook:
    """The verified citations of one run, and the handler that checks each one."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.kept: list[Evidence] = []
        self._by_place: dict[tuple[str, int, int], Evidence] = {}
        self._readers: dict[str, ContextReader] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.refused = 0  # claims refused in this run (the first MAX_REFUSED_EVENTS are in the trajectory)

    def tool_set(self) -> Tools:
        return Tools("evidence", KERNEL_DIR / "evidence.py", {"cite": self.handle})

    def handle(self, request: HostRequest) -> list[dict[str, Any]]:
        """On a bridge thread: check each claim against the context's own bytes."""
        claims = request.args.get("claims")
        if not isinstance(claims, list) or len(claims) > MAX_CLAIMS:
            raise ValueError(f"cite sends 1 to {MAX_CLAIMS} claims at once")
        replies: list[dict[str, Any]] = []
        events: list[CitationEvent] = []
        for claim in claims:
            try:
                kept, new = self._check(claim)
            except Refused as exc:
                why = str(exc)
                replies.append({"id": None, "why": why})
                with self._lock:
                    self.refused += 1
                    if self.refused > MAX_REFUSED_EVENTS:  # a flood of forged claims: not each recorded
                        continue
                    if self.refused == MAX_REFUSED_EVENTS:
                        why += " (further refused claims of this run are not recorded)"
                events.append(CitationEvent(event="citation", cell=request.cell, id=None, refused=why,
                                            claim=_claim_words(claim)))
                continue
            replies.append({"id": kept.id, "doc": kept.document, "lines": list(kept.lines) if kept.lines else None,
                            "page": kept.page})
            if new:
                events.append(CitationEvent(event="citation", cell=request.cell, id=kept.id, refused=None,
                                            evidence=kept.as_dict()))
        loop = self.run.tree.loop
        for event in events:
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(_emit(self.run, event), loop).result()
            else:
                self.run.emit(event)
        return replies

    def _reader(self, name: str) -> ContextReader | None:
        if self._closed:
            raise Refused("the run has ended")
        reader = self._readers.get(name)
        if reader is None:  # opened once a run (only for a name that is a text context)
            reader = self.run.sb.context_reader(name)
            if reader is not None:
                self._readers[name] = reader
        return reader

    def _check(self, claim: Any) -> tuple[Evidence, bool]:
        if not isinstance(claim, dict):
            raise Refused("a malformed claim")
        name, start, end, quote = claim.get("context"), claim.get("start"), claim.get("end"), claim.get("quote")
        note = claim.get("note")
        if not (isinstance(name, str) and type(start) is int and type(end) is int and isinstance(quote, str)):
            raise Refused("a malformed claim")
        if not 0 <= start < end or end - start > MAX_QUOTE_BYTES or len(quote) > MAX_QUOTE_BYTES:
            raise Refused(f"bytes {start}-{end} are no passage to cite (1 to {MAX_QUOTE_BYTES:,} bytes)")
        with self._lock:
            reader = self._reader(name)
            if reader is None:
                raise Refused(f"{name[:100]!r} is not a text context")
            if end > reader.size:
                raise Refused(f"bytes {start:,}-{end:,} are outside the context ({reader.size:,} bytes)")
            seen = self._by_place.get((name, start, end))
            if seen is not None and seen.quote == quote:
                return seen, False
            try:
                raw = reader.read(start, end)
            except (OSError, ValueError, SandboxError) as exc:
                raise Refused(f"the context could not be read to check it ({exc})") from None
            if raw != quote.encode("utf-8", "surrogatepass") and not _shown_as(raw, quote):
                raise Refused("the quote is not what the context holds at that place; cite text copied from "
                              "the context, where it is")
            doc = reader.document_at(start)
            if doc is None or end > doc.end:
                raise Refused("the passage is not inside one document (it takes in a header line "
                              "'==> name <==' or runs into the next document): cite within a document")
            if len(self.kept) >= MAX_CITATIONS:
                raise Refused(f"this run has {MAX_CITATIONS} citations already; cite what the answer rests on")
            first = reader.line_of(doc, start)
            lines = None
            if first is not None:
                lines = (first, first + raw.rstrip(b"\n").count(b"\n"))
            try:
                window = reader.read(max(doc.offset, start - AROUND_BYTES), min(doc.end, end + AROUND_BYTES))
            except (OSError, ValueError, SandboxError) as exc:
                raise Refused(f"the context could not be read to check it ({exc})") from None
            kept = Evidence(len(self.kept) + 1, raw.decode("utf-8", "replace"), doc.name, start - doc.offset,
                            end - doc.offset, lines, doc.place_at(start), _note(note), name, (start, end),
                            hashlib.sha256(window).hexdigest())
            self.kept.append(kept)
            self._by_place[(name, start, end)] = kept
            return kept, True

    def evidence(self) -> list[Evidence]:
        with self._lock:
            return list(self.kept)

    def close(self) -> None:
        """Close the context files opened to check citations."""
        with self._lock:
            self._closed = True
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()


async def _emit(run: Any, event: CitationEvent) -> None:
    run.emit(event)


def _shown_as(raw: bytes, quote: str) -> bool:
    """Bytes that are not valid UTF-8 are read by a Corpus as U+FFFD: such a quote is theirs."""
    try:
        raw.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace") == quote


def _note(note: Any) -> str | None:
    return None if note is None else str(note)[:NOTE_CHARS]


def _claim_words(claim: Any) -> dict[str, Any]:
    """What a refused claim said, bounded, for the trajectory."""
    if not isinstance(claim, dict):
        return {}
    quote = claim.get("quote")
    return {"context": str(claim.get("context"))[:100], "start": claim.get("start") if type(claim.get("start")) is int
            else None, "end": claim.get("end") if type(claim.get("end")) is int else None,
            "quote": quote[:500] if isinstance(quote, str) else None}


_ID = re.compile(r"\[E(\d{1,4})\]")
QUOTE_MATCH_CHARS = 8  # a quote this long or longer, found in the answer, names its citation


def answer_evidence(answer: str | None, kept: list[Evidence], chosen: list[str] | None = None) -> list[Evidence]:
    """The citations an answer rests on: those model code listed in `answer["evidence"]`
    (`chosen`: its items as text, a citation's text being its quote), else those the answer names
    ("[E2]") or quotes (FINAL_VAR of a citation); when it names none, all the run's citations."""
    if not kept:
        return []
    if chosen:
        texts = set(chosen)
        named = {int(n) for item in chosen for n in _ID.findall(item)}
        listed = [e for e in kept if e.quote in texts or e.id in named]
        if listed:
            return listed
    if not answer:
        return list(kept)
    named = {int(n) for n in _ID.findall(answer)}
    picked = [e for e in kept if e.id in named or (len(e.quote) >= QUOTE_MATCH_CHARS and e.quote in answer)]
    return picked or list(kept)


def evidence_lines(evidence: list[Evidence], quote_chars: int = 200) -> list[str]:
    """Each citation as one line: `[E1] report.pdf p. 12, lines 40-44: "..."` (the quote on one
    line, cut to `quote_chars`). The caller makes them safe for where they go."""
    out = []
    for e in evidence:
        quote = " ".join(e.quote.split())
        if len(quote) > quote_chars:
            quote = quote[:quote_chars - 1] + "…"
        out.append(f"[E{e.id}] {e.where()}: \"{quote}\"")
    return out
