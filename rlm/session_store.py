"""The file that lets a session outlive the process that opened it: `<runs_dir>/sessions/<name>.json`
(its context's fingerprint and each ask's question, answer, status and run id, rewritten whole
after every ask) and a lock beside it, held while a process has the session open, so that two
processes never ask in one session at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path
from typing import Any

from rlm.errors import ConfigError, ContextError
from rlm.session_kernel import EarlierAsk

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}\Z")
VERSION = 1
MAX_FILE_BYTES = 16 << 20  # a session file larger than this is not read (answers are kept whole)


def check_name(name: str) -> str:
    """`name` if it can name a session file (letters, digits, `.`, `_`, `-`; up to 80), else ConfigError."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(f"a session name is 1 to 80 letters, digits, '.', '_' or '-', starting with a letter "
                          f"or digit; not {name!r}"[:200])
    return name


class SessionFile:
    """One session's record and lock under `directory` (created private on first use)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = check_name(name)
        self.directory = directory
        self.path = directory / f"{name}.json"
        self._lock_fd: int | None = None

    def acquire(self) -> None:
        """Hold the session's lock until `release`; ConfigError if another process holds it."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.directory / f"{self.name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(f"session {self.name!r} is open in another process; close it there first") from None
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the lock
            self._lock_fd = None

    def load(self) -> dict[str, Any] | None:
        """The saved record, or None for a new session; ContextError for a file that is not one."""
        try:
            with open(self.path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ContextError(f"cannot read session file {self.path}: {exc.strerror or exc}") from None
        try:
            if len(data) > MAX_FILE_BYTES:
                raise ValueError("too large")
            record = json.loads(data)
            if not isinstance(record, dict) or not isinstance(record.get("asks"), list):
                raise ValueError("no list of asks")
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested past the parser's depth
            raise ContextError(f"{self.path} is not a session file ({exc}); remove it or choose another name") from None
        return record

    def save(self, record: dict[str, Any]) -> None:
        """Write `record` whole (a crash leaves the old file or the new one, never half of one)."""
        tmp = self.path.with_name(f".{self.name}.json.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({**record, "version": VERSION}, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def asks_of(record: dict[str, Any]) -> list[EarlierAsk]:
    """The asks a saved record holds (entries that are not asks are passed over)."""
    asks = []
    for a in record.get("asks") or []:
        if isinstance(a, dict) and isinstance(a.get("question"), str) and isinstance(a.get("run_id"), str):
            answer = a.get("answer")
            evidence = a.get("evidence")
            asks.append(EarlierAsk(a["question"], answer if isinstance(answer, str) else None,
                                   str(a.get("status") or ""), a["run_id"],
                                   [e for e in evidence if isinstance(e, dict)] if isinstance(evidence, list) else []))
    return asks


def ask_record(ask: EarlierAsk) -> dict[str, Any]:
    return {"question": ask.question, "answer": ask.answer, "status": ask.status, "run_id": ask.run_id,
            "evidence": ask.evidence}
