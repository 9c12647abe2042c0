"""The eval runner: tasks x methods in parallel, one results line per pair, resumable.

Locally the pairs run in worker processes (each run starts its own kernels); with a Ray
address they run as Ray tasks on that cluster (`pip install 'rlm-sandbox[ray]'`; the address
"local" starts a one-machine cluster for the run). A results
line is appended and flushed as each pair finishes, so a re-run skips what is done.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from evals.evidence import evidence_scores
from evals.judge import JUDGED_SUITES, judge
from evals.methods import (
    CITING,
    FAILED_STATUSES,
    MethodSettings,
    check_methods,
    result_settings,
    run_method,
    settings_id,
)
from evals.scorers import score
from evals.tasks import EvalError, Task, read_tasks
from rlm import RLMError, append_jsonl, read_jsonl
from rlm.events import Status
from rlm.writable import ensure_dir


def _solve(task_json: str, method: str, base: str, s: MethodSettings) -> dict[str, Any]:
    """One (task, method) pair, in a worker: returns the results line."""
    task = Task(**json.loads(task_json))
    out = run_method(method, task, Path(base), s)
    exact = round(score(task.suite, out.answer, task.gold), 4) if out.status != Status.ERROR else 0.0
    graded: dict[str, Any] = {"score": exact}
    if s.judge_model and task.suite in JUDGED_SUITES and out.answer and out.status != Status.ERROR:
        try:
            v = judge(s.rlm, s.judge_model, task.question, out.answer, str(task.gold))
        except (RLMError, OSError) as exc:  # kept (answer, exact score) and retried by the next run
            graded.update(exact_score=exact, judge={"model": s.judge_model, "verdict": "error",
                                                     "error": f"{type(exc).__name__}: {exc}"})
            out.status, out.error = "judge_error", f"the judge failed: {type(exc).__name__}: {exc}"
        else:
            graded = {"score": v.score, "exact_score": exact,
                      "judge": {"model": s.judge_model, "verdict": v.verdict,
                                "tokens": v.prompt_tokens + v.completion_tokens, "cost_usd": round(v.cost_usd, 6)}}
    return {
        "task_id": task.id, "suite": task.suite, "variant": task.variant, "length": task.length,
        "chars": task.chars, "method": method, "model": s.model, **_settings_fields(method, s, task.suite),
        **graded, **evidence_scores(task.gold_evidence, out.evidence), "answer": out.answer, "gold": task.gold,
        "status": out.status,
        "prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
        "tokens": out.prompt_tokens + out.completion_tokens, "cost_usd": round(out.cost_usd, 6),
        "wall_s": round(out.wall_s, 3), "run_id": out.run_id, "trajectory_path": out.trajectory_path,
        "truncated": out.truncated, "memory_tokens": out.memory_tokens, "error": out.error,
    }


def _settings_fields(method: str, s: MethodSettings, suite: str) -> dict[str, Any]:
    """The settings that shaped a row, and whether its models have prices (an unpriced model's
    cost is unknown, not $0)."""
    settings = result_settings(method, s, suite)
    models = {m for m in (settings.get("model"), settings.get("sub_model"), settings.get("judge_model")) if m}
    table = s.rlm.price_table()
    return {"settings": settings, "settings_id": settings_id(settings),
            "priced": all(table.get(m) is not None for m in models)}


Pair = tuple[str, str, str]  # (task id, method, settings id)


def pair_key(row: dict[str, Any]) -> Pair:
    """What a results row is a result of: its task, its method and the settings that shaped it
    (a row written before settings were recorded has the settings id "")."""
    return str(row["task_id"]), str(row["method"]), str(row.get("settings_id") or "")


def is_failed(row: dict[str, Any]) -> bool:
    """A row that records a failure to run (endpoint down, crash), not an answer."""
    return row.get("status") in FAILED_STATUSES


def _latest_by_pair(results_path: Path) -> dict[Pair, dict[str, Any]]:
    """Each pair's latest row in a results file (a torn last line is ignored)."""
    latest: dict[Pair, dict[str, Any]] = {}
    if results_path.exists():
        for row in read_jsonl(results_path):
            latest[pair_key(row)] = row
    return latest


def done_pairs(results_path: Path, *, keep_failed: bool = False) -> set[Pair]:
    """The pairs a results file has a result for; a pair whose latest row failed is not done,
    unless `keep_failed`."""
    return _done(_latest_by_pair(results_path), keep_failed)


def _done(latest: dict[Pair, dict[str, Any]], keep_failed: bool) -> set[Pair]:
    return {key for key, row in latest.items() if keep_failed or not is_failed(row)}


