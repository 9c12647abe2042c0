"""A run in other formats: `rlm runs export RUN_ID --format official|jsonl`.

`official` is the JSON-lines log of the official RLM implementation (github alexzhang13/rlm,
`rlm/logger/rlm_logger.py` and `rlm/core/types.py`), which its visualizer reads: a first
`{"type": "metadata", ...}` line (root_model, max_depth, max_iterations, backend,
backend_kwargs, environment_type, environment_kwargs, other_backends), then one
`{"type": "iteration", "iteration": n, ...}` line per root-model turn with `prompt` (the
messages), `response`, `code_blocks` (each `{"code", "result": {"stdout", "stderr", "locals",
"execution_time", "rlm_calls", "final_answer"}}`), `final_answer` and `iteration_time`. A
sub-call is an `rlm_calls` entry (`root_model`, `prompt`, `response`, `usage_summary`,
`execution_time`, plus the `prompt_tokens` / `completion_tokens` the visualizer reads); a child
run is one too, with its own log under `metadata` (`run_metadata` + `iterations`), as the
official logger nests them.

What the trajectory does not hold is said, not invented: the messages of a turn are kept as
sizes and hashes, so the system prompt and the observations are placeholders naming their
size; the first user message and earlier replies are filled in when their hash matches. A long
sub-call prompt is its head and tail around a marker. `locals` is empty. The notes turn is not
exported (the official loop has none). Secrets are redacted as in the run view.

`jsonl` is the run's own events, its child runs' after them, redacted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlm.events import Kind, Status
from rlm.frontends.viewer import Redactor
from rlm.trajectory import read_trajectory

FORMATS = ("official", "jsonl")


def _sha16(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _prompt_text(e: dict[str, Any]) -> str:
    if "prompt" in e:
        return str(e["prompt"])
    if "prompt_head" in e:
        chars = int(e.get("prompt_chars") or 0)
        head, tail = str(e.get("prompt_head") or ""), str(e.get("prompt_tail") or "")
        gap = max(0, chars - len(head) - len(tail))
        return f"{head}\n... [{gap:,} characters of the context not stored again] ...\n{tail}"
    return f"[a prompt of {e.get('prompt_chars', 0):,} characters; not recorded]"


def _usage(model: str, prompt_tokens: int, completion_tokens: int, cost: float, calls: int = 1) -> dict[str, Any]:
    return {"model_usage_summaries": {model: {"total_calls": calls, "total_input_tokens": prompt_tokens,
                                              "total_output_tokens": completion_tokens, "total_cost": cost}},
            "total_cost": cost}


def _first(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((e for e in events if e.get("event") == kind), {})


def _child_path(e: dict[str, Any], runs_dir: Path) -> Path:
    path = Path(str(e["trajectory"])) if e.get("trajectory") else None
    return path if path is not None and path.is_file() else runs_dir / f"{e.get('child_run_id')}.jsonl"


class _Official:
    def __init__(self, runs_dir: Path, redactor: Redactor) -> None:
        self.runs_dir = runs_dir
        self.redact = redactor

    def log(self, path: Path,
            seen: set[str] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        """(metadata, iterations, a summary of the run) of the run in `path`."""
        seen = seen if seen is not None else set()
        events = [self.redact.any(e) for e in read_trajectory(path)]
        seen.add(path.stem)
        start = _first(events, Kind.RUN_START)
        config = start.get("config") or {}
        sandbox = config.get("sandbox") or {}
        model = str(start.get("model") or config.get("model") or "unknown")
        sub_model = config.get("sub_model") or model
        metadata = {
            "type": "metadata", "timestamp": start.get("ts"), "root_model": model,
            "max_depth": config.get("max_depth"), "max_iterations": config.get("max_iterations"),
            "backend": "openai",
            "backend_kwargs": {k: v for k, v in (("model_name", model), ("base_url", config.get("base_url")))
                               if v is not None},
            "environment_type": "rlm-sandbox",
            "environment_kwargs": {k: sandbox[k] for k in ("policy", "cell_timeout_s", "output_limit_chars")
                                   if k in sandbox},
            "other_backends": [sub_model] if sub_model != model else None,
        }
        loaded = _first(events, Kind.CONTEXT_LOADED)
        first_user = (f"Question: {start.get('query')}\n\nThe context is in the variable `context` "
                      f"({loaded.get('description')}). Start by looking at it with code; do not answer yet.")
        calls_by_cell: dict[Any, list[dict[str, Any]]] = {}
        final, totals = _first(events, Kind.FINAL), _first(events, Kind.TOTALS)
        for e in events:
            kind = e.get("event")
            if kind == Kind.SUB_CALL:
                calls_by_cell.setdefault(e.get("cell"), []).append(self._sub_call(e))
            elif kind == Kind.CHILD_RUN:
                calls_by_cell.setdefault(e.get("cell"), []).append(self._child(e, seen))
        replies: list[str] = []
        iterations: list[dict[str, Any]] = []
        model_calls = [e for e in events if e.get("event") == Kind.MODEL_CALL and e.get("turn") != "notes"]
        for e in model_calls:
            turn = e.get("turn")
            cells = [c for c in events if c.get("event") == Kind.CELL and c.get("turn") == turn]
            blocks = []
            for c in cells:
                blocks.append({"code": c.get("code") or "", "result": {
                    "stdout": c.get("stdout") or "", "stderr": c.get("error") or "", "locals": {},
                    "execution_time": c.get("duration_s"), "rlm_calls": calls_by_cell.get(c.get("cell"), []),
                    "final_answer": c.get("final")}})
            messages = self._messages(e.get("messages") or [], first_user, replies)
            reply = e.get("reply")
            if reply is not None:
                replies.append(str(reply))
            is_last = e is model_calls[-1]
            iterations.append({
                "type": "iteration", "iteration": len(iterations) + 1, "timestamp": e.get("ts"),
                "prompt": messages, "response": reply if reply is not None else f"[model error: {e.get('error')}]",
                "code_blocks": blocks,
                "final_answer": final.get("answer") if is_last and final.get("answer") is not None else None,
                "iteration_time": round(float(e.get("latency_s") or 0.0)
                                        + sum(float(c.get("duration_s") or 0.0) for c in cells), 4),
            })
        summary = {"model": model, "answer": final.get("answer"), "status": final.get("status"),
                   "wall_s": totals.get("wall_s"), "usage": totals.get("usage") or {},
                   "cost_usd": totals.get("cost_usd")}
        return metadata, iterations, summary

    def _messages(self, digest: list[dict[str, Any]], first_user: str, replies: list[str]) -> list[dict[str, str]]:
        """The turn's messages: the text where the trajectory lets us rebuild it exactly (checked by
        hash), else a placeholder naming the message's size."""
        out = []
        assistant = 0
        users = 0
        for m in digest:
            role, chars, sha = str(m.get("role")), int(m.get("chars") or 0), m.get("sha256")
            text = None
            if role == "user":
                users += 1
                if users == 1 and _sha16(first_user) == sha:
                    text = first_user
                elif users == 1 and chars > len(first_user) + 2:  # the first turn: the status block follows
                    text = (f"{first_user}\n\n[{chars - len(first_user) - 2:,} more characters: the turn's status "
                            "block, not recorded]")
            elif role == "assistant":
                if assistant < len(replies) and _sha16(replies[assistant]) == sha:
                    text = replies[assistant]
                assistant += 1
            if text is None:
                what = {"system": "the system prompt", "user": "the output of the previous turn's code"
                        if users > 1 else "the question"}.get(role, "a message")
                text = f"[{what}: {chars:,} characters; rlm-sandbox records its size and hash, not its text]"
            out.append({"role": role, "content": text})
        return out

    def _sub_call(self, e: dict[str, Any]) -> dict[str, Any]:
        model = str(e.get("model") or "")
        pt, ct = int(e.get("prompt_tokens") or 0), int(e.get("completion_tokens") or 0)
        call = {"root_model": model, "prompt": _prompt_text(e), "response": e.get("reply") or "",
                "usage_summary": _usage(model, pt, ct, float(e.get("cost_usd") or 0.0)),
                "execution_time": e.get("latency_s"), "prompt_tokens": pt, "completion_tokens": ct}
        if e.get("error"):
            call["error"] = e["error"]
        return call

    def _child(self, e: dict[str, Any], seen: set[str]) -> dict[str, Any]:
        path = _child_path(e, self.runs_dir)
        call: dict[str, Any] = {"root_model": "", "prompt": _prompt_text(e), "response": "",
                                "usage_summary": {"model_usage_summaries": {}}, "execution_time": None,
                                "prompt_tokens": 0, "completion_tokens": 0}
        if not path.is_file() or path.stem in seen:
            call["error"] = f"the trajectory of sub-run {e.get('child_run_id')} is missing"
            return call
        metadata, iterations, summary = self.log(path, seen)
        usage = summary["usage"]
        by_model = usage.get("by_model") or {}
        total = usage.get("total") or {}
        call.update(
            root_model=summary["model"], response=summary["answer"] or "", execution_time=summary["wall_s"],
            usage_summary={"model_usage_summaries": {
                m: {"total_calls": u.get("calls", 0), "total_input_tokens": u.get("prompt_tokens", 0),
                    "total_output_tokens": u.get("completion_tokens", 0), "total_cost": u.get("cost_usd") or 0.0}
                for m, u in by_model.items()}, "total_cost": summary["cost_usd"] or 0.0},
            prompt_tokens=total.get("prompt_tokens", 0), completion_tokens=total.get("completion_tokens", 0),
            metadata={"run_metadata": {k: v for k, v in metadata.items() if k not in ("type", "timestamp")},
                      "iterations": iterations})
        if summary["status"] != Status.OK:
            call["error"] = f"the sub-run ended with status {summary['status']}"
        return call


