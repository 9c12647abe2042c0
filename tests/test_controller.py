"""The controller end to end: real kernels, a real HTTP server speaking the OpenAI protocol,
the real `openai` client."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from scripted_server import MALFORMED, RATE_LIMITED, SERVER_ERROR, Call, Fault, ScriptedServer, script

from rlm import RLM, ConfigError, ContextError, ModelError, read_trajectory


@pytest.fixture
def make_rlm(tmp_path):
    def make(server: ScriptedServer, **settings):
        settings.setdefault("model", "root")
        settings.setdefault("sub_model", "sub")
        settings.setdefault("retry_base_s", 0.01)
        settings.setdefault("notes", False)
        return RLM(base_url=server.url, api_key="test-key", runs_dir=tmp_path / "runs", **settings)

    return make


def events(result, kind=None):
    evs = list(read_trajectory(result.trajectory_path))
    return [e for e in evs if kind is None or e["event"] == kind]


def count_sub(call: Call) -> str:
    """A sub-model that counts the letter after 'count ' in the text after ':'."""
    m = re.match(r"count (\w) in: (.*)", call.prompt, re.DOTALL)
    return str(m.group(2).count(m.group(1))) if m else "?"


CHUNKED = (
    "```repl\nparts = [context[i:i+500] for i in range(0, len(context), 500)]\n"
    "counts = llm_query_batched(['count a in: ' + p for p in parts])\n"
    "total = sum(int(c) for c in counts)\nprint(len(parts), total)\n```"
)


# ----- final-answer forms ----------------------------------------------------------------
@pytest.mark.parametrize("final_reply, expected", [
    ("FINAL(forty two)", "forty two"),
    ('FINAL("quoted answer")', "quoted answer"),
    ("I am sure now.\nFINAL(a (parenthesised) answer\nover two lines)", "a (parenthesised) answer\nover two lines"),
    ("FINAL_VAR(result)", "the result is 7"),
    ("```repl\nFINAL_VAR(result)\n```", "the result is 7"),
    ("```repl\nFINAL(result.upper())\n```", "THE RESULT IS 7"),
    ('```repl\nanswer["content"] = result + "!"\nanswer["ready"] = True\n```', "the result is 7!"),
])
def test_every_final_answer_form(make_rlm, final_reply, expected):
    # the first cell prints every answer given below, so that each is one the model has seen
    root = script("```repl\nresult = 'the result is ' + str(len(context))\nprint(result)\n"
                  "print('forty two; quoted answer; a (parenthesised) answer over two lines')\n```", final_reply)
    with ScriptedServer({"root": root}) as server:
        result = make_rlm(server).completion("abcdefg", "What is the result?")
    assert (result.answer, result.status, result.iterations) == (expected, "ok", 2)


def test_chunked_sub_queries_answer_correctly(make_rlm):
    text = "banana and apple " * 400
    with ScriptedServer({"root": script(CHUNKED, "FINAL_VAR(total)"), "sub": count_sub}) as server:
        result = make_rlm(server).completion(text, "How many letters a?")
        subs = server.calls_to("sub")
    assert result.answer == str(text.count("a")) and result.status == "ok"
    assert len(subs) == 14 and result.sub_calls == 14
    assert result.usage.by_model["sub"].calls == 14 and result.usage.by_depth[1].calls == 14
    assert result.usage.by_model["root"].calls == 2 and result.usage.by_depth[0].calls == 2
    sub_events = events(result, "sub_call")
    assert len(sub_events) == 14 and all(e["depth"] == 1 and e["cell"] == 1 for e in sub_events)


def test_multi_block_reply_runs_every_block_in_order_and_accepts_a_final_after_it(make_rlm):
    reply = ("```repl\nx = len(context)\n```\nthen\n```python\ny = x * 2\nprint('y', y)\n```\n"
             "FINAL_VAR(y)")
    with ScriptedServer({"root": script(reply)}) as server:
        result = make_rlm(server).completion("12345", "double the length")
    cells = events(result, "cell")
    assert [c["block"] for c in cells[:2]] == [0, 1] and cells[1]["stdout"] == "y 10\n"
    # an answer given in the step that computed it is questioned once (the model had not seen
    # y); the same reply again is taken
    assert result.answer == "10" and result.iterations == 2
    assert events(result, "final_refused")[0]["reason"] == "nothing the model saw supports the answer"


def test_final_written_beside_failing_code_is_refused_and_the_run_goes_on(make_rlm):
    first = "```repl\nvalue = undefined_name + 1\n```\nFINAL(premature guess)"
    second = "```repl\nvalue = len(context)\nprint(value)\n```"
    with ScriptedServer({"root": script(first, second, "FINAL_VAR(value)")}) as server:
        result = make_rlm(server).completion("abc", "length?")
        seen = server.calls_to("root")[1].prompt
    assert result.answer == "3" and result.iterations == 3
    assert "NameError" in seen and "not accepted" in seen


def test_answer_set_in_failing_code_is_not_taken_and_is_reset(make_rlm):
    first = '```repl\nanswer["content"] = "wrong"\nanswer["ready"] = True\n1/0\n```'
    second = "```repl\nprint(answer)\n```"
    with ScriptedServer({"root": script(first, second, "FINAL(right)")}) as server:
        result = make_rlm(server).completion("abc", "q?")
    assert result.answer == "right"
    assert "'ready': False" in events(result, "cell")[1]["stdout"]


def test_reply_without_code_or_final_gets_a_nudge(make_rlm):
    with ScriptedServer({"root": script("Let me think about it.", "FINAL(done)")}) as server:
        result = make_rlm(server).completion("abc", "q?")
        nudged = server.calls_to("root")[1].prompt
    assert result.answer == "done" and "no ```repl code block" in nudged


def test_final_var_of_a_missing_variable_is_explained(make_rlm):
    with ScriptedServer({"root": script("FINAL_VAR(nothing_here)", "FINAL(ok)")}) as server:
        result = make_rlm(server).completion("abc", "q?")
        second = server.calls_to("root")[1].prompt
    assert result.answer == "ok" and "no variable named 'nothing_here'" in second


def test_prompts_describe_the_context_and_the_now_block(make_rlm, tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a.txt").write_text("alpha\n")
    (d / "b.txt").write_text("beta\n")
    with ScriptedServer({"root": script("```repl\nnotes = [x.path for x in docs]\n```", "FINAL(x)")}) as server:
        make_rlm(server, max_iterations=5).completion(d, "list them")
        first, second = server.calls_to("root")[:2]
    assert "2 documents" in first.system and "`docs`" in first.system
    assert "Question: list them" in first.messages[1]["content"]
    assert "Turn 1 of 5" in first.prompt and "Turn 2 of 5" in second.prompt
    assert "notes: list" in second.prompt  # variables with types and sizes


# ----- bounded history ------------------------------------------------------------------
def test_old_observations_are_folded_to_stubs_naming_out(make_rlm):
    turns = [f"```repl\nprint('{c}' * 20000)\n```" for c in "abcdef"]
    with ScriptedServer({"root": script(*turns, "FINAL(ffff)")}) as server:
        make_rlm(server).completion("ctx", "q?")
        folded = [c.chars for c in server.calls_to("root")]
        last = server.calls_to("root")[-1]
    with ScriptedServer({"root": script(*turns, "FINAL(ffff)")}) as server:
        make_rlm(server, history="full").completion("ctx", "q?")
        full = [c.chars for c in server.calls_to("root")]
    assert folded[-1] < folded[1] * 1.3, folded
    assert full[-1] > full[1] * 4, full
    assert "[turn 1 output folded: cell 1 printed 20,001 chars (Out[1])]" in last.messages[3]["content"]
    assert "f" * 5000 in last.messages[-1]["content"]


def test_an_old_observation_shorter_than_its_stub_stays_whole(make_rlm):
    """Seen with a real 1.5B model: its count of 0 was folded to "cell 1 printed 2 chars", so
    that two turns later it could no longer see the value it was asked to check."""
    with ScriptedServer({"root": script("```repl\nprint(0)\n```", "```repl\nprint('x' * 5000)\n```",
                                        "FINAL(0)")}) as server:
        make_rlm(server).completion("ctx", "q?")
        last = server.calls_to("root")[-1]
    assert last.messages[3]["content"].startswith("[cell 1] output:\n0")
    assert last.messages[5]["content"].startswith("[turn 2 output folded: cell 2 printed 5,001 chars")


# ----- recursion ------------------------------------------------------------------------
def test_recursion_two_levels_below_the_root(make_rlm):
    """max_depth=3: root -> child RLM -> grandchild RLM -> llm_query fallback."""

    def root(call: Call) -> str:
        if call.turn == 0:
            return "```repl\nr = rlm_query('Sum the numbers', context='1 2 3 4')\nprint(r)\n```"
        return "FINAL_VAR(r)"

    def sub(call: Call) -> str:
        if not call.is_root:  # llm_query from the grandchild (a fallback of rlm_query)
            return "LEAF:" + str(sum(int(x) for x in re.findall(r"\d+", call.prompt.split("\n\n", 1)[1])))
        if "Question: Sum the numbers" in call.messages[1]["content"]:
            if call.turn == 0:
                return "```repl\nv = rlm_query('Add them', context=context)\nprint(v)\n```"
            return "FINAL_VAR(v)"
        if call.turn == 0:  # the grandchild
            return "```repl\nw = rlm_query('add', context=context)\n```"
        return "FINAL_VAR(w)"

    with ScriptedServer({"root": root, "sub": sub}) as server:
        result = make_rlm(server, max_depth=3).completion("unused", "what is the sum?")
    assert result.answer == "LEAF:10" and result.status == "ok"
    (child_event,) = events(result, "child_run")
    child = list(read_trajectory(result.trajectory_path.parent / f"{child_event['child_run_id']}.jsonl"))
    assert child[0]["parent_run_id"] == result.run_id and child[0]["depth"] == 1
    (grand_event,) = [e for e in child if e["event"] == "child_run"]
    grand = list(read_trajectory(result.trajectory_path.parent / f"{grand_event['child_run_id']}.jsonl"))
    assert grand[0]["depth"] == 2 and grand[-2]["answer"] == "LEAF:10"
    assert set(result.usage.by_depth) == {0, 1, 2, 3}
    assert "rlm_query" in next(e for e in grand if e["event"] == "cell")["code"]


def test_rlm_query_at_max_depth_falls_back_to_llm_query(make_rlm):
    root = script("```repl\nr = rlm_query('Echo:', context='payload')\n```", "FINAL_VAR(r)")
    with ScriptedServer({"root": root, "sub": lambda c: "sub saw " + c.prompt}) as server:
        result = make_rlm(server, max_depth=1).completion("x", "q?")
    assert result.answer == "sub saw Echo:\n\npayload" and not events(result, "child_run")


# ----- budgets --------------------------------------------------------------------------
def test_max_iterations_asks_once_for_a_best_answer(make_rlm):
    def root(call: Call) -> str:
        if "Stop: the turn limit is reached" in call.prompt:
            return "FINAL(best guess)"
        return "```repl\nprint(1)\n```"

    with ScriptedServer({"root": root}) as server:
        result = make_rlm(server, max_iterations=3).completion("x", "q?")
        assert len(server.calls_to("root")) == 4
    assert (result.status, result.answer, result.iterations) == ("max_iterations", "best guess", 3)
    assert events(result, "budget_stop")[0]["budget"] == "max_iterations"


def test_partial_answer_comes_from_the_answer_draft(make_rlm):
    from rlm import BudgetExceeded

    root = script('```repl\nanswer["content"] = "half done"\n```')
    with ScriptedServer({"root": root}) as server:
        result = make_rlm(server, max_iterations=2).completion("x", "q?")
    assert (result.status, result.answer) == ("max_iterations", "half done")
    with pytest.raises(BudgetExceeded) as exc:
        result.raise_for_status()
    assert exc.value.budget == "max_iterations" and exc.value.partial_answer == "half done"


def test_token_budget_stops_the_run(make_rlm):
    with ScriptedServer({"root": script("```repl\nprint('x' * 4000)\n```")}) as server:
        result = make_rlm(server, max_tokens=3000).completion("x", "q?")
    assert result.status == "max_tokens" and result.iterations < 30
    assert result.usage.total.total_tokens >= 3000


def test_cost_budget_with_a_price_for_the_model(make_rlm):
    prices = {"root": {"input": 100.0, "output": 100.0}}  # $0.0001 per token
    with ScriptedServer({"root": script("```repl\nprint(1)\n```")}) as server:
        result = make_rlm(server, max_cost_usd=2.5, prices=prices, sub_model=None,
                          model_kwargs={"max_tokens": 50}).completion("x", "q?")
    # the run stops before a turn whose worst case would pass the budget, not after it
    assert result.status == "max_cost" and 1.0 < result.cost_usd <= 2.5
    assert result.cost_usd == pytest.approx(result.usage.total.total_tokens / 10_000)


def test_cost_budget_needs_a_price(make_rlm):
    with ScriptedServer({"root": script("FINAL(x)")}) as server, pytest.raises(ConfigError, match="has no price"):
        make_rlm(server, max_cost_usd=1.0)


def test_sub_call_budget_answers_the_rest_with_an_error_string(make_rlm):
    reply = "```repl\nr = llm_query_batched(['count a in: aaa'] * 5)\nprint(r)\n```"
    with ScriptedServer({"root": script(reply, "FINAL(x)"), "sub": count_sub}) as server:
        result = make_rlm(server, max_sub_calls=3).completion("x", "q?")
    out = events(result, "cell")[0]["stdout"]
    assert out.count("'3'") == 3 and out.count("max_sub_calls budget is spent") == 2
    assert result.status == "max_sub_calls"


def test_wall_time_budget_interrupts_a_long_cell(make_rlm):
    slow = "```repl\nimport math\nwhile True:\n    math.sqrt(2)\n```"
    with ScriptedServer({"root": script(slow)}) as server:
        result = make_rlm(server, max_wall_s=3.0).completion("x", "q?")
    assert result.status == "max_wall_time"
    assert "TimeoutError" in events(result, "cell")[0]["error"]
    assert result.wall_s < 20


# ----- faults ---------------------------------------------------------------------------
def test_run_answers_correctly_when_every_fifth_request_fails(make_rlm):
    text = "banana and apple " * 400
    with ScriptedServer({"root": script(CHUNKED, "FINAL_VAR(total)"), "sub": count_sub},
                        fail_every=5, faults=[RATE_LIMITED, SERVER_ERROR, MALFORMED]) as server:
        result = make_rlm(server).completion(text, "How many letters a?")
        assert server.faults_sent >= 3
    assert result.answer == str(text.count("a")) and result.status == "ok"
    assert any(e.get("attempts", 1) > 1 for e in events(result, "sub_call") + events(result, "model_call"))


def test_one_failed_prompt_in_a_batch_is_an_error_string(make_rlm):
    def sub(call: Call):
        return Fault(400, '{"error": {"message": "prompt rejected"}}') if "bad" in call.prompt else "fine"

    reply = "```repl\nr = llm_query_batched(['good', 'bad', 'good'])\nprint(r)\n```"
    with ScriptedServer({"root": script(reply, "FINAL(x)"), "sub": sub}) as server:
        result = make_rlm(server).completion("x", "q?")
    out = events(result, "cell")[0]["stdout"]
    assert out.startswith("['fine', '[llm_query error: sub: HTTP 400") and out.rstrip().endswith("'fine']")


def test_root_model_failure_ends_the_run_with_a_status(make_rlm):
    def root(call: Call):
        return "```repl\nprint(1)\n```" if call.turn == 0 else Fault(400, '{"error": {"message": "context too long"}}')

    with ScriptedServer({"root": root}) as server:
        result = make_rlm(server).completion("x", "q?")
    assert result.status == "model_error" and "context too long" in result.error
    with pytest.raises(ModelError, match="context too long"):
        result.raise_for_status()


def test_wrong_key_and_unreachable_endpoint_fail_before_the_sandbox(tmp_path):
    with ScriptedServer({"root": script("FINAL(x)")}, models_status=401) as server:
        rlm = RLM(model="root", base_url=server.url, api_key="bad", runs_dir=tmp_path, notes=False)
        with pytest.raises(ModelError, match="refused the API key"):
            rlm.completion("x", "q?")
    rlm = RLM(model="root", base_url="http://127.0.0.1:9/v1", api_key="k", runs_dir=tmp_path, notes=False)
    with pytest.raises(ModelError, match="cannot reach the model endpoint"):
        rlm.completion("x", "q?")
    assert not list(tmp_path.iterdir())  # no run was opened


def test_missing_key_and_model_are_config_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("RLM_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RLM_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="no API key"):
        RLM(model="gpt-5-mini")
    with pytest.raises(ConfigError, match="no model given"):
        RLM(api_key="k")


def test_a_crash_mid_run_leaves_a_readable_trajectory(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    runner = tmp_path / "runner.py"
    runner.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(os.path.dirname(__file__))!r})\n"
        "from scripted_server import ScriptedServer\n"
        "from rlm import RLM\n"
        "def root(call):\n"
        "    if call.turn == 2:\n"
        "        time.sleep(60)\n"
        "    return '```repl\\nprint(len(context))\\n```'\n"
        "with ScriptedServer({'root': root}) as s:\n"
        f"    RLM(model='root', base_url=s.url, api_key='k', runs_dir={str(tmp_path / 'runs')!r}, notes=False).completion('abc', 'q?')\n"
    )
    proc = subprocess.Popen([sys.executable, str(runner)])
    deadline = time.monotonic() + 60
    cells: list = []
    while time.monotonic() < deadline and len(cells) < 2:
        time.sleep(0.2)
        files = list((tmp_path / "runs").glob("*.jsonl"))
        cells = [e for f in files for e in read_trajectory(f) if e["event"] == "cell"]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (path,) = (tmp_path / "runs").glob("*.jsonl")
    evs = list(read_trajectory(path))
    assert [e["event"] for e in evs][:3] == ["run_start", "context_loaded", "model_call"]
    assert [e["stdout"] for e in evs if e["event"] == "cell"] == ["3\n", "3\n"]
    assert all(line.endswith("\n") for line in path.read_text().splitlines(keepends=True))


# ----- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize("make_context, message", [
    (lambda p: p / "missing.txt", "no such file"),
    (lambda p: "", "the context is empty"),
    (lambda p: [], "empty list"),
    (lambda p: (p / "empty.txt", (p / "empty.txt").write_text(""))[0], "is empty"),
    (lambda p: (p / "bin.dat", (p / "bin.dat").write_bytes(b"\x00\x01\x02abc"))[0], "binary"),
])
def test_bad_input_is_a_clear_error_and_costs_nothing(make_rlm, tmp_path, make_context, message):
    context = make_context(tmp_path)
    before = context.read_bytes() if hasattr(context, "exists") and context.exists() else None
    with ScriptedServer({"root": script("FINAL(x)")}) as server:
        with pytest.raises(ContextError, match=message):
            make_rlm(server).completion(context, "q?")
        assert server.calls_to("root") == []
    if before is not None:
        assert context.read_bytes() == before


def test_empty_query_is_refused(make_rlm):
    with ScriptedServer({"root": script("FINAL(x)")}) as server, pytest.raises(ValueError, match="query"):
        make_rlm(server).completion("abc", "  ")


# ----- trajectories and secrets ---------------------------------------------------------
def test_trajectory_records_every_step_without_secrets(tmp_path):
    from conftest import PLANTED_KEY

    with ScriptedServer({"root": script(CHUNKED, "FINAL_VAR(total)"), "sub": count_sub}) as server:
        result = RLM(model="root", sub_model="sub", base_url=server.url, runs_dir=tmp_path, notes=False).completion(
            "a" * 600, "q?")
        assert server.calls[0].headers["authorization"] == f"Bearer {PLANTED_KEY}"  # from the environment
    text = result.trajectory_path.read_text()
    assert PLANTED_KEY not in text
    evs = events(result)
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "run_start" and kinds[-2:] == ["final", "totals"]
    assert {"model_call", "cell", "sub_call"} <= set(kinds)
    start = evs[0]
    assert start["config"]["api_key"] == "set" and start["context"] == {"kind": "str", "chars": 600}
    call = next(e for e in evs if e["event"] == "model_call")
    assert set(call["messages"][0]) == {"role", "chars", "sha256"} and call["prompt_tokens"] > 0
    assert evs[-1]["usage"]["total"]["calls"] == 4 and evs[-2]["answer"] == "600"


def test_no_trajectory_when_turned_off(make_rlm):
    with ScriptedServer({"root": script("FINAL(x)")}) as server:
        result = make_rlm(server, trajectory=False).completion("abc", "q?")
    assert result.trajectory_path is None and result.answer == "x"


def test_acompletion_and_completion_inside_a_running_loop(make_rlm):
    with ScriptedServer({"root": script("FINAL(async ok)")}) as server:
        rlm = make_rlm(server)

        async def both():
            a = await rlm.acompletion("abc", "q?")
            b = rlm.completion("abc", "q?")  # a caller with a running loop (e.g. Jupyter)
            return a.answer, b.answer

        assert asyncio.run(both()) == ("async ok", "async ok")


def test_progress_callback_sees_turns_and_sub_calls(make_rlm):
    seen = []
    with ScriptedServer({"root": script(CHUNKED, "FINAL(x)"), "sub": count_sub}) as server:
        make_rlm(server).completion("a" * 1200, "q?", on_event=lambda e, s: seen.append((e["event"], s.turn,
                                                                                            s.sub_calls_done)))
    assert ("model_call", 1, 0) in seen and max(s[2] for s in seen) == 3
    assert json.dumps(seen)


def test_using_exactly_the_sub_call_budget_does_not_stop_the_run(make_rlm):
    reply = "```repl\nr = llm_query_batched(['count a in: aaa'] * 3)\n```"
    with ScriptedServer({"root": script(reply, "```repl\nprint(r)\n```", "FINAL_VAR(r)"), "sub": count_sub}) as server:
        result = make_rlm(server, max_sub_calls=3).completion("x", "q?")
    assert result.status == "ok" and result.answer == "['3', '3', '3']"


def test_cancelling_a_run_interrupts_its_cell_and_records_the_end(make_rlm):
    import time

    from sandbox import SandboxConfig

    forever = "```repl\nanswer['content'] = 'draft'\nwhile True:\n    pass\n```"
    with ScriptedServer({"root": script(forever)}) as server:
        rlm = make_rlm(server, sandbox=SandboxConfig(cell_timeout_s=200))
        seen = []

        async def go():
            task = asyncio.create_task(rlm.acompletion("x", "q?", on_event=lambda e, s: seen.append(e)))
            while not any(e["event"] == "model_call" for e in seen):
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # the cell is spinning now
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - started

        took = asyncio.run(go())
    assert took < 60  # the cell's own limit is 200 s: the interrupt ended it
    final = next(e for e in seen if e["event"] == "final")
    assert final["status"] == "cancelled" and final["answer"] == "draft"


# ----- the broker's limits ---------------------------------------------------------------
def test_adaptive_limiter_halves_after_repeated_429s_and_recovers():
    from rlm.broker import AdaptiveLimiter

    async def scenario():
        limiter = AdaptiveLimiter(8, trigger=3, window_s=10)
        for _ in range(3):
            await limiter.acquire()
        limiter.on_rate_limited()
        limiter.on_rate_limited()
        assert limiter.limit == 8
        limiter.on_rate_limited()
        assert limiter.limit == 4
        for _ in range(3):
            limiter.release()
        # at most 4 in flight now
        for _ in range(4):
            await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        limiter.release()
        await asyncio.wait_for(waiter, 1)
        for _ in range(4):
            limiter.on_success()
        assert limiter.limit == 5
        return limiter.in_use

    assert asyncio.run(scenario()) == 4


def test_repeated_429s_lower_the_concurrency_and_every_prompt_still_answers(make_rlm, caplog):
    reply = ("```repl\nr = llm_query_batched(['count a in: ' + 'a' * i for i in range(40)])\n"
             "print(r == [str(i) for i in range(40)])\n```")
    state = {"n": 0}

    def sub(call: Call):
        state["n"] += 1
        return RATE_LIMITED if state["n"] <= 12 else count_sub(call)

    with caplog.at_level("WARNING", logger="rlm"), \
            ScriptedServer({"root": script(reply, "FINAL(x)"), "sub": sub}) as server:
        result = make_rlm(server, max_concurrency=16).completion("x", "q?")
    assert events(result, "cell")[0]["stdout"] == "True\n"
    lowered = [r.getMessage() for r in caplog.records if "concurrency lowered" in r.getMessage()]
    assert lowered and lowered[0].endswith("lowered to 8")


def test_retry_after_is_honoured(make_rlm):
    state = {"n": 0}

    def sub(call: Call):
        state["n"] += 1
        return Fault(429, '{"error": {"message": "slow down"}}', {"Retry-After": "1.5"}) if state["n"] == 1 else "ok"

    with ScriptedServer({"root": script("```repl\nr = llm_query('hi')\n```", "FINAL_VAR(r)"), "sub": sub}) as server:
        result = make_rlm(server).completion("x", "q?")
    assert result.answer == "ok"
    assert events(result, "cell")[0]["duration_s"] >= 1.5
    assert events(result, "sub_call")[0]["attempts"] == 2


def test_per_request_timeout_gives_an_error_string(make_rlm):
    import time

    def sub(call: Call) -> str:
        time.sleep(2.0)
        return "late"

    with ScriptedServer({"root": script("```repl\nr = llm_query('hi')\nprint(r)\n```", "FINAL(x)"),
                         "sub": sub}) as server:
        result = make_rlm(server, request_timeout_s=0.5, max_retries=1).completion("x", "q?")
    out = events(result, "cell")[0]["stdout"]
    assert "[llm_query error: sub: the request timed out after 2 attempts]" in out


def test_model_code_cannot_dodge_the_cost_budget_with_an_unpriced_model(make_rlm):
    reply = "```repl\nr = [llm_query('hi', model='free-lunch'), llm_query('hi')]\nprint(r)\n```"
    prices = {"root": (0.0, 0.0), "sub": (1.0, 1.0)}
    with ScriptedServer({"root": script(reply, "FINAL(x)"), "*": lambda c: "answer"}) as server:
        result = make_rlm(server, max_cost_usd=5.0, prices=prices).completion("x", "q?")
        assert [c.model for c in server.calls if not c.is_root] == ["sub"]
    out = events(result, "cell")[0]["stdout"]
    assert "model 'free-lunch' is not one this run may call" in out and out.rstrip().endswith("'answer']")


def test_a_large_sub_context_travels_as_a_file_not_inside_json(make_rlm):
    big = "x" * 5_000_000 + "NEEDLE"
    root = script("```repl\nbig = 'x' * 5_000_000 + 'NEEDLE'\nr = rlm_query('what ends it?', context=big)\n```",
                  "FINAL_VAR(r)")

    def sub(call: Call) -> str:
        if call.is_root:  # the child run: its context is the 5 MB text
            return script("```repl\ntail = str(len(context)) + ':' + context[-6:]\n```", "FINAL_VAR(tail)")(call)
        return f"fallback saw {len(call.prompt):,} chars ending {call.prompt[-6:]}"

    with ScriptedServer({"root": root, "sub": sub}) as server:
        child_run = make_rlm(server, max_depth=2).completion("x", "q?")
        fallback = make_rlm(server, max_depth=1).completion("x", "q?")
    assert child_run.answer == f"{len(big)}:NEEDLE"
    (child,) = events(child_run, "child_run")
    loaded = next(e for e in read_trajectory(child_run.trajectory_path.parent / f"{child['child_run_id']}.jsonl")
                  if e["event"] == "context_loaded")
    assert loaded["size"] == len(big) and "rlm-subctx-" in loaded["description"]
    assert fallback.answer == f"fallback saw {len(big) + len('what ends it?') + 2:,} chars ending NEEDLE"


def test_a_sub_context_file_must_be_a_regular_file(make_rlm):
    from sandbox import SandboxConfig

    code = ("```repl\nimport os\nfrom sandbox.kernel.kernel import SandboxKernel\nrt = SandboxKernel.runtime  # a hostile kernel talks to the bridge itself\nr, w = os.pipe()\n"
            "try:\n    rt.host_call('rlm_query', {'prompts': ['p'], 'model': None, 'contexts': [{'__rlm_fd__': 0}],"
            " 'batched': False}, send_fds=[r])\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n"
            "try:\n    rt.host_call('rlm_query', {'prompts': ['p'], 'model': None, 'contexts': [{'__rlm_fd__': 3}],"
            " 'batched': False})\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n```")
    with ScriptedServer({"root": script(code, "FINAL(done)"), "sub": lambda c: "never"}) as server:
        result = make_rlm(server, max_depth=2, sandbox=SandboxConfig(policy="trusted")).completion("x", "q?")
        assert server.calls_to("sub") == []
    out = events(result, "cell")[0]["stdout"]
    assert "HostError ValueError: rlm_query: a sub-context must be a regular file" in out
    assert "HostError ValueError: rlm_query: a sub-context file is missing" in out


def test_settings_come_through_one_typed_path(tmp_path):
    from rlm import RLMConfig

    base = RLMConfig(model="m", api_key="k", max_iterations=7, runs_dir=tmp_path / "runs")
    rlm = RLM(base, max_depth=2)
    assert (rlm.config.model, rlm.config.max_iterations, rlm.config.max_depth) == ("m", 7, 2)
    assert RLM(model="m", api_key="k").config.max_iterations == 30  # keywords alone, as before
    with pytest.raises(ConfigError, match="did you mean max_iterations"):
        RLM(model="m", api_key="k", max_iteration=3)
    with pytest.raises(ConfigError, match="RLMConfig"):
        RLM({"model": "m"})  # type: ignore[arg-type]
    toml = tmp_path / "rlm.toml"
    toml.write_text('model = "m"\n[sandbox]\ncell_timeout_s = -1\n')
    with pytest.raises(ConfigError, match=r"\[sandbox\]"):
        RLM(api_key="k", config_file=toml)


@pytest.mark.parametrize("body,content_type,why", [
    ("<html><body>502 Bad Gateway</body></html>", "text/html", "HTML page"),
    ('{"id": "x", "object": "chat.completion"}', "application/json", "no 'choices'"),
    ('{"id": "x", "choices": []}', "application/json", "empty 'choices'"),
])
def test_a_reply_that_is_not_a_chat_completion_is_one_clear_error(make_rlm, body, content_type, why):
    bad = Fault(200, body, content_type=content_type)
    with ScriptedServer({"root": lambda call: bad}) as server:
        result = make_rlm(server, max_retries=1, retry_base_s=0.01).completion("x", "q?")
    assert result.status == "model_error" and why in result.error, result.error
    assert "after 2 attempts" in result.error and "\n" not in result.error


def test_the_status_line_ticks_during_a_cell_and_tells_queued_from_in_flight(make_rlm):
    import threading
    import time

    from rlm.frontends.display import status_line

    spin = "```repl\nx = sum(range(60_000_000))\n```"  # a cell that runs a while and emits nothing
    batch = "```repl\nr = llm_query_batched(['count a in: ' + 'a' * i for i in range(1, 13)])\n```"
    statuses: list = []
    lines: list[tuple[float, str]] = []  # (elapsed_s as of the last event, the line drawn now)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            if statuses:
                s = statuses[0]
                lines.append((s.elapsed_s, status_line(s).plain))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ScriptedServer({"root": script(spin, batch, "FINAL_VAR(r)"), "sub": count_sub}, latency_s=0.1) as server:
            result = make_rlm(server, max_concurrency=2).completion(
                "x", "q?", on_event=lambda e, s: statuses.append(s) if not statuses else None)
    finally:
        stop.set()
        sampler.join()
    assert result.status == "ok"
    seconds = [(last, float(line.split(" s · ")[0].rsplit(" · ", 1)[1]), line) for last, line in lines
               if line.endswith("running code") and "0 done" in line]
    frozen = [shown for last, shown, _ in seconds if last == seconds[0][0]]
    assert max(frozen) - min(frozen) >= 0.3, seconds  # no event came, yet the clock moved
    queued = [line for _, line in lines if "queued" in line]
    assert queued, lines[-5:]
    assert all(int(line.split(" in flight")[0].rsplit(", ", 1)[1]) <= 2 for line in queued)
