"""Trajectories: one JSONL file per run, one event per line, appended and flushed as it
happens so that a crash keeps everything that ran before it.

Events: run_start (settings without secrets, context description, query), model_call
(messages as role + size + hash, reply, tokens, latency), cell (code, output, duration),
sub_call (the prompt, or the head and tail of a long one; reply, tokens, latency, depth),
child_run (its run id and file), final (answer, status) and totals. Every event carries `t`
(seconds since the run started) and `ts` (UTC time). rlm/events.py declares every kind and its
fields, and the schema version run_start carries.

Every event is bounded here, in the writer, whatever its kind (`bound_event`): each text is cut
to its field's cap (`FIELD_CHARS`, `DEFAULT_FIELD_CHARS` for any field not listed; the head and
tail are kept with a marker), dict keys to `KEY_CHARS`, lists and dicts to `MAX_ITEMS` entries,
and an event that had anything cut lists the cut fields in `cut`. A run's files hold at most
its budget (RLMConfig.trajectory_bytes): past `FULL_SHARE` of it events are written in short
form (scalars, texts cut to `SHORT_CHARS`, sizes of the rest; the first says so with a
`trajectory_budget` event), and the last `TAIL_RESERVE_BYTES` (a 16th of a smaller budget)
are kept for the root run's final and totals events; anything else past that is counted, not
written (`dropped_events` in the final event). The budget is shared by a root run and its child
runs (`ByteBudget`): their files together stay within it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rlm.errors import ConfigError
from rlm.events import UNFINISHED, Event, Kind, PromptRecord, TrajectoryBudgetEvent
from rlm.writable import ensure_dir


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


# a sub-call's prompt up to this size is kept whole in the trajectory; a longer one (it carries a
# chunk of the context, which is on disk already) keeps its head, its tail, its size and its hash
PROMPT_KEEP_CHARS = 4_000
PROMPT_HEAD_CHARS = 1_500
PROMPT_TAIL_CHARS = 300


# the cap of each recorded field, in characters (a nested value takes its top-level field's cap);
# fields not listed get DEFAULT_FIELD_CHARS. The answer is recorded whole once, in the final
# event; a cell's `final` is a preview of the answer that cell left ready.
FINAL_ANSWER_CHARS = 10_000_000  # sandbox.kernel.caps.FINAL_MAX_CHARS, plus its marker
FIELD_CHARS: dict[str, int] = {
    "answer": FINAL_ANSWER_CHARS + 100, "reply": 1_000_000, "code": 1_000_000, "query": 1_000_000,
    "stdout": 1_000_000, "error": 100_000, "config": 100_000, "replay": 100_000, "context": 100_000,
    "memory_texts": 2_000, "writes": 2_000, "request": 2_000, "description": 100_000,
    "prompt": PROMPT_KEEP_CHARS, "prompt_head": PROMPT_HEAD_CHARS, "prompt_tail": PROMPT_TAIL_CHARS,
}
DEFAULT_FIELD_CHARS = 2_000
KEY_CHARS = 200
MAX_ITEMS = 1_000
MAX_DEPTH = 8
SHORT_CHARS = 200
SHORT_FIELD_CHARS = {"answer": 16_000}  # a short final event still shows the answer's start
FULL_SHARE = 0.875
TAIL_RESERVE_BYTES = 256 << 10
ALWAYS_WRITTEN = (Kind.FINAL, Kind.TOTALS, Kind.TRAJECTORY_BUDGET)


def _cut_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = max(limit // 2, 1)
    tail = max(limit - head, 0)
    return (f"{text[:head]}\n... [{len(text) - head - tail:,} characters cut from the record; "
            f"{len(text):,} in all] ...\n{text[len(text) - tail:] if tail else ''}")


def _bounded(value: Any, limit: int, depth: int, cut: list[bool]) -> Any:
    """`value` as JSON data with every text cut to `limit`, keys to KEY_CHARS, containers to
    MAX_ITEMS entries and MAX_DEPTH levels; `cut[0]` becomes True if anything was cut."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        if len(value) > limit:
            cut[0] = True
            return _cut_text(value, limit)
        return value
    if isinstance(value, Path):
        return _bounded(str(value), limit, depth, cut)
    if depth >= MAX_DEPTH:
        cut[0] = True
        return f"[{type(value).__name__} nested too deep to record]"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                cut[0] = True
                out["..."] = f"{len(value) - MAX_ITEMS:,} more entries not recorded"
                break
            key = str(k)
            if len(key) > KEY_CHARS:
                cut[0] = True
                key = _cut_text(key, KEY_CHARS)
            out[key] = _bounded(v, limit, depth + 1, cut)
        return out
    if isinstance(value, (list, tuple)):
        items = [_bounded(v, limit, depth + 1, cut) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            cut[0] = True
            items.append(f"... {len(value) - MAX_ITEMS:,} more items not recorded")
        return items
    return _bounded(str(value), limit, depth, cut)


def bound_event(event: Mapping[str, Any], *, short: bool = False) -> dict[str, Any]:
    """`event` with every field within its cap (see the module docstring); in short form only
    scalars, texts cut to SHORT_CHARS and the sizes of containers. Fields that were cut are
    listed in `cut`."""
    out: dict[str, Any] = {}
    cut_fields: list[str] = []
    for key, value in event.items():
        name = key if isinstance(key, str) and len(key) <= KEY_CHARS else _cut_text(str(key), KEY_CHARS)
        cut = [name != key]
        if short and isinstance(value, (dict, list, tuple)):
            out[name] = {"not_recorded": type(value).__name__, "items": len(value)}
            cut[0] = True
        else:
            limit = FIELD_CHARS.get(name, DEFAULT_FIELD_CHARS)
            if short:
                limit = min(limit, SHORT_FIELD_CHARS.get(name, SHORT_CHARS))
            out[name] = _bounded(value, limit, 0, cut)
        if cut[0]:
            cut_fields.append(name)
    if cut_fields:
        out["cut"] = cut_fields
    return out


def prompt_record(prompt: str) -> PromptRecord:
    """What a trajectory keeps of a sub-call's prompt: all of a short one; the head, tail, size and
    hash of a long one (the viewer finds where its text came from in the context)."""
    if len(prompt) <= PROMPT_KEEP_CHARS:
        return {"prompt": prompt, "prompt_chars": len(prompt)}
    return {"prompt_head": prompt[:PROMPT_HEAD_CHARS], "prompt_tail": prompt[-PROMPT_TAIL_CHARS:],
            "prompt_chars": len(prompt),
            "prompt_sha256": hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:16]}


