"""The persistent call cache: model replies stored by the content of the request that made them.

The key is a SHA-256 of everything that decides a reply: the endpoint, the model, the full
messages and every sampling parameter sent. The value is the reply's text and its usage. The
store is one SQLite file (WAL, so many runs and processes read and write it at once; a process
killed mid-write leaves it intact), bounded by `max_bytes`: when it grows past the bound the
least recently used entries go. Errors are never stored, nor replies cut by the token limit.
A file that SQLite cannot read (damaged, or not a database) is moved aside with one warning
(`CacheWarning`) and a new store started: a cache never stops a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rlm.errors import CacheWarning
from rlm.writable import ensure_dir

_T = TypeVar("_T")
DEFAULT_MAX_BYTES = 1 << 30
_EVICT_EVERY = 200  # writes between checks of the total size


# SQLite's primary result codes of a file that is not a readable database
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """The store's file is damaged or not a database (not: locked, busy, full, read-only)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def call_key(endpoint: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """The cache key of one request."""
    blob = json.dumps({"endpoint": endpoint, "model": model, "messages": messages, "params": params},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class CachedReply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    usage_estimated: bool


@dataclass(frozen=True)
class CacheStats:
    path: str
    entries: int
    bytes: int
    max_bytes: int
    hits: int  # lookups answered from the store, over its lifetime

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "entries": self.entries, "bytes": self.bytes, "max_bytes": self.max_bytes,
                "hits": self.hits}


class CallCache:
    """A bounded, process-safe store of model replies (see the module docstring)."""

    def __init__(self, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        ensure_dir(self.path.parent, "the call cache", setting="cache=PATH, or cache=False",
                   option="--no-cache, or set RLM_HOME")
        self._local = threading.local()
        self._writes = 0
        try:
            self._setup()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            self._set_aside(exc)
            self._setup()

    def _set_aside(self, exc: sqlite3.DatabaseError) -> None:
        """Move an unreadable store aside (kept for a look, never read again) and say so once:
        a damaged file must not stop every run, nor be deleted unseen."""
        self.close()
        stamp = f"{self.path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}"
        aside = self.path.with_name(stamp)
        while os.path.lexists(aside):  # one set aside earlier in the same second is kept too
            aside = self.path.with_name(f"{stamp}-{secrets.token_hex(2)}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):  # another process may have moved it first
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        warnings.warn(f"the call cache {self.path} could not be read ({exc}); it was moved to {aside} "
                      "and a new, empty cache started", CacheWarning, stacklevel=3)

    def _setup(self) -> None:
        """WAL mode and the table. Several processes opening a new store at once can find it
        locked even with a busy timeout (switching the journal mode takes the database
        exclusively, and SQLite may refuse at once rather than wait), so this is retried."""
        deadline = time.monotonic() + 30.0
        delay = 0.01
        while True:
            try:
                db = self._db()
                if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, model TEXT, value TEXT NOT NULL, "
                    "size INTEGER NOT NULL, created REAL NOT NULL, used REAL NOT NULL, "
                    "hits INTEGER NOT NULL DEFAULT 0)")
                db.execute("CREATE INDEX IF NOT EXISTS calls_used ON calls(used)")
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(0.5, delay * 2)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:  # one connection per thread; sqlite3 connections are not shared across them
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    def _on_store(self, op: Callable[[sqlite3.Connection], _T]) -> _T:
        """`op` on this thread's connection; a store found damaged while in use is set aside and
        `op` done once more on a new, empty one (a read is then a miss)."""
        try:
            return op(self._db())
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            self._set_aside(exc)
            self._setup()
            return op(self._db())

    def get(self, key: str) -> CachedReply | None:
        row = self._on_store(lambda db: db.execute("SELECT value FROM calls WHERE key = ?", (key,)).fetchone())
        db = self._db()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
            reply = CachedReply(str(value["text"]), int(value["prompt_tokens"]), int(value["completion_tokens"]),
                                int(value.get("cached_tokens", 0)), bool(value.get("usage_estimated", False)))
        except (ValueError, KeyError, TypeError):
            db.execute("DELETE FROM calls WHERE key = ?", (key,))  # unreadable: as good as absent
            return None
        db.execute("UPDATE calls SET used = ?, hits = hits + 1 WHERE key = ?", (time.time(), key))
        return reply

    def put(self, key: str, model: str, reply: CachedReply) -> None:
        value = json.dumps({"text": reply.text, "prompt_tokens": reply.prompt_tokens,
                            "completion_tokens": reply.completion_tokens, "cached_tokens": reply.cached_tokens,
                            "usage_estimated": reply.usage_estimated})  # ASCII: a lone surrogate too
        now = time.time()
        size = len(value) + len(key) + 64
        model = model.encode("utf-8", "backslashreplace").decode("utf-8")  # SQLite takes no lone surrogate
        row = (key, model, value, size, now, now)
        insert = ("INSERT OR REPLACE INTO calls (key, model, value, size, created, used, hits) "
                  "VALUES (?, ?, ?, ?, ?, ?, 0)")
        self._on_store(lambda db: db.execute(insert, row))
        self._writes += 1
        if self._writes % _EVICT_EVERY == 1:
            self.prune()

    def prune(self, max_bytes: int | None = None) -> int:
        """Drop the least recently used entries until the store holds at most 90% of
        `max_bytes` (the cache's bound by default); returns how many were dropped."""
        bound = self.max_bytes if max_bytes is None else max_bytes
        if not 0 < bound < math.inf:  # a negative or NaN bound would empty the whole store
            raise ValueError(f"a cache bound must be a positive number of bytes, not {bound}")
        db = self._db()
        total = db.execute("SELECT COALESCE(SUM(size), 0) FROM calls").fetchone()[0]
        if total <= bound:
            return 0
        target, dropped = int(bound * 0.9), 0
        rows = db.execute("SELECT key, size FROM calls ORDER BY used").fetchall()
        doomed = []
        for key, size in rows:
            if total <= target:
                break
            doomed.append((key,))
            total -= size
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM calls WHERE key = ?", doomed)
            db.execute("COMMIT")
            dropped = len(doomed)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return dropped

    def clear(self) -> int:
        db = self._db()
        count = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        db.execute("DELETE FROM calls")
        db.execute("VACUUM")
        return int(count)

    def stats(self) -> CacheStats:
        entries, size, hits = self._db().execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(hits), 0) FROM calls").fetchone()
        return CacheStats(str(self.path), int(entries), int(size), self.max_bytes, int(hits))

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
