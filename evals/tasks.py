"""Eval tasks: one JSONL line each, with large contexts kept in files beside the JSONL.

A task: id, suite, variant, length (target tokens), tokens (measured) and the tokenizer that
measured them (see `evals.tokens`), chars (actual),
context (inline text, small tasks only) or context_path (a file or a directory, relative to the
JSONL's folder), question, gold, and for oolong / pairs a labelled copy (labelled_path).
Suites whose answer rests on known passages (sniah, multidoc, codeqa) add gold_evidence: where
each passage is, as the generator placed it (see `GoldSpan`); tasks written before it have none.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from rlm import RLMError
from rlm.writable import ensure_dir


class EvalError(RLMError, ValueError):
    """Bad input to an eval command: an unknown suite, variant or method, a bad length, no tasks."""


INLINE_LIMIT_CHARS = 64_000  # contexts above this go to a file


MAX_LENGTH = 2**27  # 128M tokens, about half a gigabyte of text


def parse_length(text: str | int) -> int:
    """'32k' -> 32,768; '1m' -> 1,048,576; '2^15' -> 32,768; '4096' -> 4,096 (tokens). K and M
    are powers of two, like the lengths of RULER, OOLONG and the RLM paper (2^13 ... 2^18)."""
    if isinstance(text, int):
        return parse_length(str(text))
    raw = str(text).strip()
    power = re.fullmatch(r"2\s*\^\s*(\d{1,2})", raw)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmM][iI]?)?", raw)
    if power:
        value = 2 ** int(power.group(1))
    elif m:
        number, unit = float(m.group(1)), (m.group(2) or "").lower().rstrip("i")
        value = int(number * {"": 1, "k": 1024, "m": 1024**2}[unit])
    else:
        raise EvalError(f"not a length: {text!r} (use e.g. 4096, 32k, 1m, 2^15)")
    if value < 1:
        raise EvalError("a length must be at least 1 token")
    if value > MAX_LENGTH:
        raise EvalError(f"{text!r} is {value:,} tokens; the most is 2^27 ({MAX_LENGTH:,})")
    return value


def format_length(tokens: int) -> str:
    for scale, unit in ((1024**2, "m"), (1024, "k")):
        if tokens >= scale and tokens % scale == 0:
            return f"{tokens // scale}{unit}"
    return str(tokens)


class GoldSpan(TypedDict):
    """A passage an answer rests on: `document`, the document as the context names it (a file's
    path relative to a directory context), or None when the context is one text (a str or one
    file); `start` / `end`, its byte range in that document's UTF-8 text (in the whole text when
    `document` is None); `text`, the passage itself."""

    document: str | None
    start: int
    end: int
    text: str


def gold_span(document: str | None, text: str, start_char: int, passage: str) -> GoldSpan:
    """The span of `passage`, which starts at character `start_char` of `text` (a document's
    text, or the whole context's): its byte range in the UTF-8 text."""
    if text[start_char:start_char + len(passage)] != passage:
        raise ValueError(f"the passage is not at character {start_char}")
    start = len(text[:start_char].encode("utf-8"))
    return {"document": document, "start": start, "end": start + len(passage.encode("utf-8")), "text": passage}


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
    tokens: int | None = None  # None: generated before lengths were measured (characters / 4)
    tokenizer: str | None = None
    gold_evidence: list[GoldSpan] | None = None  # None: the suite (or an older task) has no gold location

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
    ensure_dir(path.parent, "tasks", setting="path", option="-o DIR")
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
