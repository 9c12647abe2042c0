"""Trajectories: one JSONL file per run, one event per line, appended and flushed as it
happens so that a crash keeps everything that ran before it.

Events: run_start (settings without secrets, context description, query), model_call
(messages as role + size + hash, reply, tokens, latency), cell (code, output, duration),
sub_call (the prompt, or the head and tail of a long one; reply, tokens, latency, depth),
child_run (its run id and file), final (answer, status) and totals. Every event carries `t`
(seconds since the run started) and `ts` (UTC time).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


# a sub-call's prompt up to this size is kept whole in the trajectory; a longer one (it carries a
# chunk of the context, which is on disk already) keeps its head, its tail, its size and its hash
PROMPT_KEEP_CHARS = 4_000
PROMPT_HEAD_CHARS = 1_500
PROMPT_TAIL_CHARS = 300


def prompt_record(prompt: str) -> dict[str, Any]:
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


class Trajectory:
    """An append-only JSONL file (or nothing, when `path` is None)."""

    def __init__(self, path: Path | None, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: a run never appends to another run's file
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, event: dict[str, Any]) -> None:
        record = {
            "event": event.get("event"),
            "run_id": self.run_id,
            "t": round(time.monotonic() - self.started, 4),
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **{k: v for k, v in event.items() if k != "event"},
        }
        if self._file is None:
            return
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def summarise_run(path: Path) -> dict[str, Any]:
    """One line about a run from its trajectory: id, start, depth, parent, model, query,
    status (or "running / crashed" when the file has no final event), answer, tokens, cost."""
    out: dict[str, Any] = {"run_id": path.stem, "path": str(path), "status": "running or crashed",
                           "answer": None, "tokens": 0, "cost_usd": 0.0, "iterations": 0}
    for e in read_trajectory(path):
        kind = e.get("event")
        if kind == "run_start":
            out.update(started=e.get("ts"), depth=e.get("depth", 0), parent=e.get("parent_run_id"),
                       model=e.get("model"), query=e.get("query"))
        elif kind == "final":
            out.update(status=e.get("status"), answer=e.get("answer"))
        elif kind == "totals":
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
