"""The notes store: memories and documentation that persist between runs, in one SQLite file.

SQLite in WAL mode; every change is one `BEGIN IMMEDIATE` transaction that re-reads what it
checks (budgets, duplicates) before writing, so many processes can share a store and a
process killed mid-write leaves it consistent. Nothing is deleted: forgetting and replacing
change an entry's status, and every change is a row in `history` (who: run id; why: reason;
before and after), so any change can be undone. FTS5 indexes titles and texts for search.

Budgets (shown to the model, enforced on write, never by silent truncation):
`memory_chars` per memory (default 500) and `memory_tokens` for all live memories together
(default 2,000; tokens are estimated as characters / 4). Every other field a write stores is
capped too (`check_fields`): a reason at `REASON_CHARS`, at most `MAX_TAGS` tags of `TAG_CHARS`,
at most `MAX_QUOTED` quoted passages of `QUOTED_CHARS` in all; the run's question kept with an
entry is cut to `QUERY_CHARS` (it is a record of where the note came from, not the note).
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from rlm.errors import RLMError
from rlm.usage import estimate_tokens
from rlm.writable import why_not_a_directory

DB_NAME = "notes.db"
KINDS = ("memory", "doc")
REASON_CHARS = 1_000
MAX_TAGS = 10
TAG_CHARS = 50
MAX_QUOTED = 50
QUOTED_CHARS = 50_000  # all quoted passages of one write together
QUERY_CHARS = 2_000
TITLE_CHARS = 200


class NotesError(RLMError):
    """The notes store could not do what was asked (unknown id, unreadable store...)."""


class NotesRefused(NotesError):
    """A write was refused (over a budget, a duplicate...); the message says what to do."""


def normalise(text: str) -> str:
    """What two texts must share to count as the same note: case, spacing, punctuation at
    the ends and Unicode forms do not matter."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" .;,:!-")


def _key(kind: str, title: str, text: str) -> str:
    """What dedupe compares: a memory's text; a document's title and text."""
    return title + "\n" + text if kind == "doc" else text


def _hash(text: str) -> str:
    return sha256(normalise(text).encode("utf-8")).hexdigest()


def check_fields(reason: str | None = None, tags: list[str] | None = None,
                 quoted: list[str] | None = None) -> None:
    """NotesRefused if a write's reason, tags or quoted passages are over their caps."""
    if reason is not None and len(reason) > REASON_CHARS:
        raise NotesRefused(f"refused: the reason is {len(reason):,} characters and the limit is "
                           f"{REASON_CHARS:,}; say in a sentence why the note holds")
    if tags is not None and (len(tags) > MAX_TAGS or any(len(t) > TAG_CHARS for t in tags)):
        raise NotesRefused(f"refused: at most {MAX_TAGS} tags of {TAG_CHARS} characters each")
    if quoted is not None and (len(quoted) > MAX_QUOTED or sum(len(q) for q in quoted) > QUOTED_CHARS):
        raise NotesRefused(f"refused: at most {MAX_QUOTED} quoted passages of {QUOTED_CHARS:,} characters "
                           "in all")


def cut_query(query: str | None) -> str | None:
    """The question kept with an entry, cut to QUERY_CHARS (with a marker)."""
    if query is None or len(query) <= QUERY_CHARS:
        return query
    return query[:QUERY_CHARS] + f" ... [{len(query) - QUERY_CHARS:,} characters cut]"


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Entry:
    """One note. `status` is "live", "superseded" (replaced by `superseded_by`) or "forgotten"."""

    id: int
    kind: str
    title: str
    text: str
    created: str
    updated: str
    status: str
    source_run: str | None = None
    source_query: str | None = None
    supersedes: int | None = None
    superseded_by: int | None = None
    provenance: str = "model"
    quoted: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    docs: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Change:
    """One row of the history: what happened to an entry, by which run, and why."""

    id: int
    entry_id: int
    action: str
    run_id: str | None
    reason: str | None
    at: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


