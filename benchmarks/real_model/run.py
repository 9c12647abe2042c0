"""Run the real-model bench: each (task, method) pair in turn against one OpenAI-protocol server.

    python -m benchmarks.real_model.run --base-url http://127.0.0.1:8123/v1 --model qwen2.5-coder-1.5b \\
        [--methods rlm,direct,codeact,official] [--tasks-dir DIR] [--only ID,ID] [--kinds k,k] \\
        [--limit N] [--out results.jsonl] [--max-iterations 12] [--window-tokens 8192] \\
        [--sub-window-chars N] [--label before]
    python -m benchmarks.real_model.run --local [--methods ...] ...   # a fresh local server per pair
    python -m benchmarks.real_model.run --table results.jsonl

One JSON line per finished pair is appended to --out (task, kind, method, label, answer,
correct, status, turns, tokens, wall, trajectory, error, failure modes); a pair already there
under the same label is skipped, so an interrupted run goes on where it stopped. The tasks are
generated into --tasks-dir when it has none. rlm, direct and codeact run through
`evals.methods.run_method`; "official" through `benchmarks.real_model.official.run_official`
(its row says "unavailable" while that module is missing). A JSON summary goes to stdout at the
end; progress goes to stderr.

`--local` starts the embedded model's server (rlm.local_model, prepared first) anew for each
pair and stops it after: a request the client gave up on keeps a llama.cpp server busy for
minutes, which would slow the next pair or make it time out.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.real_model.tasks import generate, score
from evals.methods import FAILED_STATUSES, MethodSettings, Outcome, run_method
from evals.tasks import EvalError, Task, read_tasks
from rlm import RLMConfig, append_jsonl, read_jsonl, read_trajectory
from rlm.events import Kind, Status

METHODS = ("rlm", "direct", "codeact", "official")
ANSWER_CHARS = 2000  # answers are cut to this in the results file
UNAVAILABLE = "unavailable"


@dataclasses.dataclass
class Options:
    """What one bench run uses, from the command line."""

    base_url: str
    model: str
    api_key: str = "local"
    methods: tuple[str, ...] = METHODS
    tasks_dir: Path = Path("realmodel-results/tasks")
    out: Path = Path("realmodel-results/results.jsonl")
    only: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    limit: int | None = None
    max_iterations: int = 12
    window_tokens: int = 8192
    sub_window_chars: int | None = None
    tokenizer: str = "o200k_base"
    label: str = "before"
    seed: int = 0
    timeout_s: float = 1800.0
    request_timeout_s: float = 600.0
    retry_failed: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    local: bool = False  # a fresh local model server for each pair (base_url and model are its)


# ----- choosing the work ----------------------------------------------------------------------------------

def load_tasks(opts: Options) -> list[Task]:
    """The tasks of --tasks-dir (generated there first when it holds none), filtered."""
    if not (opts.tasks_dir / "tasks.jsonl").exists():
        print(f"generating the tasks in {opts.tasks_dir}", file=sys.stderr)
        generate(opts.tasks_dir, opts.seed)
    tasks = read_tasks(opts.tasks_dir / "tasks.jsonl")
    if opts.only:
        unknown = set(opts.only) - {t.id for t in tasks}
        if unknown:
            raise EvalError(f"no such task: {', '.join(sorted(unknown))}")
        tasks = [t for t in tasks if t.id in opts.only]
    if opts.kinds:
        known = {t.meta.get("kind") for t in tasks}
        unknown = set(opts.kinds) - known
        if unknown:
            raise EvalError(f"no such kind: {', '.join(sorted(unknown))}; known: {', '.join(sorted(map(str, known)))}")
        tasks = [t for t in tasks if t.meta.get("kind") in opts.kinds]
    return tasks[: opts.limit] if opts.limit is not None else tasks


def latest_rows(path: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The last row of each (task, method, label) in a results file."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    if path.exists():
        for row in read_jsonl(path):
            if isinstance(row, dict) and {"task_id", "method", "label"} <= row.keys():
                rows[(row["task_id"], row["method"], row["label"])] = row
    return rows


def is_done(row: dict[str, Any], retry_failed: bool) -> bool:
    """A row that counts as done: not 'unavailable' (the method may be there next time), nor a
    failure to run when --retry-failed asks for those again."""
    status = row.get("status")
    return status != UNAVAILABLE and not (retry_failed and status in FAILED_STATUSES)


# ----- one pair -------------------------------------------------------------------------------------------

def method_settings(opts: Options) -> MethodSettings:
    """The settings of rlm / direct / codeact: the one model for root and sub-calls, one request
    at a time (one local server), trajectories beside the results."""
    config: dict[str, Any] = {
        "model": opts.model, "sub_model": opts.model, "base_url": opts.base_url, "api_key": opts.api_key,
        "max_iterations": opts.max_iterations, "max_concurrency": 1, "trajectory": True,
        "runs_dir": opts.out.parent / "runs", "request_timeout_s": opts.request_timeout_s,
        "max_wall_s": opts.timeout_s}
    if opts.sub_window_chars is not None:
        config["sub_window_chars"] = opts.sub_window_chars
    kwargs: dict[str, Any] = {}
    if opts.temperature is not None:  # with a fixed seed: runs that can be repeated
        kwargs.update(temperature=opts.temperature, seed=0)
    if opts.max_tokens is not None:  # a reply that never ends holds a one-request server for ever
        kwargs["max_tokens"] = opts.max_tokens
    if kwargs:
        config["model_kwargs"] = kwargs
    fields = {f.name for f in dataclasses.fields(RLMConfig)}
    for name in [k for k in config if k not in fields]:
        print(f"note: this rlm has no {name} setting; it is left out", file=sys.stderr)
        del config[name]
    return MethodSettings.of(window_tokens=opts.window_tokens, tokenizer=opts.tokenizer, **config)


def _official(task: Task, base: Path, opts: Options) -> Outcome:
    try:
        module = importlib.import_module("benchmarks.real_model.official")
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.real_model.official":
            raise
        return Outcome(None, UNAVAILABLE, error="benchmarks/real_model/official.py is not there")
    started = time.monotonic()
    try:
        out: Outcome = module.run_official(task, base, base_url=opts.base_url, model=opts.model,
                                           api_key=opts.api_key, max_iterations=opts.max_iterations,
                                           timeout_s=opts.timeout_s)
    except Exception as exc:  # noqa: BLE001 - a failing baseline is a row, not the end of the bench
        out = Outcome(None, "error", error=f"{type(exc).__name__}: {exc}")
    if not out.wall_s:
        out.wall_s = time.monotonic() - started
    return out


def turns_of(method: str, trajectory_path: str | None) -> int | None:
    """The run's iterations, from its trajectory's totals (None: a one-call baseline, or no record)."""
    if method == "direct" or not trajectory_path or not Path(trajectory_path).exists():
        return None
    for event in read_trajectory(Path(trajectory_path)):
        if event.get("event") == Kind.TOTALS:
            return int(event.get("iterations", 0))
    return None


def failure_modes(trajectory_path: str | None) -> list[str]:
    """What went wrong in a run, by `benchmarks.real_model.failures.classify` when that module is there."""
    if not trajectory_path:
        return []
    try:
        module = importlib.import_module("benchmarks.real_model.failures")
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.real_model.failures":
            raise
        return []
    try:
        return list(module.classify(trajectory_path))
    except Exception as exc:  # noqa: BLE001 - a classifier bug must not lose the row
        return [f"classify_error: {type(exc).__name__}: {exc}"]


def outcome_modes(method: str, out: Outcome) -> list[str]:
    """The failure modes a run with no trajectory of ours (the official library) still shows."""
    if method == "direct" or out.status == UNAVAILABLE:
        return []
    modes = ["no_answer"] if out.answer is None else []
    return modes + (["budget_exhausted"] if out.status in (Status.MAX_ITERATIONS, Status.MAX_WALL_TIME) else [])


def run_pair(task: Task, method: str, base: Path, opts: Options, settings: MethodSettings) -> dict[str, Any]:
    """Solve one task with one method; returns its results row."""
    out = _official(task, base, opts) if method == "official" else run_method(method, task, base, settings)
    return {
        "task_id": task.id, "kind": task.meta.get("kind"), "method": method, "label": opts.label,
        "model": opts.model, "chars": task.chars, "gold": task.gold,
        "answer": None if out.answer is None else out.answer[:ANSWER_CHARS],
        "correct": out.status != UNAVAILABLE and score(out.answer, task), "status": out.status,
        "turns": turns_of(method, out.trajectory_path) if out.turns is None else out.turns,
        "prompt_tokens": out.prompt_tokens,
        "completion_tokens": out.completion_tokens, "wall_s": round(out.wall_s, 3),
        "trajectory_path": out.trajectory_path, "error": out.error,
        "failure_modes": failure_modes(out.trajectory_path) if out.trajectory_path else outcome_modes(method, out),
        "settings": {"max_iterations": opts.max_iterations, "window_tokens": opts.window_tokens,
                     "sub_window_chars": getattr(settings.rlm, "sub_window_chars", None),  # as applied
                     "tokenizer": opts.tokenizer, "temperature": opts.temperature,
                     "max_tokens": opts.max_tokens},
    }


UNREACHABLE_STOP = 2


def run(opts: Options) -> dict[str, Any]:
    """Run every pair not yet in --out; returns the summary of the whole results file."""
    unknown = [m for m in opts.methods if m not in METHODS]
    if unknown or not opts.methods:
        raise EvalError(f"unknown method {', '.join(unknown) or '(none)'}; known: {', '.join(METHODS)}")
    tasks = load_tasks(opts)
    done = {k for k, row in latest_rows(opts.out).items() if is_done(row, opts.retry_failed)}
    todo = [(t, m) for t in tasks for m in opts.methods if (t.id, m, opts.label) not in done]
    print(f"{len(tasks)} tasks x {len(opts.methods)} methods: {len(todo)} to run, "
          f"{len(tasks) * len(opts.methods) - len(todo)} already in {opts.out}", file=sys.stderr)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    if opts.local and todo:
        from rlm import local_model

        local_model.prepare(None, lambda message: print(f"local model: {message}", file=sys.stderr, flush=True))
    settings = method_settings(opts)
    unreachable = 0
    for n, (task, method) in enumerate(todo, 1):
        print(f"[{n}/{len(todo)}] {task.id} {method} ...", file=sys.stderr, end=" ", flush=True)
        with _endpoint(opts) as pair_opts:
            pair_settings = settings if pair_opts is opts else method_settings(pair_opts)
            row = run_pair(task, method, opts.tasks_dir, pair_opts, pair_settings)
        append_jsonl(opts.out, row)
        verdict = "correct" if row["correct"] else "wrong"
        print(f"{row['status']} {verdict} {row['wall_s']:.1f}s answer={str(row['answer'])[:60]!r}",
              file=sys.stderr, flush=True)
        unreachable = unreachable + 1 if "cannot reach the model endpoint" in str(row.get("error")) else 0
        if unreachable >= UNREACHABLE_STOP:  # the server is down or stuck: the rest would only fail
            raise EvalError(f"the endpoint did not answer {unreachable} runs in a row; stopped "
                            f"(the failed rows are in {opts.out}: --retry-failed runs them again)")
    return summarise(latest_rows(opts.out).values())


@contextlib.contextmanager
def _endpoint(opts: Options) -> Iterator[Options]:
    """`opts` as they are, or with a local model server started for one pair (stopped after it)."""
    if not opts.local:
        yield opts
        return
    from rlm import local_model

    with local_model.LocalServer.start() as server:
        yield dataclasses.replace(opts, base_url=server.base_url, model=local_model.MODEL_NAME, api_key="local")


# ----- reporting ------------------------------------------------------------------------------------------

def _groups(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["label"]), []).append(row)
    return dict(sorted(groups.items()))


def summarise(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per method and label: n, correct, accuracy, mean and median wall, mean tokens, and per kind.
    Rows of an unavailable method are counted apart, not as wrong answers."""
    out: dict[str, Any] = {}
    for (method, label), group in _groups(rows).items():
        ran = [r for r in group if r["status"] != UNAVAILABLE]
        walls = [r["wall_s"] for r in ran]
        kinds: dict[str, dict[str, int]] = {}
        for r in ran:
            k = kinds.setdefault(str(r["kind"]), {"n": 0, "correct": 0})
            k["n"] += 1
            k["correct"] += bool(r["correct"])
        correct = sum(bool(r["correct"]) for r in ran)
        out[f"{method}/{label}"] = {
            "method": method, "label": label, "n": len(ran), "correct": correct,
            "accuracy": round(correct / len(ran), 4) if ran else None,
            "mean_wall_s": round(statistics.mean(walls), 2) if walls else None,
            "median_wall_s": round(statistics.median(walls), 2) if walls else None,
            "mean_prompt_tokens": round(statistics.mean(r["prompt_tokens"] for r in ran)) if ran else None,
            "mean_completion_tokens": round(statistics.mean(r["completion_tokens"] for r in ran)) if ran else None,
            "failed_to_run": sum(r["status"] in FAILED_STATUSES for r in ran),
            "unavailable": len(group) - len(ran), "by_kind": dict(sorted(kinds.items())),
            "failure_modes": dict(sorted(Counter(m for r in ran for m in modes_of(r)).items())),
        }
    return out


