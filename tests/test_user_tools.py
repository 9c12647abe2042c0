"""The user's tools: typed Python functions given to RLM(tools=...) that model code calls in a
real kernel, run on the host, checked against their signatures, bounded, and recorded; a tool
that raises, hangs or answers out of shape gives the cell one clear error and the run goes on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import cli_env
from pydantic import BaseModel
from scripted_server import Call, ScriptedServer

from rlm import RLM, ConfigError, read_trajectory
from rlm.frontends.display import status_line

CUSTOMERS = {7: {"name": "Ada", "plan": "pro"}, 8: {"name": "Grace", "plan": "free"}}
hang = threading.Event()


def lookup(customer_id: int) -> dict:
    """Look up a customer by id: their name and plan."""
    return CUSTOMERS[customer_id]


def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"cannot: {reason}")


def stall() -> str:
    """Never answers in time."""
    hang.wait(30)
    return "late"


def liar() -> int:
    """Says it returns an int; does not."""
    return "not a number"  # type: ignore[return-value]


def opaque():  # noqa: ANN201 - no annotation: its value must still be JSON
    """Returns something that is not JSON."""
    return object()


async def slow_sum(a: int, b: int = 1) -> int:
    """Adds, asynchronously."""
    await asyncio.sleep(0.01)
    return a + b


CELLS = [
    "print(lookup(7)['name'], lookup('8')['plan'])",  # '8' is taken as 8 (lax)
    "print(slow_sum(2, b=3))",
    "explode('x')",
    "stall()",
    "liar()",
    "opaque()",
    "lookup('seven')",
    "lookup(1, 2)",
    "lookup(7)",  # the fourth successful call... over the limit of 9 set below once all have run
]


def script(call: Call) -> str:
    if call.turn < len(CELLS):
        return f"```repl\n{CELLS[call.turn]}\n```"
    return "FINAL(done)"


def test_tools_are_called_checked_bounded_and_recorded(tmp_path):
    with ScriptedServer({"root": script}) as server:
        rlm = RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
                  cache=False, answer_check=False, tool_timeout_s=1.0, max_tool_calls=9,
                  tools=[lookup, explode, stall, liar, opaque, slow_sum])
        try:
            result = rlm.completion("some text", "use the tools")
        finally:
            hang.set()
        system = server.calls_to("root")[0].system
    assert result.status == "ok" and result.answer == "done"
    for line in ("`lookup(customer_id: int) -> dict`: Look up a customer by id: their name and plan.",
                 "`slow_sum(a: int, b: int = 1) -> int`: Adds, asynchronously."):
        assert line in system
    events = list(read_trajectory(result.trajectory_path))
    cells = [e for e in events if e["event"] == "cell"]
    out = [(c["stdout"].strip(), (c["error"] or "").strip().splitlines()[-1] if c["error"] else "") for c in cells]
    assert out[0] == ("Ada free", "")
    assert out[1] == ("5", "")
    assert "explode raised ValueError: cannot: x" in out[2][1]
    assert "stall did not answer within 1 s" in out[3][1]
    assert "liar returned a value that does not fit its return type int" in out[4][1]
    assert "opaque returned a value that is not JSON (object)" in out[5][1]
    assert "lookup: argument 'customer_id'" in out[6][1]
    assert "lookup(customer_id: int) -> dict: too many positional arguments" in out[7][1]
    assert "the limit of 9 tool calls per run (its sub-runs included) is reached" in out[8][1]
    calls = [e for e in events if e["event"] == "tool_call"]
    assert [c["name"] for c in calls][:3] == ["lookup", "lookup", "slow_sum"]
    assert calls[0]["arguments"] == '{"args": [7], "kwargs": {}}' and calls[0]["result"] == '{"name": "Ada", "plan": "pro"}'
    assert calls[3]["error"].startswith("RuntimeError: explode raised ValueError")


def test_tool_sets_that_cannot_work_are_refused_when_the_rlm_is_made():
    def context(x: int) -> int:
        return x

    def twin(x: int) -> int:
        return x

    for tools, words in (([context], "taken by the kernel's own helpers"), ([lookup, lookup], "two tools"),
                         ([42], "must be a function"), ([lambda x: x], "a Python name")):
        with pytest.raises(ConfigError, match=words):
            RLM(model="m", base_url="http://127.0.0.1:9", api_key="k", tools=tools)
    assert [t.name for t in RLM(model="m", base_url="http://127.0.0.1:9", api_key="k", tools=[twin]).tools] == ["twin"]


# ----- a tool, an MCP tool, a schema and a named model in one run ----------------------------
class Report(BaseModel):
    words: int
    region: str
    customer: str
    verdict: str


TOGETHER = [
    "n = word_count(context, minimum=3)\nr = region_of('Lyon')\nc = lookup(7)\n"
    "s = llm_query('Summarise in one word: ' + context, model='skim')\n"
    "v = llm_query('Judge this summary, one word: ' + s, model='judge')\nprint(n, r, c, s, v, env_key())",
    "refuse('no')",
    "word_count(42)",
    "out = {'words': n, 'region': r['region'], 'customer': c['name'], 'verdict': v}\nprint(out)",
]


def together(call: Call) -> str:
    if call.turn < len(TOGETHER):
        return f"```repl\n{TOGETHER[call.turn]}\n```"
    return "FINAL_VAR(out)"


def test_a_tool_an_mcp_tool_a_schema_and_named_models_in_one_run(tmp_path):
    mcp_server = [sys.executable, str(Path(__file__).parent / "mcp_tool_server.py")]
    with ScriptedServer({"root": together, "nano-1": lambda call: "short"}) as main, \
            ScriptedServer({"big-judge": lambda call: "fair"}) as other:
        rlm = RLM(model="root", base_url=main.url, api_key="user-key", runs_dir=tmp_path / "runs", notes=False,
                  cache=False, answer_check=False, tools=[lookup], mcp_servers=[mcp_server],
                  models={"skim": {"model": "nano-1", "price": {"input": 0.05, "output": 0.4}},
                          "judge": {"model": "big-judge", "base_url": other.url, "api_key": "judge-key"}},
                  prices={"root": {"input": 1, "output": 2}})
        seen: list = []
        result = rlm.completion("the quick brown fox jumps over a dog", "Report on it", schema=Report,
                                on_event=lambda event, status: seen.append(status_line(status).plain))
        system = main.calls_to("root")[0].system
        judge_calls = other.calls_to("big-judge")
    assert result.status == "ok", result.error
    assert result.value == Report(words=7, region="south", customer="Ada", verdict="fair")
    # the judge's endpoint got its own key, and the user's key never reached the MCP server
    assert [c.headers.get("authorization") for c in judge_calls] == ["Bearer judge-key"]
    events = list(read_trajectory(result.trajectory_path))
    cells = [e for e in events if e["event"] == "cell"]
    assert cells[0]["stdout"].split()[-1] == "key" and "no key" in cells[0]["stdout"]
    assert "refuse raised RuntimeError: Error executing tool refuse" in cells[1]["error"]
    assert "word_count: argument 'text': 42 is not of type 'string'" in cells[2]["error"]
    by_model = result.usage.as_dict()["by_model"]
    assert {"root", "skim", "judge"} <= set(by_model) and by_model["skim"]["cost_usd"] is not None
    assert by_model["judge"]["cost_usd"] is None  # no price given, and big-judge has none
    for line in ("`region_of(city: string)`: The sales region of a city.", "`lookup(customer_id: int) -> dict`",
                 "NAME is one of `skim`, `judge`"):
        assert line in system
    start = next(e for e in events if e["event"] == "run_start")
    assert start["config"]["models"]["judge"]["api_key"] == "set"  # the key is not written down
    assert any("(skim " in line and ", judge " in line for line in seen)  # the live status line, per name


def test_an_mcp_server_that_cannot_start_is_one_clear_error(tmp_path):
    rlm = RLM(model="root", base_url="http://127.0.0.1:9", api_key="k", runs_dir=tmp_path / "runs", notes=False,
              preflight=False, mcp_servers=["/nonexistent/mcp-server --flag"])
    with pytest.raises(ConfigError, match="the MCP server /nonexistent/mcp-server --flag could not be started"):
        rlm.completion("text", "q?")


def test_rlm_query_mcp_gives_the_model_a_servers_tools(tmp_path):
    (tmp_path / "app.log").write_text("one two three four\n")
    server_cmd = f"{sys.executable} {Path(__file__).parent / 'mcp_tool_server.py'}"
    replies = ["```repl\nprint(word_count(context))\n```", "FINAL(4)"]
    with ScriptedServer({"root": lambda call: replies[min(call.turn, 1)]}) as server:
        done = subprocess.run([sys.executable, "-m", "cli", "query", "app.log", "-q", "How many words?", "-m", "root",
                               "--base-url", server.url, "--no-notes", "--no-cache", "--mcp", server_cmd, "--json"],
                              cwd=tmp_path, env=cli_env(tmp_path / "home"), capture_output=True, text=True, timeout=300)
        system = server.calls_to("root")[0].system
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "4" and "`word_count(text: string, minimum: integer = ...)`" in system


def test_rlm_query_allow_model_name_equals_model_names_a_model(tmp_path):
    (tmp_path / "app.log").write_text("one two\n")
    replies = ["```repl\nprint(llm_query('Say yes', model='judge'))\n```", "FINAL(yes)"]
    with ScriptedServer({"root": lambda call: replies[min(call.turn, 1)], "big-judge": lambda call: "yes"}) as server:
        base = [sys.executable, "-m", "cli", "query", "app.log", "-q", "Yes?", "-m", "root", "--base-url", server.url,
                "--no-notes", "--no-cache", "--json"]
        done = subprocess.run([*base, "--allow-model", "judge=big-judge"], cwd=tmp_path,
                              env=cli_env(tmp_path / "home"), capture_output=True, text=True, timeout=300)
        bad = subprocess.run([*base, "--allow-model", "judge="], cwd=tmp_path,
                             env=cli_env(tmp_path / "home"), capture_output=True, text=True, timeout=300)
        judged = server.calls_to("big-judge")
    assert done.returncode == 0, done.stderr
    assert len(judged) == 1 and "judge" in json.loads(done.stdout)["usage"]["by_model"]
    assert bad.returncode == 2 and "NAME=MODEL" in bad.stderr