def latest_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per pair, the last written (a retried failure is replaced by its retry)."""
    latest: dict[Pair, dict[str, Any]] = {}
    for row in rows:
        latest.pop(pair_key(row), None)  # keep the file's order of last writes
        latest[pair_key(row)] = row
    return list(latest.values())


def todo_pairs(tasks: list[Task], methods: list[str], settings: MethodSettings, results_path: Path, *,
               keep_failed: bool = False) -> tuple[list[tuple[Task, str]], int]:
    """The (task, method) pairs still to run with these settings, those never tried first and
    those that failed before last; and how many are done."""
    latest = _latest_by_pair(results_path)  # read once: what is done, and what was tried
    done = _done(latest, keep_failed)
    ids = {(suite, m): settings_id(result_settings(m, settings, suite))
           for suite in {t.suite for t in tasks} for m in methods}
    todo = [(t, m) for t in tasks for m in methods if (t.id, m, ids[(t.suite, m)]) not in done]
    todo.sort(key=lambda pair: (pair[0].id, pair[1], ids[(pair[0].suite, pair[1])]) in latest)  # stable
    return todo, len(tasks) * len(methods) - len(todo)


def _same_failure(rows: list[dict[str, Any]]) -> bool:
    """Rows that all failed with one error, on more than one task: the endpoint, not a task."""
    return (all(is_failed(r) for r in rows) and len({r.get("error") for r in rows}) == 1
            and len({r.get("task_id") for r in rows}) > 1)


GIVE_UP_AFTER = 3


class GaveUp(EvalError):
    """The run's first pairs all failed (a wrong model, key or endpoint): the rest were not run."""


def run_eval(tasks_path: Path, methods: Iterable[str], settings: MethodSettings, results_path: Path, *,
             workers: int = 2, ray_address: str | None = None, limit: int | None = None,
             keep_failed: bool = False, give_up_after: int | None = GIVE_UP_AFTER,
             on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run every (task, method) pair that `results_path` has no result for with these settings
    (failed rows are retried unless `keep_failed`); returns the new lines.

    When the first `give_up_after` results all failed with the same error on more than one task,
    the pairs not yet started are dropped and GaveUp is raised (the failed rows are kept, and
    retried next run): a wrong model name or a dead endpoint fails every pair alike, each after
    its retries. Pairs that failed before run last, so that one task that always fails (a
    content filter, a prompt too long for the model) cannot stop every run at its start."""
    methods = list(methods)
    check_methods(methods)
    tasks = read_tasks(tasks_path)
    if limit is not None:
        tasks = tasks[:limit]
    base = tasks_path if tasks_path.is_dir() else tasks_path.parent
    todo, _ = todo_pairs(tasks, methods, settings, results_path, keep_failed=keep_failed)
    if todo:
        from evals.preflight import check_endpoints

        check_endpoints(settings, methods, judged=any(t.suite in JUDGED_SUITES for t, _ in todo))
    ensure_dir(results_path.parent, "results", setting="results_path", option="-o FILE")
    new: list[dict[str, Any]] = []

    def record(row: dict[str, Any]) -> None:
        append_jsonl(results_path, row)
        new.append(row)
        if on_result:
            on_result(row)
        if give_up_after and len(new) == give_up_after and _same_failure(new):
            first = str(new[0].get("error") or new[0].get("status"))
            raise GaveUp(f"the first {give_up_after} pairs all failed alike on different tasks, so the run stopped "
                         f"(check --model, --base-url and the key; the next run retries them unless --keep-failed): "
                         f"{first[:300]}")

    if not todo:
        return new
    if ray_address:
        _run_ray(todo, str(base), settings, ray_address, record)
        return new
    if workers <= 1:
        for t, m in todo:
            record(_solve(t.to_json(), m, str(base), settings))
        return new
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_solve, t.to_json(), m, str(base), settings): (t, m) for t, m in todo}
        try:
            _collect(futures, settings, record)
        except (GaveUp, KeyboardInterrupt):
            _stop(pool)
            raise
    return new


def _stop(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Drop the pairs not started and end those running (their sandboxes die with their worker):
    otherwise the interpreter's exit would wait for them. Their results were not written."""
    workers = list((pool._processes or {}).values())  # noqa: SLF001 - the pool offers no other way
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in workers:
        proc.terminate()


def _collect(futures: dict[concurrent.futures.Future, tuple[Task, str]], settings: MethodSettings,
             record: Callable[[dict[str, Any]], None]) -> None:
    for fut in concurrent.futures.as_completed(futures):
        t, m = futures[fut]
        try:
            row = fut.result()
        except Exception as exc:  # noqa: BLE001 - a crashed worker becomes a failed line, the rest go on
            row = {"task_id": t.id, "suite": t.suite, "variant": t.variant, "length": t.length,
                   "chars": t.chars, "method": m, "model": settings.model, **_settings_fields(m, settings, t.suite),
                   "score": 0.0, **evidence_scores(t.gold_evidence, [] if m in CITING else None), "answer": None,
                   "gold": t.gold, "status": "error", "error": f"{type(exc).__name__}: {exc}",
                   "tokens": 0, "cost_usd": 0.0, "wall_s": 0.0}
        record(row)


def _run_ray(todo: list[tuple[Task, str]], base: str, settings: MethodSettings, address: str,
             record: Callable[[dict[str, Any]], None]) -> None:
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs Ray: pip install 'rlm-sandbox[ray]'") from None
    started_here = not ray.is_initialized()
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    try:
        remote = ray.remote(_solve)
        pending = [remote.remote(t.to_json(), m, base, settings) for t, m in todo]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            record(ray.get(ready[0]))
    finally:
        if started_here:
            ray.shutdown()
