"""Attacks on sessions, the user's tools, MCP tools, typed answers and named models: model code,
a model's answers and an MCP server's tool list are hostile; the host must stay bounded and
keep the user's data and keys where the user sent them."""

from __future__ import annotations

import asyncio
import http.server
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from scripted_server import Call, ScriptedServer

from rlm import RLM, ConfigError, ContextError, RLMError, read_trajectory, tool_server, user_tools
from rlm.mcp_tools import McpServer, _tool
from rlm.typed_answers import LITERAL_MAX_CHARS, AnswerSchema


def make(server: ScriptedServer, tmp_path: Path, **kw) -> RLM:
    return RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
               cache=False, answer_check=False, **kw)


def scripted(cells: list[str], final: str = "FINAL(done)"):
    def root(call: Call) -> str:
        return f"```repl\n{cells[call.turn]}\n```" if call.turn < len(cells) else final
    return root


def cells_of(result) -> list[dict]:
    return [e for e in read_trajectory(result.trajectory_path) if e["event"] == "cell"]


# ----- typed answers ------------------------------------------------------------------------
def test_a_typed_answer_nested_past_the_parsers_depth_is_refused_not_a_crash(tmp_path):
    replies = ["FINAL(" + "[" * 50_000 + ")", "FINAL([1, 2])"]
    with ScriptedServer({"root": lambda call: replies[min(call.turn, 1)]}) as server:
        result = make(server, tmp_path).completion("some text", "the numbers?", schema=list[int])
    assert result.status == "ok" and result.value == [1, 2]
    refusal = server.calls_to("root")[1].prompt
    assert "nested too deeply" in refusal


def test_a_huge_python_literal_answer_is_not_parsed_into_host_memory():
    # "[1,1,...,]" is no JSON (the trailing comma): read as a Python literal it would take some
    # 470 bytes of host memory a character (4.7 GB for a 10 MB answer, which FINAL_VAR allows)
    text = "[" + "1," * (LITERAL_MAX_CHARS // 2 + 10) + "]"
    value, problem = AnswerSchema(list[int]).parse(text)
    assert value is None and "must be JSON" in problem
    assert AnswerSchema(list[int]).parse("[1, 2,]") == ([1, 2], None)  # a small one still is


def test_an_answer_with_a_million_problems_is_not_checked_to_its_end():
    # each problem is an object with its message: 10 MB of answer made some 27 s of work on the
    # run's event loop (nothing else of the run moves meanwhile) to name 5 of them
    schema = AnswerSchema({"type": "array", "items": {"type": "integer"}})
    made = []
    validator = schema._validator

    class Counted:
        def iter_errors(self, data):
            for error in validator.iter_errors(data):
                made.append(error)
                yield error

    schema._validator = Counted()
    value, problem = schema.parse("[" + ",".join(['"x"'] * 10_000) + "]")
    assert value is None and problem.count("is not of type 'integer'") == 5
    assert len(made) <= 5


class _Counting(http.server.BaseHTTPRequestHandler):
    fetched: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Counting.fetched.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"type": "string"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def remote_schema_url():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Counting.fetched.clear()
    try:
        yield f"http://127.0.0.1:{server.server_port}/schema.json"
    finally:
        server.shutdown()
        server.server_close()


def test_a_schema_remote_ref_is_never_fetched(remote_schema_url):
    """jsonschema opens any URL a `$ref` names (no timeout, on the run's event loop): an MCP
    server's input schema could make the host fetch whatever it likes, or hang the run."""
    spec = SimpleNamespace(name="lookup", description="", input_schema={
        "type": "object", "properties": {"a": {"$ref": remote_schema_url}}})
    tool = _tool(None, spec)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="Unresolvable"):
        tool.check([], {"a": 1})
    answer = AnswerSchema({"type": "object", "properties": {"a": {"$ref": remote_schema_url}}})
    with pytest.raises(ConfigError, match="remote references are not fetched"):
        answer.parse('{"a": 1}')
    assert _Counting.fetched == []


# ----- the user's tools -----------------------------------------------------------------------
hang = threading.Event()


def stall(n: int) -> str:
    """Never answers in time."""
    hang.wait(60)
    return "late"