MIGRATIONS: list[tuple[str, str]] = [
    ("m001_initial", """
        CREATE TABLE entries (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('memory', 'doc')),
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            norm_hash TEXT NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'superseded', 'forgotten')),
            source_run TEXT,
            source_query TEXT,
            supersedes INTEGER REFERENCES entries(id),
            superseded_by INTEGER REFERENCES entries(id),
            provenance TEXT NOT NULL DEFAULT 'model',
            quoted TEXT NOT NULL DEFAULT '[]',
            tags TEXT NOT NULL DEFAULT '[]',
            docs TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX entries_live ON entries (kind, status);
        CREATE INDEX entries_hash ON entries (norm_hash, kind, status);
        CREATE TABLE history (
            id INTEGER PRIMARY KEY,
            entry_id INTEGER NOT NULL REFERENCES entries(id),
            action TEXT NOT NULL,
            run_id TEXT,
            reason TEXT,
            at TEXT NOT NULL,
            before TEXT,
            after TEXT
        );
        CREATE INDEX history_entry ON history (entry_id);
        CREATE VIRTUAL TABLE entries_fts USING fts5(title, text, content='entries', content_rowid='id');
        CREATE TRIGGER entries_ai AFTER INSERT ON entries BEGIN
            INSERT INTO entries_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
        END;
        CREATE TRIGGER entries_ad AFTER DELETE ON entries BEGIN
            INSERT INTO entries_fts(entries_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
        END;
        CREATE TRIGGER entries_au AFTER UPDATE OF title, text ON entries BEGIN
            INSERT INTO entries_fts(entries_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
            INSERT INTO entries_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
        END;
    """),
]

_COLUMNS = ("id, kind, title, text, created, updated, status, source_run, source_query, supersedes, "
            "superseded_by, provenance, quoted, tags, docs")


def _entry(row: sqlite3.Row | tuple[Any, ...]) -> Entry:
    (id_, kind, title, text, created, updated, status, run, query, sup, sup_by, prov, quoted, tags,
     docs) = tuple(row)
    return Entry(id_, kind, title, text, created, updated, status, run, query, sup, sup_by, prov,
                 json.loads(quoted), json.loads(tags), json.loads(docs))


