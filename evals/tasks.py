"""Eval tasks: one JSONL line each, with large contexts kept in files beside the JSONL.

A task: id, suite, variant, length (target tokens, estimated as characters / 4), chars (actual),
context (inline text, small tasks only) or context_path (a file or a directory, relative to the
JSONL's folder), question, gold, and for oolong / pairs a labelled copy (labelled_path).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlm import RLMError


class EvalError(RLMError, ValueError):
    """Bad input to an eval command: an unknown suite, variant or method, a bad length, no tasks."""


INLINE_LIMIT_CHARS = 64_000  # contexts above this go to a file


def parse_length(text: str | int) -> int:
    """'32k' -> 32,000; '1m' -> 1,000,000; '4096' -> 4,096 (tokens). K and M are decimal,
    like the paper's lengths; '128ki' / '1mi' are binary (131,072 / 1,048,576)."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM][iI]?)?\s*", str(text))
    if not m:
        raise EvalError(f"not a length: {text!r} (use e.g. 4096, 32k, 1m)")
    number, unit = float(m.group(1)), (m.group(2) or "").lower()
    scale = {"": 1, "k": 1000, "m": 1_000_000, "ki": 1024, "mi": 1024**2}[unit]
    value = int(number * scale)
    if value < 1:
        raise EvalError("a length must be at least 1 token")
    return value


def format_length(tokens: int) -> str:
    for scale, unit in ((1_000_000, "m"), (1000, "k")):
        if tokens >= scale and tokens % scale == 0:
            return f"{tokens // scale}{unit}"
    return str(tokens)


@dataclass
class Task:
    """One eval task (see the module docstring)."""

    id: str
    suite: str
    variant: str
    length: int
    chars: int
    question: str
    gold: Any
    context: str | None = None
    context_path: str | None = None
    labelled_path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def load_context(self, base: Path) -> Any:
        """The context as the controller takes it: text, or a Path (a file or a directory)."""
        if self.context is not None:
            return self.context
        if self.context_path is None:
            raise EvalError(f"task {self.id} has no context")
        return (base / self.context_path).resolve()

    def context_text(self, base: Path) -> str:
        """The whole context as one string (for baselines that read it all)."""
        ctx = self.load_context(base)
        if isinstance(ctx, str):
            return ctx
        if ctx.is_dir():
            parts = []
            for p in sorted(q for q in ctx.rglob("*") if q.is_file() and not q.name.startswith(".")):
                parts.append(f"==> {p.relative_to(ctx)} <==\n{p.read_text(encoding='utf-8', errors='replace')}")
            return "\n\n".join(parts)
        return ctx.read_text(encoding="utf-8")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def write_tasks(tasks: list[Task], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(t.to_json() + "\n" for t in tasks)


def read_tasks(path: Path) -> list[Task]:
    """Tasks from a JSONL file, or from every tasks*.jsonl in a directory."""
    if not path.exists():
        raise EvalError(f"no such file or directory: {path}")
    files = sorted(path.glob("tasks*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise EvalError(f"{path} holds no tasks*.jsonl (rlm eval generate writes them)")
    tasks = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        tasks.append(Task(**json.loads(line)))
                    except (TypeError, ValueError) as exc:
                        raise EvalError(f"{f}:{n}: not a task ({exc})") from None
    return tasks