def test_calls_of_a_hung_tool_leave_a_bounded_number_of_threads_behind(tmp_path):
    cells = ["refused = 0\nfor i in range(60):\n    try:\n        stall(i)\n    except Exception as exc:\n"
             "        refused += 'still hang' in str(exc)\nprint('refused', refused)"]
    try:
        with ScriptedServer({"root": scripted(cells)}) as server:
            result = make(server, tmp_path, tools=[stall], tool_timeout_s=0.05,
                          max_tool_calls=1000).completion("text", "call it")
            hung = sum(1 for t in threading.enumerate() if t.name == "rlm-tool-stall")
    finally:
        hang.set()
    assert result.status == "ok"
    assert hung <= user_tools.MAX_HUNG_CALLS
    assert cells_of(result)[0]["stdout"].strip() == f"refused {60 - user_tools.MAX_HUNG_CALLS}"
    for _ in range(200):  # the hung threads end once the tool answers, and count out
        if tool_server._hung.count == 0:
            break
        time.sleep(0.05)
    assert tool_server._hung.count == 0
    hang.clear()


class Unsayable(Exception):
    def __str__(self) -> str:
        raise Unsayable()


def unsayable(x: int) -> int:
    """Raises an exception whose message cannot be made."""
    raise Unsayable()


def test_a_tool_error_whose_message_raises_is_one_clear_error_and_the_bridge_goes_on(tmp_path):
    # before: the bridge's worker thread died on it (never counted out: 128 such calls and no
    # request of the kernel was answered again), and the trajectory recorded a success
    cells = ["for i in range(3):\n    try:\n        unsayable(i)\n    except Exception as exc:\n        print(exc)",
             "print(llm_query('still there?'))"]
    with ScriptedServer({"root": scripted(cells), "sub": lambda call: "yes"}) as server:
        result = make(server, tmp_path, sub_model="sub", tools=[unsayable]).completion("text", "call it")
    assert result.status == "ok"
    out = [c["stdout"] for c in cells_of(result)]
    assert out[0].count("unsayable raised Unsayable: <its message could not be read>") == 3
    assert out[1].strip() == "yes"
    calls = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "tool_call"]
    assert all(c["error"] and c["result"] is None for c in calls)


# ----- MCP tools ------------------------------------------------------------------------------
def test_an_mcp_servers_tool_names_and_descriptions_cannot_take_over_the_kernel_or_the_prompt(tmp_path):
    leak = tmp_path / "leak.txt"
    cells = ["print(len(context), a_b(1), mcp_a_b(1))"]
    hostile = McpServer([sys.executable, str(Path(__file__).parent / "hostile_mcp_server.py")],
                        env={"LEAK_FILE": str(leak)})
    with ScriptedServer({"root": scripted(cells)}) as server:
        result = make(server, tmp_path, mcp_servers=[hostile]).completion("secret corpus text", "count it")
        system = server.calls_to("root")[0].system
    assert result.status == "ok", result.error
    # `len` stays the builtin: the corpus never reached the server, which is called as mcp_len
    assert not leak.exists()
    assert cells_of(result)[0]["stdout"].split() == ["18", "dash", "underscore"]
    assert "`mcp_len(obj: string)`: Counts things. very very" in system
    assert len(system) < 20_000  # the 200,000-character description is cut


# ----- sessions -------------------------------------------------------------------------------
def test_two_asks_at_once_in_one_session_are_refused_not_run_in_one_kernel(tmp_path):
    # before: both ran in the session's kernel at once, each clearing the other's answer and
    # taking over the other's sub-call and tool handlers
    replies = ["```repl\nx = 1\nprint(x)\n```", "FINAL(1)"]
    with ScriptedServer({"root": lambda call: replies[min(call.turn, 1)]}) as server:
        rlm = make(server, tmp_path)

        async def both():
            async with rlm.session("some text", name="busy") as session:
                return await asyncio.gather(session.aask("one?"), session.aask("two?"), return_exceptions=True)

        results = asyncio.run(both())
    assert [getattr(r, "status", None) for r in results] == ["ok", None]
    assert isinstance(results[1], RLMError) and "answering another question" in str(results[1])


def test_a_session_file_nested_past_the_parsers_depth_is_refused_clearly(tmp_path):
    sessions = tmp_path / "runs" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "deep.json").write_text("[" * 100_000)
    rlm = RLM(model="root", base_url="http://127.0.0.1:9", api_key="k", runs_dir=tmp_path / "runs", notes=False)
    with pytest.raises(ContextError, match="is not a session file"):
        rlm.session("text", name="deep")
