"""The suites: their generators, variants and how `rlm eval generate` writes them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evals.generators import codeqa, multidoc, oolong, pairs, sniah
from evals.tasks import EvalError, Task, format_length, write_tasks
from evals.tokens import DEFAULT_TOKENIZER, Tokenizer
from evals.tokens import tokenizer as load_tokenizer
from rlm.writable import ensure_dir

MIN_LENGTH = 1024  # below this the contexts cannot hold their structure within 97-100%


@dataclass(frozen=True)
class Suite:
    name: str
    shape: str
    variants: tuple[str, ...]
    default: tuple[str, ...]  # variants cycled through when none is asked for
    generate: Callable[[str, int, int, int, Path, Tokenizer], Task]


SUITES: dict[str, Suite] = {
    # the paper's S-NIAH is single-needle tasks: the default cycles RULER's three single variants
    "sniah": Suite("sniah", "RULER needle in a haystack (default: the paper's single needle)", tuple(sniah.VARIANTS),
                   ("single_1", "single_2", "single_3"), sniah.generate),
    "oolong": Suite("oolong", "OOLONG-synth trec_coarse: aggregate latent labels over every line",
                    ("mixed", *oolong.KINDS), ("mixed",), oolong.generate),
    "pairs": Suite("pairs", "OOLONG-Pairs: every pair of users meeting a condition (default: the paper's 20 queries)",
                   ("paper", "mixed", *pairs.KINDS), ("paper",), pairs.generate),
    "multidoc": Suite("multidoc", "BrowseComp-Plus: multi-hop question over many documents",
                      ("hops3", "hops2"), ("hops3",), multidoc.generate),
    "codeqa": Suite("codeqa", "LongBench-v2 CodeQA: multiple choice over the standard library's code",
                    ("mixed", *codeqa.KINDS), ("mixed",), codeqa.generate),
}


def generate(suite: str, length: int, n: int, seed: int, out_dir: Path, variant: str | None = None,
             progress: Callable[[int], None] | None = None, tokenizer: str = DEFAULT_TOKENIZER) -> Path:
    """Write n tasks to out_dir/tasks-<suite>[-<variant>]-<length>-s<seed>[-<tokenizer>].jsonl
    (contexts beside it; the variant when one was asked for, the tokenizer when not o200k_base:
    other choices never overwrite each other), each context holding 97-100% of `length` tokens
    of `tokenizer` (see `evals.tokens`)."""
    if suite not in SUITES:
        raise EvalError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    s = SUITES[suite]
    if variant is not None and variant not in s.variants:
        raise EvalError(f"unknown {suite} variant {variant!r}; known: {', '.join(s.variants)}")
    if n < 1:
        raise EvalError("n must be at least 1")
    if length < MIN_LENGTH:
        raise EvalError(f"a task needs at least {MIN_LENGTH:,} tokens (1k), not {length:,}")
    tok = load_tokenizer(tokenizer)
    variants = itertools.cycle([variant] if variant else s.default)
    ensure_dir(out_dir, "tasks", setting="out_dir", option="-o DIR")
    tasks = []
    for i in range(n):
        task = s.generate(next(variants), length, i, seed, out_dir, tok)
        if tok.name != DEFAULT_TOKENIZER:  # another tokenizer makes another task: another id
            _rename(task, f"{task.id}-{tok.name}", out_dir)
        tasks.append(task)
        if progress:
            progress(i + 1)
    name = "-".join([f"tasks-{suite}", *([variant] if variant else []), format_length(length), f"s{seed}",
                     *([tok.name] if tok.name != DEFAULT_TOKENIZER else [])])
    path = out_dir / f"{name}.jsonl"
    write_tasks(tasks, path)
    return path


def _rename(task: Task, new_id: str, out_dir: Path) -> None:
    """Give `task` another id, its context files renamed to match (so that tasks of the same
    seed made with another tokenizer sit beside these, and results never mix them up)."""
    for attr in ("context_path", "labelled_path"):
        rel = getattr(task, attr)
        if rel and task.id in rel:
            new_rel = rel.replace(task.id, new_id, 1)
            (out_dir / new_rel).parent.mkdir(parents=True, exist_ok=True)
            (out_dir / rel).replace(out_dir / new_rel)
            setattr(task, attr, new_rel)
    task.id = new_id
