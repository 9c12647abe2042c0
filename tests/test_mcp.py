"""`rlm mcp` as an agent uses it: the official `mcp` SDK's own client starts the server over stdio,
lists its tools and asks questions; the model is the scripted server."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from conftest import REPO, cli_env
from scripted_server import Call, ScriptedServer

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

from rlm.errors import ConfigError  # noqa: E402
from rlm.frontends.mcp_server import PathRefused, Roots  # noqa: E402

FIND_FAILURE = (
    "Looking for the failure.\n```repl\nhits = [d.path for d in docs if 'FAILED' in d.text]\n"
    "why = llm_query('Say why in five words: ' + [d.text for d in docs if 'FAILED' in d.text][0])\n"
    "found = hits[0].split('/')[-1] + ': ' + why\ncite(re.search(r'db FAILED: [a-z ]+', context))\nprint(found)\n```"
)

ONE_FILE = "```repl\nfound = 'db.log: ' + llm_query('Say why in five words: ' + context)\nprint(found)\n```"


def model(call: Call) -> str:
    if not call.is_root:  # an llm_query
        return "the disk was full" if "disk full" in call.prompt else "no idea"
    if "leave notes for future runs" in call.prompt:
        return "```repl\nremember('The failing service logs FAILED lines; check them first.', 'found it')\n```"
    first = FIND_FAILURE if "docs" in call.system else ONE_FILE  # a directory, or one file
    return [first, "FINAL_VAR(found)"][min(call.turn, 1)]


@pytest.fixture
def corpus(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "api.log").write_text("10:00 api started\n10:05 api ok\n")
    (logs / "db.log").write_text("10:00 db started\n10:04 db FAILED: disk full\n")
    (logs / "web.log").write_text("10:00 web started\n")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_text("the private key\n")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "notes.txt").write_text("public\n")
    os.symlink(outside / "secret.txt", linked / "sneaky.txt")
    return tmp_path


def test_the_mcp_client_lists_the_tools_and_gets_the_answer(corpus):
    with ScriptedServer({"root": model}) as server:
        env = cli_env(corpus / "home", key="test-key")
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "cli", "mcp", "--root", str(corpus / "logs"), "--root", str(corpus / "linked"),
                  "--model", "root", "--base-url", server.url, "--max-iterations", "6"],
            env=env, cwd=str(REPO))
        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))

        async def session_run() -> dict:
            out: dict = {}
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                out["tools"] = {t.name: t for t in (await session.list_tools()).tools}
                out["answer"] = await session.call_tool(
                    "query", {"paths": [str(corpus / "logs")], "question": "Which service failed, and why?"},
                    progress_callback=on_progress)
                out["relative"] = await session.call_tool("query", {"paths": ["db.log"], "question": "Why?",
                                                                    "max_iterations": 50})
                for name, path in (("outside", str(corpus / "private" / "secret.txt")),
                                   ("dotdot", "../private/secret.txt"),
                                   ("dotdot_abs", str(corpus / "logs" / ".." / "private" / "secret.txt")),
                                   ("link_dir", str(corpus / "linked")),
                                   ("link_file", str(corpus / "linked" / "sneaky.txt"))):
                    out[name] = await session.call_tool("query", {"paths": [path], "question": "What is in it?"})
                run_id = json.loads(out["answer"].content[0].text)["run_id"]
                out["show"] = await session.call_tool("runs_show", {"run_id": run_id})
                out["list"] = await session.call_tool("runs_list", {"n": 5})
                out["notes"] = await session.call_tool("notes_list", {"path": str(corpus / "logs")})
                out["search"] = await session.call_tool("notes_search", {"query": "FAILED lines"})
            return out

        out = asyncio.run(asyncio.wait_for(session_run(), 240))
    assert {"query", "notes_list", "notes_search", "runs_list", "runs_show"} <= set(out["tools"])
    assert "question" in out["tools"]["query"].input_schema["properties"]

    result = out["answer"]
    assert not result.is_error, result.content
    data = json.loads(result.content[0].text)
    assert data["answer"] == "db.log: the disk was full" and data["status"] == "ok"
    assert data["cost_usd"] is None and data["run_id"] and data["iterations"] == 2 and data["sub_calls"] == 1
    [evidence] = data["evidence"]  # the cited line, checked against the file
    assert (evidence["document"], evidence["lines"], evidence["quote"]) == ("db.log", [2, 2], "db FAILED: disk full")
    assert progress and progress[-1][2].startswith("ok") and "sub-calls" in " ".join(m or "" for _, _, m in progress)
    assert [p for p, _, _ in progress] == sorted({p for p, _, _ in progress})  # strictly increasing

    relative = json.loads(out["relative"].content[0].text)  # relative to the first root; the ceiling holds
    assert relative["status"] == "ok" and relative["answer"] == "db.log: the disk was full"

    for name, why in (("outside", "outside the directories"), ("dotdot", "'..' is not allowed"),
                      ("dotdot_abs", "'..' is not allowed"), ("link_dir", "links outside"),
                      ("link_file", "outside the directories")):
        refused = out[name]
        assert refused.is_error and why in refused.content[0].text, (name, refused.content)
    # two runs of two turns and a notes turn; nothing for the refused ones
    assert len([c for c in server.calls_to("root") if c.is_root]) == 2 * 3

    shown = json.loads(out["show"].content[0].text)
    assert shown["status"] == "ok" and shown["answer"] == data["answer"]
    assert "'FAILED' in d.text" in shown["turns"][0]["cells"][0]["code"] and shown["turns"][0]["cells"][0]["sub_calls"] == 1
    listed = out["list"].structured_content["result"]  # a list comes structured as {"result": [...]}
    assert data["run_id"] in [r["run_id"] for r in listed]
    notes = out["notes"].structured_content["result"]
    assert any("FAILED lines" in n["text"] for n in notes)
    found = out["search"].structured_content["result"]
    assert found and "FAILED" in found[0]["text"]


def test_roots_refuse_what_is_outside(tmp_path):
    inside = tmp_path / "in"
    (inside / "sub").mkdir(parents=True)
    (inside / "sub" / "a.txt").write_text("a\n")
    (tmp_path / "out.txt").write_text("x\n")
    os.symlink(tmp_path, inside / "up")  # a link to a directory above the root
    roots = Roots([inside])
    assert roots.resolve("sub/a.txt") == (inside / "sub" / "a.txt").resolve()
    assert roots.resolve(str(inside / "sub")) == (inside / "sub").resolve()
    for raw, why in (("up/out.txt", "outside"), (str(tmp_path / "out.txt"), "outside"), ("sub/../../out.txt", "'..'"),
                     ("missing.txt", "no such file"), ("", "empty"), (str(inside), "links outside"),
                     ("/etc/passwd", "outside")):
        with pytest.raises(PathRefused, match=why):
            roots.resolve(raw)
    with pytest.raises(ConfigError):
        Roots([tmp_path / "nope"])
    with pytest.raises(ConfigError):
        Roots([])


def test_the_server_will_not_start_without_a_root_or_with_a_bad_setting(tmp_path):
    import subprocess

    env = cli_env(tmp_path / "home")
    r = subprocess.run([sys.executable, "-m", "cli", "mcp", "--root", str(tmp_path / "missing"), "-m", "x"],
                       capture_output=True, env=env, timeout=60, stdin=subprocess.DEVNULL, cwd=REPO)
    assert r.returncode == 1 and "not a directory" in r.stderr.decode()
    r = subprocess.run([sys.executable, "-m", "cli", "mcp", "-m", "x"], capture_output=True, env=env, timeout=60,
                       stdin=subprocess.DEVNULL, cwd=REPO)
    assert r.returncode == 2 and "--root" in r.stderr.decode()


def session_model(call: Call) -> str:
    """Finds the failing file and keeps it in `failed`; a later question reuses it."""
    if not call.is_root:
        return "the disk was full"
    first = call.messages[1]["content"]
    if "Earlier question 1" in first:
        return ["```repl\nprint(failed)\n```", "FINAL_VAR(failed)"][min(call.turn, 1)]
    return ["```repl\nfailed = [d.path.split('/')[-1] for d in docs if 'FAILED' in d.text][0]\nprint(failed)\n```",
            "FINAL_VAR(failed)"][min(call.turn, 1)]


def test_an_agent_opens_a_session_asks_twice_and_closes_it(corpus):
    with ScriptedServer({"root": session_model}) as server:
        env = cli_env(corpus / "home", key="test-key")
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "cli", "mcp", "--root", str(corpus / "logs"), "--model", "root", "--base-url", server.url,
                  "--no-notes"], env=env, cwd=str(REPO))

        async def agent() -> dict:
            out: dict = {}
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                opened = await session.call_tool("session_open", {"paths": [str(corpus / "logs")], "name": "inc"})
                sid = json.loads(opened.content[0].text)["session_id"]
                out["one"] = await session.call_tool("session_ask", {"session_id": sid, "question": "Which failed?"})
                out["two"] = await session.call_tool("session_ask", {"session_id": sid, "question": "Again: which?"})
                out["outside"] = await session.call_tool("session_open", {"paths": [str(corpus / "private")]})
                out["close"] = await session.call_tool("session_close", {"session_id": sid})
                out["after"] = await session.call_tool("session_ask", {"session_id": sid, "question": "Still?"})
                reopened = await session.call_tool("session_open", {"paths": [str(corpus / "logs")], "name": "inc"})
                out["reopened"] = json.loads(reopened.content[0].text)
            return out

        out = asyncio.run(asyncio.wait_for(agent(), 240))
        second_first = [c for c in server.calls_to("root") if "Again: which?" in c.messages[1]["content"]][0]
    assert json.loads(out["one"].content[0].text)["answer"] == "db.log"
    assert json.loads(out["two"].content[0].text)["answer"] == "db.log"
    assert "Earlier question 1: Which failed?" in second_first.messages[1]["content"]
    assert out["outside"].is_error and "outside the directories" in out["outside"].content[0].text
    assert json.loads(out["close"].content[0].text) == {"closed": "inc", "asks": 2}
    assert out["after"].is_error and "no open session" in out["after"].content[0].text
    assert [a["question"] for a in out["reopened"]["asks"]] == ["Which failed?", "Again: which?"]