def modes_of(row: dict[str, Any]) -> list[str]:
    """A row's failure modes, read again from its trajectory when it is still there (so that rows
    written before the classifier changed are counted alike), plus `wrong_status_ok`."""
    path = row.get("trajectory_path")
    modes = failure_modes(path) if path and Path(path).exists() else list(row.get("failure_modes") or [])
    if row.get("status") == Status.OK and not row.get("correct"):
        modes.append("wrong_status_ok")
    return modes


def table(rows: Iterable[dict[str, Any]]) -> str:
    """A markdown table of method x label, then correct/n per kind."""
    summary = summarise(rows)

    def cell(value: Any, fmt: str = "{}") -> str:
        return "-" if value is None else fmt.format(value)

    lines = ["| method | label | correct/n | accuracy | median wall s | mean tokens (prompt+completion) |",
             "|---|---|---|---|---|---|"]
    for s in summary.values():
        tokens = None if s["mean_prompt_tokens"] is None else s["mean_prompt_tokens"] + s["mean_completion_tokens"]
        lines.append(f"| {s['method']} | {s['label']} | {s['correct']}/{s['n']} | {cell(s['accuracy'], '{:.0%}')} | "
                     f"{cell(s['median_wall_s'], '{:.1f}')} | {cell(tokens, '{:,}')} |")
    kinds = sorted({k for s in summary.values() for k in s["by_kind"]})
    if kinds:
        lines += ["", "| kind | " + " | ".join(summary) + " |", "|---|" + "---|" * len(summary)]
        for kind in kinds:
            counts = [s["by_kind"].get(kind) for s in summary.values()]
            lines.append(f"| {kind} | " + " | ".join("-" if c is None else f"{c['correct']}/{c['n']}" for c in counts)
                         + " |")
    modes = sorted({m for s in summary.values() for m in s["failure_modes"]})
    if modes:
        lines += ["", "| failure mode (runs) | " + " | ".join(summary) + " |", "|---|" + "---|" * len(summary)]
        for mode in modes:
            lines.append(f"| {mode} | " + " | ".join(str(s["failure_modes"].get(mode, 0)) for s in summary.values())
                         + " |")
    return "\n".join(lines)


