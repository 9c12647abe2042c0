"""A run's use of the notes store: what goes into its prompt and kernel at the start, the
kernel's note helpers during the run, and the notes turn at the end."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm.notes import render
from rlm.notes.store import Entry, NotesError, NotesRefused, NotesStore, check_fields, cut_query


@dataclass
class NotesSettings:
    """Where the store is and its budgets; `end_turn` asks the model for notes after each run;
    `max_writes` caps the note changes one run may make and `max_write_bytes` the bytes of text
    (note, title, reason, tags, quoted passages, question) they may store together (model code
    in a loop cannot fill the host's disk)."""

    directory: Path
    memory_chars: int = 500
    memory_tokens: int = 2000
    doc_chars: int = 50_000
    end_turn: bool = True
    max_writes: int = 100
    max_write_bytes: int = 1 << 20


class NotesSession:
    """One root run's view of the store (opened at the start, closed at the end)."""

    def __init__(self, settings: NotesSettings, run_id: str, query: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self.query = query
        self.store: NotesStore | None = None
        self.memories: list[Entry] = []
        self.docs: list[Entry] = []
        self.writes: list[dict[str, Any]] = []
        self.bytes_written = 0

    def open(self) -> float:
        """Open the store and read memories and docs; returns the seconds it took."""
        started = time.perf_counter()
        s = self.settings
        self.store = NotesStore(s.directory, memory_chars=s.memory_chars, memory_tokens=s.memory_tokens,
                                doc_chars=s.doc_chars)
        self.memories = self.store.memories()
        self.docs = self.store.entries("doc")
        return time.perf_counter() - started

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    @property
    def memory_tokens_used(self) -> int:
        return sum(m.tokens for m in self.memories)

    def prompt_block(self) -> str:
        s = self.settings
        return render.memory_block(self.memories, memory_chars=s.memory_chars, memory_tokens=s.memory_tokens,
                                   docs=len(self.docs))

    def archive_documents(self) -> list[dict[str, Any]]:
        return [{"id": d.id, "title": d.title, "text": d.text, "created": d.created,
                 "source_run": d.source_run, "provenance": "context" if d.quoted else d.provenance}
                for d in self.docs]

    def end_prompt(self, status: str) -> str:
        s = self.settings
        used = self.store.memory_tokens_used() if self.store else self.memory_tokens_used
        return render.notes_turn(status, used_tokens=used, memory_tokens=s.memory_tokens,
                                 memory_chars=s.memory_chars)

    # ----- the kernel's helpers (called on a worker thread) --------------------------------
    def handle(self, op: str, args: dict[str, Any]) -> Any:
        if self.store is None:
            raise NotesError("the notes store is closed")
        if op == "archive_search":
            hits = self.store.search(str(args.get("query", "")), int(args.get("k", 5)), kind="doc")
            return [{"id": e.id, "title": e.title, "score": round(score, 3),
                     "snippet": " ".join(e.text.split())[:300]} for e, score in hits]
        if len(self.writes) >= self.settings.max_writes:
            message = (f"refused: this run has already made {len(self.writes)} note changes; the limit is "
                       f"{self.settings.max_writes}. Keep only what a future run needs.")
            return {"id": None, "message": message}
        quoted = [str(q) for q in args.get("quoted") or []][:50]
        provenance = "context" if quoted else "model"
        reason = str(args.get("reason") or "") or None
        tags = [str(t)[:50] for t in (args.get("tags") or [])][:10]
        run_id = self.run_id
        cost = _write_bytes(op, args, reason, quoted, tags, self.query)
        try:
            check_fields(reason=reason, tags=tags, quoted=quoted)
            if self.bytes_written + cost > self.settings.max_write_bytes:
                raise NotesRefused(
                    f"refused: this change would store {cost:,} bytes and this run has stored "
                    f"{self.bytes_written:,} of its {self.settings.max_write_bytes:,}-byte notes budget. "
                    "Keep only what a future run needs.")
            if op == "remember":
                entry, created = self.store.remember(str(args.get("text", "")), reason, query=self.query,
                                                     provenance=provenance, quoted=quoted, run_id=run_id,
                                                     tags=tags)
                message = (f"saved memory {entry.id}" if created
                           else f"memory {entry.id} already says this; nothing added")
            elif op == "document":
                entry, created = self.store.document(str(args.get("title", "")), str(args.get("text", "")),
                                                     reason, query=self.query, provenance=provenance,
                                                     quoted=quoted, run_id=run_id, tags=tags)
                message = (f"archived document {entry.id} ({len(entry.text):,} characters)" if created
                           else f"document {entry.id} already says this; nothing added")
            elif op == "revise":
                entry = self.store.revise(int(args["id"]), str(args.get("text", "")), reason, query=self.query,
                                          provenance=provenance, quoted=quoted, run_id=run_id)
                message = f"note {args['id']} replaced by {entry.id}"
            elif op == "forget":
                entry = self.store.forget(int(args["id"]), reason, run_id=run_id)
                message = f"note {entry.id} forgotten (it can be restored)"
            else:
                raise NotesError(f"unknown notes operation {op!r}")
        except NotesRefused as exc:
            self.writes.append({"op": op, "ok": False, "message": str(exc)})
            return {"id": None, "message": str(exc)}
        except NotesError as exc:
            self.writes.append({"op": op, "ok": False, "message": str(exc)})
            return {"id": None, "message": f"refused: {exc}"}
        self.bytes_written += cost
        self.writes.append({"op": op, "ok": True, "id": entry.id, "message": message})
        return {"id": entry.id, "message": message}


def _write_bytes(op: str, args: dict[str, Any], reason: str | None, quoted: list[str], tags: list[str],
                 query: str) -> int:
    """What one change charges to the run's notes budget: the UTF-8 bytes of what it stores."""
    texts = [reason or "", *quoted, *tags]
    if op != "forget":
        texts += [str(args.get("text", "")), str(args.get("title", "")), cut_query(query) or ""]
    return sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
