"""The trajectory's declared vocabulary (rlm/events.py) against what real runs write: real
kernels, the scripted OpenAI-protocol server, the real `openai` client. And the readers on a
trajectory written before `schema` existed."""

from __future__ import annotations

import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from scripted_server import SERVER_ERROR, Call, ScriptedServer

from benchmarks.real_model.failures import classify
from rlm import RLM, RunResult, read_trajectory
from rlm.events import (
    EVENT_TYPES,
    KINDS,
    RUN_STATUSES,
    SCHEMA_VERSION,
    Kind,
    RunStatus,
    Status,
    as_run_status,
    events_of,
    read_event,
    required_keys,
    schema_of,
)
from rlm.frontends.export import export_jsonl, export_official
from rlm.frontends.viewer import build_run_data, render_run_html
from rlm.resume import load_run
from rlm.trajectory import summarise_run

NOTES_CODE = "```repl\nremember('The numbers in the context add up to 6.', 'summed them')\n```"


def root(call: Call) -> str:
    if "leave notes for future runs" in call.prompt:
        return NOTES_CODE
    return [
        # reasoning taken out (reply_form); a sub-call too short to carry data (loop_check); a child run
        "<think>look first</think>\n```repl\nparts = llm_query_batched(['x', 'count the a in: ' + context])\n"
        "r = rlm_query('Sum the numbers', context='1 2 3')\nprint(parts, r, shout('tool'), cite('a b'))\n```",  # tool_call, citation
        "```repl\nraise ValueError('boom')\n```\nFINAL(nope)",  # final_refused: the code before it failed
        "FINAL_VAR(r)",
    ][call.turn]


def shout(text: str) -> str:
    """A user's tool."""
    return text.upper()


def sub(call: Call) -> str:
    if not call.is_root:
        return "3"
    return ["```repl\nv = str(sum(int(x) for x in context.split()))\nprint(v)\n```", "FINAL_VAR(v)"][call.turn]


def stuffing_root(call: Call) -> str:
    """Replies whose code is long enough to spend a 64 KiB trajectory budget at once."""
    return "```repl\nx = 1  # " + "y" * 70_000 + "\nprint(x)\n```"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[list[RunResult], list[Path]]:
    """Real runs that end ok (with notes, sub-calls and a child run), at a budget (past the
    trajectory's byte budget) and with a model error; and every trajectory they wrote."""
    tmp = tmp_path_factory.mktemp("event-runs")
    settings: dict[str, Any] = dict(model="root", sub_model="sub", api_key="k", runs_dir=tmp / "runs",
                                    retry_base_s=0.01)
    with ScriptedServer({"root": root, "sub": sub}) as server:
        ok = RLM(base_url=server.url, notes=tmp / "notes", max_depth=2, tools=[shout],
                 **settings).completion("a b a", "Sum?")
    with ScriptedServer({"root": stuffing_root}) as server:
        stopped = RLM(base_url=server.url, notes=False, max_iterations=1, trajectory_bytes=64 << 10,
                      **settings).completion("abc", "q?")
    with ScriptedServer({"root": lambda call: SERVER_ERROR}) as server:
        failed = RLM(base_url=server.url, notes=False, max_retries=0, **settings).completion("abc", "q?")
    return [ok, stopped, failed], sorted((tmp / "runs").glob("*.jsonl"))


def _conforms(value: Any, tp: Any) -> bool:
    if tp is Any:
        return True
    origin = get_origin(tp)
    if origin is Literal:
        return value in get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_conforms(value, arg) for arg in get_args(tp))
    if origin is not None:  # list[...], dict[...]: the container, not its items
        return isinstance(value, origin)
    if tp is type(None):
        return value is None
    if tp in (int, float):  # JSON has one kind of number
        return isinstance(value, (int, float)) and not isinstance(value, bool) and (tp is float or value == int(value))
    return isinstance(value, tp)


def test_every_event_a_real_run_writes_is_declared_with_its_fields(runs):
    results, paths = runs
    assert len(paths) == 4  # the three runs and the ok run's child
    seen: set[str] = set()
    for path in paths:
        events = list(read_trajectory(path))
        assert events[0]["event"] == Kind.RUN_START and events[0]["schema"] == SCHEMA_VERSION
        for e in events:
            kind = e["event"]
            assert kind in KINDS, f"{path.name}: undeclared event kind {kind!r}"
            seen.add(kind)
            declared = EVENT_TYPES[kind]
            assert required_keys(kind) <= set(e), f"{kind} lacks {sorted(required_keys(kind) - set(e))}"
            fields = declared.__required_keys__ | declared.__optional_keys__
            assert set(e) <= fields, f"{kind} writes undeclared fields {sorted(set(e) - fields)}"
            hints = typing.get_type_hints(declared)
            for key, value in e.items():
                # a field cut to its cap, or sized in the short form past the byte budget, is no longer its type
                if key not in e.get("cut", ()):
                    assert _conforms(value, hints[key]), f"{kind}.{key} = {value!r:.80} is not {hints[key]}"
    # the runs above reach every kind but notes_error (a notes store failing, or no time left for its turn)
    assert seen == KINDS - {Kind.NOTES_ERROR}, sorted(KINDS - seen)