# ----- command line ---------------------------------------------------------------------------------------

def _list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.real_model.run", description=__doc__.splitlines()[0])
    p.add_argument("--table", type=Path, metavar="RESULTS", help="print the markdown table of a results file and stop")
    p.add_argument("--base-url")
    p.add_argument("--local", action="store_true",
                   help="start the embedded local model's server anew for each pair (no --base-url / --model)")
    p.add_argument("--model")
    p.add_argument("--api-key", default="local")
    p.add_argument("--methods", type=_list, default=METHODS, help="comma-separated: " + ",".join(METHODS))
    p.add_argument("--tasks-dir", type=Path, help="default: tasks/ beside --out (generated when missing)")
    p.add_argument("--only", type=_list, default=(), help="task ids, comma-separated")
    p.add_argument("--kinds", type=_list, default=(), help="task kinds, comma-separated")
    p.add_argument("--limit", type=int)
    p.add_argument("--out", type=Path, default=Options.out)
    p.add_argument("--max-iterations", type=int, default=Options.max_iterations)
    p.add_argument("--window-tokens", type=int, default=Options.window_tokens)
    p.add_argument("--sub-window-chars", type=int)
    p.add_argument("--tokenizer", default=Options.tokenizer, help="counts the baselines' window (evals.tokens)")
    p.add_argument("--label", default=Options.label)
    p.add_argument("--seed", type=int, default=0, help="of the generated tasks")
    p.add_argument("--timeout-s", type=float, default=Options.timeout_s, help="per run (rlm's max_wall_s, official's)")
    p.add_argument("--request-timeout-s", type=float, default=Options.request_timeout_s)
    p.add_argument("--retry-failed", action="store_true", help="run again the pairs whose row is a failure to run")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="the most tokens a reply may have (sent as max_tokens; default: the server's)")
    p.add_argument("--temperature", type=float,
                   help="sampling temperature of rlm, direct and codeact, with seed 0 (default: the server's)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.table:
        print(table(latest_rows(args.table).values()))
        return 0
    if args.local and (args.base_url or args.model):
        print("--local runs its own server: leave out --base-url and --model", file=sys.stderr)
        return 2
    if not args.local and (not args.base_url or not args.model):
        print("--base-url and --model are needed (or --local, or --table RESULTS)", file=sys.stderr)
        return 2
    from rlm.local_model import MODEL_NAME

    opts = Options(base_url=args.base_url or "http://127.0.0.1:1/v1", model=args.model or MODEL_NAME,
                   api_key=args.api_key, methods=args.methods, local=args.local,
                   tasks_dir=args.tasks_dir or args.out.parent / "tasks", out=args.out, only=args.only,
                   kinds=args.kinds, limit=args.limit, max_iterations=args.max_iterations,
                   window_tokens=args.window_tokens, sub_window_chars=args.sub_window_chars, tokenizer=args.tokenizer,
                   label=args.label, seed=args.seed, timeout_s=args.timeout_s,
                   request_timeout_s=args.request_timeout_s, retry_failed=args.retry_failed,
                   temperature=args.temperature, max_tokens=args.max_tokens)
    try:
        summary = run(opts)
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