def message_digest(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Messages as sizes and hashes: enough to tell what changed, without copying the text."""
    out = []
    for m in messages:
        content = m.get("content") or ""
        out.append({
            "role": m.get("role"),
            "chars": len(content),
            "sha256": hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()[:16],
        })
    return out


DEFAULT_BUDGET_BYTES = 64 << 20


class ByteBudget:
    """The bytes the trajectories of one run tree (a root run and its child runs) may write
    together; shared by their writers (thread-safe)."""

    def __init__(self, total: int = DEFAULT_BUDGET_BYTES) -> None:
        self.total = max(int(total), 64 << 10)
        self.full_limit = int(self.total * FULL_SHARE)
        self.short_limit = self.total - min(TAIL_RESERVE_BYTES, self.total // 16)
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int, limit: int) -> bool:
        """Count `n` bytes if the total stays within `limit`; False (nothing counted) if not."""
        with self._lock:
            if self.used + n > limit:
                return False
            self.used += n
            return True


class Trajectory:
    """An append-only JSONL file (or nothing, when `path` is None) that writes within `budget`
    (bytes, or a ByteBudget shared with the other runs of its tree; see the module docstring
    for what is written once it is spent). Only a root run (`root`) may use the reserve kept
    for its final and totals events, so the tree's files together never pass the budget."""

    def __init__(self, path: Path | None, run_id: str, budget: int | ByteBudget = DEFAULT_BUDGET_BYTES,
                 *, root: bool = True) -> None:
        self.path = path
        self.run_id = run_id
        self.started = time.monotonic()
        self.budget = budget if isinstance(budget, ByteBudget) else ByteBudget(budget)
        self.root = root
        self.written = 0
        self.dropped = 0
        self._noticed = False
        self._lock = threading.Lock()
        self._file: Any = None
        if path is not None:
            ensure_dir(path.parent, "trajectories", setting="runs_dir, or trajectory=False",
                       option="--runs-dir DIR, or set RLM_HOME")
            # O_EXCL: a run never appends to another run's file
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            except OSError as exc:
                raise ConfigError(f"cannot write the trajectory {path}: {exc.strerror}") from exc
            self._file = os.fdopen(fd, "ab")

    def write(self, event: Event) -> None:
        if self._file is None:
            return
        record = {
            "event": event.get("event"),
            "run_id": self.run_id,
            "t": round(time.monotonic() - self.started, 4),
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **{k: v for k, v in event.items() if k != "event"},
        }
        with self._lock:
            if self._file is None:
                return
            data = self._bytes(record)
            if data:
                self._file.write(data)
                self._file.flush()
                self.written += len(data)

    def _bytes(self, record: dict[str, Any]) -> bytes:
        """What to write for `record` within the budget (b"": counted as dropped). Called
        with the lock held."""
        b = self.budget
        last = self.root and record.get("event") in ALWAYS_WRITTEN
        if record.get("event") == Kind.FINAL and self.dropped:
            record["dropped_events"] = self.dropped
        line = _encode(bound_event(record))
        if b.take(len(line), b.total if last else b.full_limit):
            return line
        notice = b""
        if not self._noticed:
            self._noticed = True
            notice = _encode(bound_event(TrajectoryBudgetEvent(
                event="trajectory_budget", run_id=self.run_id, t=record["t"], ts=record["ts"],
                budget_bytes=b.total, written_bytes=self.written,
                message="the trajectory byte budget is spent: later events are recorded in short form")))
            if not b.take(len(notice), b.short_limit):
                notice = b""
        line = _encode(bound_event(record, short=True))
        if b.take(len(line), b.total if last else b.short_limit):
            return notice + line
        self.dropped += 1
        return notice

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _encode(record: dict[str, Any]) -> bytes:
    # a lone surrogate (from a model's JSON or the kernel) is written as its JSON escape, which
    # reads back as the same string
    return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8", "backslashreplace")


def summarise_run(path: Path) -> dict[str, Any]:
    """One line about a run from its trajectory: id, start, depth, parent, model, query,
    status (or "running / crashed" when the file has no final event), answer, tokens, cost."""
    out: dict[str, Any] = {"run_id": path.stem, "path": str(path), "status": UNFINISHED,
                           "answer": None, "tokens": 0, "cost_usd": 0.0, "iterations": 0}
    for e in read_trajectory(path):
        kind = e.get("event")
        if kind == Kind.RUN_START:
            out.update(started=e.get("ts"), depth=e.get("depth", 0), parent=e.get("parent_run_id"),
                       model=e.get("model"), query=e.get("query"))
        elif kind == Kind.FINAL:
            out.update(status=e.get("status"), answer=e.get("answer"), evidence=e.get("evidence") or [])
        elif kind == Kind.TOTALS:
            out.update(tokens=e.get("usage", {}).get("total", {}).get("total_tokens", 0),
                       cost_usd=e.get("cost_usd", 0.0), iterations=e.get("iterations", 0),
                       wall_s=e.get("wall_s"))
    return out


def list_runs(runs_dir: Path, limit: int | None = 20, include_children: bool = False) -> list[dict[str, Any]]:
    """The newest runs first (run ids start with their UTC start time)."""
    if not runs_dir.is_dir():
        return []
    runs = []
    for path in sorted(runs_dir.glob("*.jsonl"), reverse=True):
        info = summarise_run(path)
        if include_children or not info.get("parent"):
            runs.append(info)
        if limit is not None and len(runs) >= limit:
            break
    return runs


def read_trajectory(path: Path) -> Iterator[dict[str, Any]]:
    """The events of a trajectory file; a torn last line (a crash mid-write) is skipped."""
    return read_jsonl(path)


def append_jsonl(path: Path, value: Any) -> None:
    """Append one JSON line, durably. A torn last line (a crash mid-write) gets its newline
    first, so it stays one unreadable line instead of swallowing this one."""
    line = (json.dumps(value, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    with open(path, "a+b") as f:
        end = f.seek(0, os.SEEK_END)
        if end:
            f.seek(end - 1)
            if f.read(1) != b"\n":
                line = b"\n" + line
        f.write(line)  # append mode: always at the end, whatever was read
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> Iterator[Any]:
    """The values of a JSON-lines file, skipping blank lines and lines that do not parse
    (a torn last line after a crash mid-write)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