def test_an_old_trajectory_without_schema_reads_through_every_reader(tmp_path):
    """A root run as written before `schema` (today's fields otherwise), read by the run view,
    the exports, the resume, the run list and the failure classifier."""
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    run_id, context = "20260101T000000-0123abcd", "one two three"
    (runs_dir / f"{run_id}.context").write_text(context)
    sub_prompt = "How many words does this text hold? Answer with a number only.\n\n" + "one two three " * 20
    reply_1, reply_2 = "```repl\nn = len(context.split())\nprint(n)\n```", "FINAL_VAR(n)"
    common = {"run_id": run_id, "ts": "2026-01-01T00:00:00.000+00:00", "depth": 0}
    lines: list[dict[str, Any]] = [
        {"event": "run_start", "t": 0.0, "query": "How many words?", "parent_run_id": None, "model": "root",
         "config": {"model": "root", "max_iterations": 30, "sandbox": {"policy": "restricted"}},
         "context": {"kind": "str", "chars": len(context)},
         "replay": {"kind": "text", "sha256": hashlib.sha256(context.encode()).hexdigest(),
                    "stored": f"{run_id}.context", "notes": False}},
        {"event": "context_loaded", "t": 0.5, "name": "context", "type": "str", "size": len(context),
         "description": "a str of 13 characters", "docs": 0, "skipped": {}, "decoded": {}, "extraction": {}},
        {"event": "model_call", "t": 1.0, "turn": 1, "model": "root",
         "messages": [{"role": "system", "chars": 10, "sha256": "0" * 16}], "prompt_chars": 10, "reply": reply_1,
         "prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 0, "usage_estimated": False,
         "cost_usd": None, "latency_s": 0.1, "attempts": 1},
        {"event": "cell", "t": 1.2, "turn": 1, "block": 0, "cell": 1, "code": "n = len(context.split())\nprint(n)",
         "stdout": "3\n", "error": None, "truncated": False, "timed_out": False, "restarted": False,
         "final": None, "duration_s": 0.01},
        {"event": "sub_call", "t": 1.3, "cell": 1, "depth": 1, "model": "sub", "prompt": sub_prompt,
         "prompt_chars": len(sub_prompt), "reply": "3", "prompt_tokens": 5, "completion_tokens": 1, "cached_tokens": 0,
         "cost_usd": None, "latency_s": 0.05, "attempts": 1},
        {"event": "some_later_kind", "t": 1.4, "detail": "a kind this reader does not know"},
        {"event": "model_call", "t": 2.0, "turn": 2, "model": "root",
         "messages": [{"role": "system", "chars": 10, "sha256": "0" * 16}], "prompt_chars": 30, "reply": reply_2,
         "prompt_tokens": 130, "completion_tokens": 5, "cached_tokens": 0, "usage_estimated": False,
         "cost_usd": None, "latency_s": 0.1, "attempts": 1},
        {"event": "final", "t": 2.1, "status": "ok", "answer": "3", "error": None},
        {"event": "totals", "t": 2.1, "usage": {"total": {"calls": 3, "prompt_tokens": 235, "completion_tokens": 26,
                                                          "total_tokens": 261}},
         "cost_usd": None, "iterations": 2, "sub_calls": 1, "children": [], "wall_s": 2.1},
    ]
    path = runs_dir / f"{run_id}.jsonl"
    path.write_text("".join(json.dumps({**line, **common}) + "\n" for line in lines))
    assert "schema" not in path.read_text()

    start = next(iter(read_trajectory(path)))
    assert schema_of(start) == 0 and schema_of(None) == 0
    view = build_run_data(path)["run"]
    assert (view["status"], view["answer"], len(view["turns"]), len(view["subcalls"])) == ("ok", "3", 2, 1)
    assert view["totals"]["tokens"] == 261 and "How many words?" in render_run_html(path)
    metadata, *iterations = [json.loads(line) for line in export_official(path)]
    assert metadata["root_model"] == "root" and [it["response"] for it in iterations] == [reply_1, reply_2]
    assert iterations[0]["code_blocks"][0]["result"]["rlm_calls"][0]["response"] == "3"
    assert iterations[-1]["final_answer"] == "3"
    assert len(list(export_jsonl(path))) == len(lines)  # the unknown kind is passed on, not dropped
    plan = load_run(runs_dir, run_id)
    assert (plan.query, plan.context, [r.text for r in plan.replies]) == ("How many words?", context,
                                                                         [reply_1, reply_2])
    info = summarise_run(path)
    assert (info["status"], info["answer"], info["tokens"], info["iterations"]) == ("ok", "3", 261, 2)
    assert classify(path) == []


def test_read_event_passes_over_unknown_kinds_and_non_events():
    known = {"event": "final", "status": "ok", "answer": "x", "error": None}
    assert read_event(known) is known
    for other in ({"event": "from_a_newer_writer", "x": 1}, {"no": "event"}, {"event": None}, {"event": ["cell"]},
                  ["cell"], "cell", None, 3):
        assert read_event(other) is None
    lines = [known, {"event": "from_a_newer_writer"}, [1, 2], {"event": "cell", "cell": 1}]
    assert [e["event"] for e in events_of(lines)] == ["final", "cell"]
    assert required_keys("from_a_newer_writer") == frozenset()


def test_run_statuses_are_the_declared_ones(runs):
    results, paths = runs
    assert typing.get_type_hints(RunResult)["status"] == RunStatus
    named = {v for k, v in vars(Status).items() if k.isupper()}
    assert named == RUN_STATUSES == set(get_args(RunStatus))
    assert [r.status for r in results] == [Status.OK, Status.MAX_ITERATIONS, Status.MODEL_ERROR]
    ended = [e["status"] for p in paths for e in read_trajectory(p) if e["event"] in (Kind.FINAL, Kind.CHILD_DONE)]
    assert ended and set(ended) <= RUN_STATUSES
    assert as_run_status("max_cost") == "max_cost"
    with pytest.raises(ValueError, match="not a run status"):
        as_run_status("judge_error")
