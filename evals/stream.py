"""The continual-learning stream (docs/evals.md): tasks in sequence where the next one is ~89%
similar (same suite, a new instance), ~10% dissimilar (another suite) and ~1% the very same
task again; run once with notes persisted between tasks and once without, and report the
score gain, the cost change and the memory tokens carried at every step."""

from __future__ import annotations

import json
import random
import shutil
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from evals.methods import MethodSettings, run_method
from evals.scorers import score
from evals.tasks import EvalError, Task, read_tasks
from rlm.pricing import cost_text
from rlm.writable import ensure_dir

P_SAME = 0.01
P_DISSIMILAR = 0.10


def build_stream(tasks: list[Task], n: int, seed: int = 0) -> list[tuple[Task, str]]:
    """`n` steps of (task, relation to the previous step: first / similar / dissimilar / same)."""
    if not tasks:
        raise EvalError("the stream needs tasks")
    rng = random.Random(f"stream:{seed}")
    pools: dict[str, list[Task]] = {}
    for t in tasks:
        pools.setdefault(t.suite, []).append(t)
    used: set[str] = set()

    def fresh(suite: str) -> Task:
        unused = [t for t in pools[suite] if t.id not in used]
        pick = rng.choice(unused or pools[suite])
        used.add(pick.id)
        return pick

    current = fresh(rng.choice(sorted(pools)))
    stream = [(current, "first")]
    while len(stream) < n:
        r = rng.random()
        others = [s for s in sorted(pools) if s != current.suite]
        if r < P_SAME:
            rel, nxt = "same", current
        elif r < P_SAME + P_DISSIMILAR and others:
            rel, nxt = "dissimilar", fresh(rng.choice(others))
        else:
            rel, nxt = "similar", fresh(current.suite)
        stream.append((nxt, rel))
        current = nxt
    return stream


def run_stream(tasks_path: Path, n: int, settings: MethodSettings, out_path: Path, *, seed: int = 0,
               on_step: Any = None) -> list[dict[str, Any]]:
    """Run the stream with and without notes; one JSONL line per step and mode in `out_path`.
    The notes store lives in `<out_path>.notes/` and starts empty."""
    tasks = read_tasks(tasks_path)
    base = tasks_path if tasks_path.is_dir() else tasks_path.parent
    stream = build_stream(tasks, n, seed)
    notes_dir = out_path.with_suffix(".notes")
    if notes_dir.exists():
        shutil.rmtree(notes_dir)
    rows: list[dict[str, Any]] = []
    table = settings.rlm.price_table()  # an unpriced model's cost is unknown (null), not $0
    priced = all(table.get(m) is not None for m in {settings.rlm.model, settings.rlm.effective_sub_model} if m)
    ensure_dir(out_path.parent, "the stream's results", setting="out_path", option="-o FILE")
    with open(out_path, "w", encoding="utf-8") as f:
        for mode in ("notes", "no-notes"):
            s = replace(settings, rlm=replace(settings.rlm, notes=notes_dir if mode == "notes" else False))
            for step, (task, rel) in enumerate(stream, 1):
                out = run_method("rlm", task, base, s)
                row = {"step": step, "mode": mode, "relation": rel, "task_id": task.id, "suite": task.suite,
                       "score": round(score(task.suite, out.answer, task.gold), 4), "status": out.status,
                       "cost_usd": round(out.cost_usd, 6) if priced else None,
                       "tokens": out.prompt_tokens + out.completion_tokens,
                       "memory_tokens": out.memory_tokens, "run_id": out.run_id}
                f.write(json.dumps(row) + "\n")
                f.flush()
                rows.append(row)
                if on_step:
                    on_step(row)
    return rows


def stream_report(rows: list[dict[str, Any]]) -> str:
    by = {(r["mode"], r["step"]): r for r in rows}
    steps = sorted({r["step"] for r in rows})
    lines = ["# Continual-learning stream", "",
             "| step | relation | suite | score with notes | without | gain | cost with | cost without "
             "| memory tokens |",
             "|---|---|---|---|---|---|---|---|---|"]
    gains, cost_delta = [], []
    for k in steps:
        a, b = by.get(("notes", k)), by.get(("no-notes", k))
        if not a or not b:
            continue
        gain = a["score"] - b["score"]
        gains.append(gain)
        if a["cost_usd"] is not None and b["cost_usd"] is not None:
            cost_delta.append(a["cost_usd"] - b["cost_usd"])
        lines.append(f"| {k} | {a['relation']} | {a['suite']} | {a['score']:.1f} | {b['score']:.1f} | {gain:+.1f} | "
                     f"{cost_text(a['cost_usd'])} | {cost_text(b['cost_usd'])} | {a['memory_tokens']:,} |")
    if gains:
        change = (f"${statistics.fmean(cost_delta):+.4f} per step" if len(cost_delta) == len(gains)
                  else "unknown (a model is unpriced)")
        lines += ["", f"Mean gain {statistics.fmean(gains):+.2f} points over {len(gains)} steps; mean cost change "
                      f"{change}."]
    return "\n".join(lines) + "\n"
