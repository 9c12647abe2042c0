"""The user's tools: typed Python functions given to RLM(tools=...) that model code calls in a
real kernel, run on the host, checked against their signatures, bounded, and recorded; a tool
that raises, hangs or answers out of shape gives the cell one clear error and the run goes on."""

from __future__ import annotations

import asyncio
import threading

import pytest
from scripted_server import Call, ScriptedServer

from rlm import RLM, ConfigError, read_trajectory

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
    assert "the limit of 9 tool calls per run is reached" in out[8][1]
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