def _wal(db: sqlite3.Connection, timeout_s: float) -> None:
    """Put the store in WAL mode. Switching a new database to WAL takes a lock that SQLite does
    not wait for (its busy timeout does not apply): with several processes opening one new store
    at once, all but one get "database is locked" at once. Tried again until `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02 + random.random() * 0.05)


class NotesStore:
    """A store in `directory` (created on first use): `directory / "notes.db"`."""

    def __init__(self, directory: Path, *, memory_chars: int = 500, memory_tokens: int = 2000,
                 doc_chars: int = 50_000, busy_timeout_s: float = 30.0) -> None:
        if memory_chars < 1 or memory_tokens < 1 or doc_chars < 1:
            raise ValueError("notes budgets must be positive")
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.memory_chars = memory_chars
        self.memory_tokens = memory_tokens
        self.doc_chars = doc_chars
        self._lock = threading.RLock()  # one connection, used from worker threads one at a time
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                       check_same_thread=False)
            _wal(self._db, busy_timeout_s)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            reason = why_not_a_directory(self.directory, exc) if isinstance(exc, OSError) else exc
            raise NotesError(f"cannot open the notes store at {self.directory}: {reason}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> NotesStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- schema -----------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._write():
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied TEXT)")
            done = {r[0] for r in self._db.execute("SELECT name FROM schema_migrations")}
            for name, sql in MIGRATIONS:
                if name not in done:
                    for statement in _split_sql(sql):
                        self._db.execute(statement)
                    self._db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, now_utc()))

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One atomic change: BEGIN IMMEDIATE takes the write lock before anything is read."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise NotesError(f"the notes store is busy or unwritable: {exc}") from exc
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _query(self, sql: str, args: Any = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ----- reading ----------------------------------------------------------------------
    def get(self, entry_id: int) -> Entry:
        rows = self._query(f"SELECT {_COLUMNS} FROM entries WHERE id = ?", (int(entry_id),))
        if not rows:
            raise NotesError(f"no note with id {entry_id}")
        return _entry(rows[0])

    def entries(self, kind: str | None = None, *, include_dead: bool = False) -> list[Entry]:
        sql = f"SELECT {_COLUMNS} FROM entries WHERE 1=1"
        args: list[Any] = []
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        if not include_dead:
            sql += " AND status = 'live'"
        return [_entry(r) for r in self._query(sql + " ORDER BY id", args)]

    def memories(self) -> list[Entry]:
        return self.entries("memory")

    def memory_tokens_used(self, exclude: int | None = None) -> int:
        return sum(e.tokens for e in self.memories() if e.id != exclude)

    def search(self, query: str, k: int = 5, kind: str | None = None) -> list[tuple[Entry, float]]:
        """Live entries that best match `query` (BM25 over titles and texts), best first."""
        words = re.findall(r"\w+", query)
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', "") + '"' for w in words[:64])
        sql = (f"SELECT {', '.join('e.' + c.strip() for c in _COLUMNS.split(','))}, bm25(entries_fts) AS score "
               "FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid "
               "WHERE entries_fts MATCH ? AND e.status = 'live'")
        args: list[Any] = [match]
        if kind is not None:
            sql += " AND e.kind = ?"
            args.append(kind)
        sql += " ORDER BY score LIMIT ?"
        args.append(max(1, int(k)))
        return [(_entry(r[:-1]), -float(r[-1])) for r in self._query(sql, args)]

    def history(self, entry_id: int | None = None) -> list[Change]:
        sql = "SELECT id, entry_id, action, run_id, reason, at, before, after FROM history"
        args: tuple[Any, ...] = ()
        if entry_id is not None:
            # an entry's history includes the changes of the entries it replaced or that replaced it
            chain = self._chain(int(entry_id))
            sql += f" WHERE entry_id IN ({','.join('?' * len(chain))})"
            args = tuple(chain)
        rows = self._query(sql + " ORDER BY id", args)
        return [Change(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]) if r[6] else None,
                       json.loads(r[7]) if r[7] else None) for r in rows]

    def _chain(self, entry_id: int) -> list[int]:
        self.get(entry_id)
        ids, frontier = {entry_id}, [entry_id]
        while frontier:
            e = self.get(frontier.pop())
            for other in (e.supersedes, e.superseded_by):
                if other is not None and other not in ids:
                    ids.add(other)
                    frontier.append(other)
        return sorted(ids)

    # ----- writing ----------------------------------------------------------------------
    def _record(self, entry_id: int, action: str, run_id: str | None, reason: str | None,
                before: Entry | None, after: Entry | None) -> None:
        check_fields(reason=reason)
        self._db.execute(
            "INSERT INTO history (entry_id, action, run_id, reason, at, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry_id, action, run_id, reason, now_utc(),
             json.dumps(before.as_dict()) if before else None, json.dumps(after.as_dict()) if after else None),
        )

    def _insert(self, kind: str, title: str, text: str, *, run_id: str | None, query: str | None,
                supersedes: int | None = None, provenance: str = "model", quoted: list[str] | None = None,
                tags: list[str] | None = None, docs: list[int] | None = None) -> Entry:
        check_fields(tags=tags, quoted=quoted)
        query = cut_query(query)
        stamp = now_utc()
        cur = self._db.execute(
            "INSERT INTO entries (kind, title, text, norm_hash, created, updated, status, source_run, "
            "source_query, supersedes, provenance, quoted, tags, docs) "
            "VALUES (?, ?, ?, ?, ?, ?, 'live', ?, ?, ?, ?, ?, ?, ?)",
            (kind, title, text, _hash(_key(kind, title, text)), stamp, stamp, run_id,
             query, supersedes, provenance, json.dumps(quoted or []), json.dumps(tags or []),
             json.dumps(docs or [])),
        )
        return self.get(int(cur.lastrowid or 0))

    def _set_status(self, entry: Entry, status: str, superseded_by: int | None = None) -> Entry:
        self._db.execute("UPDATE entries SET status = ?, superseded_by = ?, updated = ? WHERE id = ?",
                         (status, superseded_by, now_utc(), entry.id))
        return self.get(entry.id)

    def _live_duplicate(self, kind: str, key: str) -> Entry | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM entries WHERE norm_hash = ? AND kind = ? AND status = 'live' LIMIT 1",
            (_hash(key), kind)).fetchone()
        return _entry(row) if row else None

    def _check_memory(self, text: str, replacing: int | None = None) -> None:
        if not text.strip():
            raise NotesRefused("refused: the memory is empty")
        if len(text) > self.memory_chars:
            raise NotesRefused(
                f"refused: the memory is {len(text):,} characters and the limit is {self.memory_chars:,}. "
                "Shorten it to the one fact a future run needs, or put the detail in a doc with "
                "document(title, text) and remember a one-line pointer to it."
            )
        used = self.memory_tokens_used(exclude=replacing)
        need = estimate_tokens(text)
        if used + need > self.memory_tokens:
            raise NotesRefused(
                f"refused: live memories hold {used:,} of {self.memory_tokens:,} tokens and this one needs "
                f"{need:,}. Merge it into an existing memory with revise(id, text, reason), forget(id, reason) "
                "one that no longer holds, or move detail to a doc with document(title, text)."
            )

    def remember(self, text: str, reason: str | None = None, *, run_id: str | None = None,
                 query: str | None = None, provenance: str = "model", quoted: list[str] | None = None,
                 tags: list[str] | None = None, docs: list[int] | None = None) -> tuple[Entry, bool]:
        """Add a memory; returns (entry, created). An identical live memory is returned as it
        is (created False): a duplicate neither adds a second copy nor touches the first."""
        with self._write():
            return self._add("memory", "", text.strip(), "add", run_id, reason, run_id=run_id, query=query,
                             provenance=provenance, quoted=quoted, tags=tags, docs=docs)

    def _add(self, kind: str, title: str, text: str, action: str, change_run: str | None,
             reason: str | None, **fields: Any) -> tuple[Entry, bool]:
        """Inside a write: return a live duplicate as it is, or check the budget (NotesRefused),
        insert the entry and record the change that added it."""
        existing = self._live_duplicate(kind, _key(kind, title, text))
        if existing is not None:
            return existing, False
        if kind == "memory":
            self._check_memory(text)
        else:
            self._check_doc(title, text)
        entry = self._insert(kind, title, text, **fields)
        self._record(entry.id, action, change_run, reason, None, entry)
        return entry, True

    def revise(self, entry_id: int, text: str, reason: str | None = None, *, run_id: str | None = None,
               query: str | None = None, provenance: str = "model", quoted: list[str] | None = None,
               title: str | None = None) -> Entry:
        """Replace a live entry with a new text: the new entry supersedes the old one."""
        text = text.strip()
        with self._write():
            old = self.get(entry_id)
            if old.status != "live":
                raise NotesRefused(f"refused: note {entry_id} is {old.status}, not live; revise the live one"
                                   + (f" ({old.superseded_by})" if old.superseded_by else ""))
            if old.kind == "memory":
                duplicate = self._live_duplicate("memory", text)
                if duplicate is not None and duplicate.id != old.id:
                    raise NotesRefused(f"refused: memory {duplicate.id} already says this; forget({old.id}) instead")
                self._check_memory(text, replacing=old.id)
            else:
                self._check_doc(title if title is not None else old.title, text)
            new = self._insert(old.kind, title if title is not None else old.title, text, run_id=run_id,
                               query=query, supersedes=old.id, provenance=provenance, quoted=quoted,
                               tags=old.tags, docs=old.docs)
            old_after = self._set_status(old, "superseded", new.id)
            self._record(old.id, "supersede", run_id, reason, old, old_after)
            self._record(new.id, "add", run_id, reason, None, new)
            return new

    def forget(self, entry_id: int, reason: str | None = None, *, run_id: str | None = None) -> Entry:
        """Take a live entry out of use (kept, with its history; `undo` brings it back)."""
        with self._write():
            old = self.get(entry_id)
            if old.status != "live":
                raise NotesRefused(f"refused: note {entry_id} is already {old.status}")
            after = self._set_status(old, "forgotten")
            self._record(old.id, "forget", run_id, reason, old, after)
            return after

    def _check_doc(self, title: str, text: str) -> None:
        if not text.strip():
            raise NotesRefused("refused: the document is empty")
        if len(text) > self.doc_chars:
            raise NotesRefused(
                f"refused: the document is {len(text):,} characters and the limit is {self.doc_chars:,}; "
                "keep what a future run needs (findings, the method that worked) and split the rest")
        if len(title) > TITLE_CHARS:
            raise NotesRefused(f"refused: a document title is at most {TITLE_CHARS} characters")

    def document(self, title: str, text: str, reason: str | None = None, *, run_id: str | None = None,
                 query: str | None = None, provenance: str = "model", quoted: list[str] | None = None,
                 tags: list[str] | None = None) -> tuple[Entry, bool]:
        """Archive a document; returns (entry, created) (an identical live doc is not added twice)."""
        with self._write():
            return self._add("doc", title.strip() or "untitled", text.strip(), "add", run_id, reason,
                             run_id=run_id, query=query, provenance=provenance, quoted=quoted, tags=tags)

    def undo(self, change_id: int, reason: str | None = None, *, run_id: str | None = None) -> list[Change]:
        """Reverse one change (a history row): an add is forgotten, a forget is restored, a
        supersede restores the old entry and retires its replacement. Recorded as 'undo'."""
        with self._write():
            row = self._db.execute("SELECT entry_id, action FROM history WHERE id = ?", (int(change_id),)).fetchone()
            if row is None:
                raise NotesError(f"no change with id {change_id}")
            entry_id, action = row
            entry = self.get(entry_id)
            why = reason or f"undo change {change_id}"
            if action in ("add", "import"):
                if entry.status == "live":
                    self._record(entry.id, "undo", run_id, why, entry, self._set_status(entry, "forgotten"))
            elif action in ("forget", "supersede"):
                if entry.status == "live":
                    raise NotesRefused(f"refused: note {entry.id} is already live")
                replacement = self.get(entry.superseded_by) if entry.superseded_by else None
                if replacement is not None and replacement.status == "live":
                    self._record(replacement.id, "undo", run_id, why, replacement,
                                 self._set_status(replacement, "forgotten"))
                if entry.kind == "memory":
                    self._check_memory(entry.text, replacing=entry.id)
                self._record(entry.id, "undo", run_id, why, entry, self._set_status(entry, "live"))
            else:
                raise NotesRefused(
                    f"refused: a change of type {action!r} cannot be undone; undo the change it reversed")
            return self.history(entry_id)

    def edit(self, entry_id: int, text: str, reason: str | None = None) -> Entry:
        """A user's edit: a revision whose source is the user."""
        return self.revise(entry_id, text, reason or "edited by the user", run_id="user", provenance="user")

    # ----- exchange ---------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        return {
            "format": "rlm-notes/1",
            "exported": now_utc(),
            "entries": [e.as_dict() for e in self.entries(include_dead=True)],
            "history": [vars(c) for c in self.history()],
        }

    def import_(self, data: dict[str, Any], *, run_id: str | None = "import") -> tuple[int, int]:
        """Add the live entries of an export (their text, provenance and source kept);
        returns (added, skipped as duplicates or over budget)."""
        if not isinstance(data, dict) or data.get("format") != "rlm-notes/1":
            raise NotesError("not an rlm notes export (format rlm-notes/1)")
        added = skipped = 0
        for raw in data.get("entries", []):
            if raw.get("status") != "live" or raw.get("kind") not in KINDS:
                continue
            with self._write():
                try:
                    _, created = self._add(
                        raw["kind"], raw.get("title", ""), raw["text"], "import", run_id,
                        f"imported (was id {raw.get('id')})", run_id=raw.get("source_run"),
                        query=raw.get("source_query"), provenance=raw.get("provenance", "model"),
                        quoted=raw.get("quoted"), tags=raw.get("tags"))
                except NotesRefused:
                    created = False
            added, skipped = (added + 1, skipped) if created else (added, skipped + 1)
        return added, skipped

    def check(self) -> list[str]:
        """Consistency problems, if any: SQLite's integrity check, the FTS index against the
        entries, and every entry having the history row that created it."""
        with self._lock:
            return self._check()

    def _check(self) -> list[str]:
        problems = []
        result = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            problems.append(f"integrity_check: {result}")
        try:
            self._db.execute("INSERT INTO entries_fts(entries_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            problems.append(f"fts: {exc}")
        orphans = self._db.execute(
            "SELECT COUNT(*) FROM entries e WHERE NOT EXISTS "
            "(SELECT 1 FROM history h WHERE h.entry_id = e.id AND h.action IN ('add', 'import'))").fetchone()[0]
        if orphans:
            problems.append(f"{orphans} entries without the history row that added them")
        return problems


def _split_sql(script: str) -> list[str]:
    """Statements of a migration; trigger bodies keep their inner semicolons."""
    statements, current = [], []
    depth = 0
    for line in script.strip().splitlines():
        current.append(line)
        upper = line.strip().upper()
        if upper.startswith("CREATE TRIGGER"):
            depth += 1
        if upper == "END;":
            depth -= 1
        if line.rstrip().endswith(";") and depth == 0:
            statements.append("\n".join(current))
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current))
    return statements