def export_official(path: Path, *, runs_dir: Path | None = None, secrets: tuple[str, ...] = ()) -> Iterator[str]:
    """The lines (JSON, no newline) of the official RLM log of the run in `path`."""
    metadata, iterations, _ = _Official(runs_dir or path.parent, Redactor(secrets)).log(path)
    yield json.dumps(metadata, ensure_ascii=False, default=str)
    for it in iterations:
        yield json.dumps(it, ensure_ascii=False, default=str)


def export_jsonl(path: Path, *, runs_dir: Path | None = None, secrets: tuple[str, ...] = ()) -> Iterator[str]:
    """The run's events, then each child run's (depth first), redacted."""
    redactor = Redactor(secrets)
    runs = runs_dir or path.parent
    pending, seen = [path], set()
    while pending:
        current = pending.pop(0)
        if current.stem in seen:
            continue
        seen.add(current.stem)
        children = []
        for e in read_trajectory(current):
            if e.get("event") == Kind.CHILD_RUN:
                children.append(_child_path(e, runs))
            yield json.dumps(redactor.any(e), ensure_ascii=False, default=str)
        pending[:0] = [c for c in children if c.is_file()]


def export_run(path: Path, fmt: str, **kwargs: Any) -> Iterator[str]:
    if fmt == "official":
        return export_official(path, **kwargs)
    if fmt == "jsonl":
        return export_jsonl(path, **kwargs)
    raise ValueError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
