"""The CodeAct baselines (evals/codeact.py) end to end: a scripted model writes Python that runs
in a real sandbox, finds what the window cut off with `search()`, asks the sub-model with
`llm_query()` (codeact-sub), and answers with FINAL; the conversation stays within the window."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scripted_server import Call, ScriptedServer

from evals import MethodSettings, generate, read_tasks, run_eval
from evals.codeact import _fit
from evals.tokens import tokenizer

TOK = tokenizer()
WINDOW = 4000
prompts_seen: list[int] = []
sub_prompts: list[str] = []


def _key(call: Call) -> str:
    return re.search(r"special magic \w+ for (\S+) mentioned", call.messages[1]["content"]).group(1)


def coder(call: Call) -> str:
    """Root model of both methods: search for the asked key, then answer from the output."""
    prompts_seen.append(sum(TOK.count(m["content"]) for m in call.messages))
    assert "search(query, k=5)" in call.system
    uses_sub = "llm_query(prompt)" in call.system
    if call.turn == 0:
        key = _key(call)
        if uses_sub:
            return ("Let me ask a helper.\n```repl\nhits = search(" + repr(key) + ", k=2)\n"
                    "print('helper says:', llm_query('Which number follows " + key + " here? ' + hits[0]))\n```")
        return ("```repl\nimport re\nhits = search(" + repr(key) + ", k=3)\n"
                "print([m for h in hits for m in re.findall(r'for " + re.escape(key) + r" is: (\d+)', h)])" + "\n```")
    found = re.search(r"(\d{7})", call.prompt)
    return f"FINAL({found.group(1) if found else 'unknown'})"


def reader(call: Call) -> str:
    sub_prompts.append(call.prompt)
    key = re.search(r"follows (\S+) here", call.prompt).group(1)
    return re.search(re.escape(key) + r" is: (\d+)", call.prompt).group(1)


@pytest.fixture(scope="module")
def server():
    with ScriptedServer({"coder": coder, "reader": reader}) as s:
        yield s


def test_codeact_finds_what_the_window_cut_off_and_codeact_sub_asks_the_sub_model(server, tmp_path):
    tasks = generate("sniah", 16_384, 2, 3, tmp_path / "t", variant="single_2")
    s = MethodSettings.of(model="coder", sub_model="reader", base_url=server.url, api_key="k",
                          runs_dir=tmp_path / "runs", window_tokens=WINDOW, max_iterations=4)
    prompts_seen.clear()
    sub_prompts.clear()
    rows = run_eval(tasks, ["codeact", "codeact-sub"], s, tmp_path / "results.jsonl", workers=1)
    assert len(rows) == 4
    for r in rows:
        assert (r["status"], r["score"], r["truncated"]) == ("ok", 100.0, True), r
        assert r["tokens"] > 0
    # the needle sat past the window at least once: only search() could have found it
    shown_cut = [t for t in read_tasks(tasks) if t.meta["positions"][0] > len(TOK.head(_text(t, tmp_path / "t"), WINDOW))]
    assert shown_cut, "pick a seed whose needle lies past the window"
    assert len(sub_prompts) == 2 and all("special magic number" in p for p in sub_prompts)
    assert max(prompts_seen) <= WINDOW
    # a small window keeps half for the turns: the prompt shows real context, not a 256-token floor
    assert min(prompts_seen) >= WINDOW // 2, prompts_seen
    # each row has its run, as rlm's rows do: calls, cells and sub-calls, and a page in the report
    from rlm import read_trajectory

    for r in rows:
        events = list(read_trajectory(Path(r["trajectory_path"])))
        kinds = [e["event"] for e in events]
        assert kinds[0] == "run_start" and kinds[-2:] == ["final", "totals"], kinds
        assert events[0]["method"] == r["method"] and events[0]["run_id"] == r["run_id"]
        assert "cell" in kinds and kinds.count("model_call") >= 2
        assert ("sub_call" in kinds) == (r["method"] == "codeact-sub")
        cells = {e["cell"] for e in events if e["event"] == "cell"}
        assert all(e["cell"] in cells for e in events if e["event"] == "sub_call")  # drawn inside their cell
        assert events[-2]["answer"] == r["answer"]
        # the scripted models have no price: null in the run's totals (the report says "unpriced")
        assert events[-1]["cost_usd"] is None and r["cost_usd"] == 0.0
    from evals import make_report

    make_report(tmp_path / "results.jsonl", tmp_path / "report", html=True)
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    for r in rows:
        assert f'href="runs/{r["run_id"]}.html"' in page
        assert (tmp_path / "report" / "runs" / f"{r['run_id']}.html").is_file()


def _text(task, base):
    ctx = task.load_context(base)
    return ctx if isinstance(ctx, str) else ctx.read_text(encoding="utf-8")


def test_a_model_that_never_answers_stops_at_the_turn_limit(tmp_path):
    turns: list[int] = []
    roles: list[list[str]] = []

    def stubborn(call: Call) -> str:
        turns.append(call.turn)
        roles.append([m["role"] for m in call.messages])
        if "No turns are left" in call.prompt:
            return "FINAL(gave up)"
        return "```repl\nprint(sum(range(10)))\n```"

    tasks = generate("sniah", 2048, 1, 0, tmp_path / "t", variant="single_1")
    with ScriptedServer({"stubborn": stubborn}) as srv:
        s = MethodSettings.of(model="stubborn", base_url=srv.url, api_key="k", runs_dir=tmp_path / "runs",
                              window_tokens=8000, max_iterations=3)
        (row,) = run_eval(tasks, ["codeact"], s, tmp_path / "results.jsonl", workers=1)
    assert (row["status"], row["answer"], row["score"]) == ("max_iterations", "gave up", 0.0)
    assert turns == [0, 1, 2, 3]  # three turns, then the last call without code
    # strict chat templates refuse two user messages in a row: the last request rides on the
    # last observation
    assert all(a != b for r in roles for a, b in zip(r[1:], r[2:], strict=False)), roles


def test_final_var_sub_call_limits_and_the_cost_budget(tmp_path):
    """FINAL_VAR gives the variable whole (even text starting with 'Error'); rlm_query, which
    would drop its context here, is refused; --max-cost ends the loop with one last answer."""
    seen: list[str] = []

    def agent(call: Call) -> str:
        seen.append(call.prompt)
        if call.turn == 0:
            return ("```repl\ntry:\n    rlm_query('x', 'a context')\nexcept Exception as e:\n    print('refused:', e)\n"
                    "ans = 'Error-free answer ' + 'z' * 30000\n```")
        return "FINAL_VAR(ans)"

    def asker(call: Call) -> str:
        if call.turn == 0:
            return "```repl\ntry:\n    out = llm_query('hello ' * 6000)\nexcept Exception as e:\n    out = f'refused: {e}'\n```"
        return "FINAL_VAR(out)"

    def spender(call: Call) -> str:
        return "FINAL(cheap)" if "No turns are left" in call.prompt else "```repl\nprint(1)\n```"

    tasks = generate("sniah", 2048, 1, 0, tmp_path / "t", variant="single_1")
    with ScriptedServer({"agent": agent, "spender": spender, "reader": reader, "asker": asker}) as srv:
        common = {"base_url": srv.url, "api_key": "k", "runs_dir": tmp_path / "runs", "window_tokens": 8000,
                  "sub_model": "reader"}
        (row,) = run_eval(tasks, ["codeact-sub"], MethodSettings.of(model="agent", **common),
                          tmp_path / "a.jsonl", workers=1)
        prices = {"spender": {"input": 100.0, "output": 100.0}}  # about $0.25 a call here
        budgeted = MethodSettings.of(model="spender", max_cost_usd=1.0, prices=prices, max_iterations=20, **common)
        (spent,) = run_eval(tasks, ["codeact"], budgeted, tmp_path / "b.jsonl", workers=1)
        calls = len(srv.calls_to("spender"))
        # a budget below one call's prompt: no call is made at all
        tight = MethodSettings.of(model="spender", max_cost_usd=0.05, prices=prices, max_iterations=20, **common)
        (none,) = run_eval(tasks, ["codeact"], tight, tmp_path / "c.jsonl", workers=1)
        assert len(srv.calls_to("spender")) == calls
        # sub-calls the budget cannot pay are refused in the sandbox, none made
        asked = len(srv.calls_to("reader"))
        dear_sub = MethodSettings.of(model="asker", max_cost_usd=0.5, max_iterations=3,
                                     prices={"asker": {"input": 0.01, "output": 0.01},
                                             "reader": {"input": 1000.0, "output": 1000.0}}, **common)
        (subbed,) = run_eval(tasks, ["codeact-sub"], dear_sub, tmp_path / "d.jsonl", workers=1)
        assert len(srv.calls_to("reader")) == asked
        # a sub-call that would leave nothing for the last answer is refused too
        both = MethodSettings.of(model="asker", max_cost_usd=1.0, max_iterations=3,
                                 prices={"asker": {"input": 100.0, "output": 100.0},
                                         "reader": {"input": 100.0, "output": 100.0}}, **common)
        (kept,) = run_eval(tasks, ["codeact-sub"], both, tmp_path / "e.jsonl", workers=1)
    assert kept["cost_usd"] <= 1.0 and "cannot pay" in kept["answer"], kept
    assert subbed["status"] == "ok" and "the cost budget cannot pay for these sub-calls" in subbed["answer"], subbed
    assert "refused: " in seen[1] and "rlm_query is not available here" in seen[1], seen[1][:500]
    assert row["status"] == "ok" and row["answer"] == "Error-free answer " + "z" * 30000
    # turns stop while a last answer can still be paid: the budget is not passed (it was, by a
    # whole turn and the last answer: $1.55 of $0.10 with a dear model)
    assert (spent["status"], spent["answer"]) == ("max_cost", "cheap"), spent
    assert 0.5 <= spent["cost_usd"] <= 1.0 and calls >= 3, (spent["cost_usd"], calls)
    assert (none["status"], none["answer"], none["cost_usd"]) == ("max_cost", None, 0.0)


def test_the_conversation_is_cut_to_the_window_oldest_turns_first():
    messages = [{"role": "system", "content": "rules " * 50}, {"role": "user", "content": "context " * 500}]
    for i in range(40):
        messages.append({"role": "assistant", "content": f"turn {i} " + "code " * 100})
        messages.append({"role": "user", "content": f"output {i} " + "x " * 100})
    fitted = _fit(messages, TOK, 3000)
    assert sum(TOK.count(m["content"]) for m in fitted) <= 3000
    roles = [m["role"] for m in fitted]
    assert roles[:2] == ["system", "user"] and all(a != b for a, b in zip(roles[1:], roles[2:], strict=False))
    assert fitted[-1]["content"].startswith("output 39") and "dropped to fit the window" in fitted[1]["content"]
    assert _fit(messages[:4], TOK, 3000) == messages[:4]  # nothing dropped when it fits


def test_bm25_search_edges():
    from evals.retrieve import Searcher, chunk_text

    with pytest.raises(ValueError):
        chunk_text("abc", 0)  # it looped forever
    assert Searcher([]).top("anything", 3) == []  # an empty context: nothing, not a crash
    s = Searcher(chunk_text("alpha beta\ngamma delta\n" * 5, 12))
    assert s.top("the of and", 3) == [] and s.top("zebra", 3) == []  # no shared term: no passages
    assert all("gamma" in s.chunks[i] for i in s.top("gamma", 10))
