"""Sessions: several asks over one context in one kernel, against a real kernel and the scripted
server; the session saved, reopened by name (its kernel rebuilt by replay), locked, and refused
over other data."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest
from conftest import cli_env
from scripted_server import Call, ScriptedServer

from rlm import RLM, ConfigError, ContextError, read_trajectory

TEXT = "".join(f"line {i} {'ERROR disk' if i % 7 == 0 else 'ok'}\n" for i in range(700))
ERRORS = sum(1 for i in range(700) if i % 7 == 0)


def question_of(call: Call) -> str:
    first = call.messages[1]["content"]
    return first.split("Question: ", 1)[1].split("\n", 1)[0]


def analyst(call: Call) -> str:
    """Explores when it has nothing (two turns), reuses `errors` when the kernel holds it."""
    if not call.is_root:
        return "sub"
    q, turn = question_of(call), call.turn
    if "Stop:" in call.prompt:
        return "FINAL(no answer)"
    if q.startswith("how many errors"):
        return ["```repl\nerrors = [l for l in context.splitlines() if 'ERROR' in l]\nprint(len(errors))\n```",
                f"FINAL({ERRORS})"][min(turn, 1)]
    if q.startswith("first error"):
        if "errors" in call.prompt and "Earlier question 1" in call.messages[1]["content"]:
            return ["```repl\nfirst = errors[0]\nprint(first)\n```", "FINAL(line 0 ERROR disk)"][min(turn, 1)]
        return "```repl\nprint(errors[0])\n```" if turn == 0 else "FINAL(unknown)"
    return "FINAL(?)"


def make(server: ScriptedServer, tmp_path, **kw) -> RLM:
    return RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
               cache=False, answer_check=False, **kw)


def events(result, kind: str) -> list[dict]:
    return [e for e in read_trajectory(result.trajectory_path) if e["event"] == kind]


def test_a_second_ask_reuses_the_kernel_its_variables_and_names_the_first_answer(tmp_path):
    with ScriptedServer({"root": analyst}) as server:
        with make(server, tmp_path).session(TEXT, name="logs") as session:
            one = session.ask("how many errors are there?")
            two = session.ask("first error line?")
            names = {v.name for v in session.variables()}
        calls = server.calls_to("root")
    assert one.answer == str(ERRORS) and two.answer == "line 0 ERROR disk", (one.answer, two.answer)
    assert {"errors", "first"} <= names
    first_load, second_load = events(one, "context_loaded")[0], events(two, "context_loaded")[0]
    assert not first_load.get("reused") and second_load["reused"] is True
    assert second_load["load_s"] < first_load["load_s"]
    start = events(two, "run_start")[0]
    assert start["session"] == {"id": "logs", "ask": 2, "earlier_run_ids": [one.run_id], "replayed": 0}
    second_first_prompt = [c for c in calls if question_of(c).startswith("first error")][0].messages[1]["content"]
    assert "Earlier question 1: how many errors are there?" in second_first_prompt
    assert f"Its answer: {ERRORS}" in second_first_prompt
    assert session.closed and session.variables() == []
    with pytest.raises(Exception, match="closed"):
        session.ask("again?")


def test_a_session_reopened_by_name_replays_its_asks_without_asking_the_model(tmp_path):
    with ScriptedServer({"root": analyst}) as server:
        with make(server, tmp_path).session(TEXT, name="audit") as s:
            s.ask("how many errors are there?")
        root_calls = len(server.calls_to("root"))
        # a new RLM (a new process would do the same): the saved session, its context found again
        with make(server, tmp_path).session(name="audit") as again:
            assert [a.question for a in again.asks] == ["how many errors are there?"]
            two = again.ask("first error line?")
            names = {v.name for v in again.variables()}
        # the replay asked the model nothing: only the new ask's two turns
        assert len(server.calls_to("root")) == root_calls + 2
    assert two.answer == "line 0 ERROR disk" and "errors" in names
    assert events(two, "context_loaded")[0]["reused"] is True  # loaded once, by the replay
    assert events(two, "run_start")[0]["session"]["replayed"] == 1


def test_a_session_is_refused_over_other_data_and_while_open_elsewhere(tmp_path):
    with ScriptedServer({"root": analyst}) as server:
        rlm = make(server, tmp_path)
        with rlm.session(TEXT, name="one") as s:
            with pytest.raises(ConfigError, match="open in another process"):
                rlm.session(TEXT, name="one")
            s.ask("how many errors are there?")
        with pytest.raises(ContextError, match="other data"):
            rlm.session(TEXT + "more\n", name="one")
        with pytest.raises(ContextError, match="pass the context"):
            rlm.session(name="never-asked")
        with pytest.raises(ConfigError, match="session name"):
            rlm.session(TEXT, name="../escape")


def test_sessions_work_from_async_code(tmp_path):
    async def main(server):
        async with make(server, tmp_path).session(TEXT) as s:
            one = await s.aask("how many errors are there?")
            two = await s.aask("first error line?")
            return one, two, s.name

    with ScriptedServer({"root": analyst}) as server:
        one, two, name = asyncio.run(main(server))
    assert (one.answer, two.answer) == (str(ERRORS), "line 0 ERROR disk")
    assert name.startswith("session-") and (tmp_path / "runs" / "sessions" / f"{name}.json").exists()


def test_a_cancelled_ask_leaves_a_session_that_replays_into_a_new_kernel(tmp_path):
    release = threading.Event()

    def slow(call: Call) -> str:
        if question_of(call).startswith("hang"):
            return "```repl\nwhile True:\n    pass\n```"
        return analyst(call)

    async def main(server):
        async with make(server, tmp_path).session(TEXT) as s:
            await s.aask("how many errors are there?")
            task = asyncio.ensure_future(s.aask("hang please"))
            await asyncio.sleep(3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            release.set()
            return await s.aask("first error line?")

    with ScriptedServer({"root": slow}) as server:
        two = asyncio.run(main(server))
    assert two.answer == "line 0 ERROR disk"
    # a new kernel: the first ask ran again; of the cancelled one, nothing (its one cell was stopped)
    assert events(two, "run_start")[0]["session"]["replayed"] == 1


# ----- the command line ------------------------------------------------------------------
def rlm_cli(tmp_path, server, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = cli_env(tmp_path / "home", key="k")
    base = ["-m", "root", "--base-url", server.url, "--no-notes", "--no-cache"]
    return subprocess.run([sys.executable, "-m", "cli", *args, *base], cwd=tmp_path, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_rlm_chat_asks_line_by_line_and_rlm_query_continues_its_session(tmp_path):
    (tmp_path / "app.log").write_text(TEXT)
    with ScriptedServer({"root": analyst}) as server:
        chat = rlm_cli(tmp_path, server, "chat", "app.log", "--session", "inc",
                       stdin="how many errors are there?\n/vars\n/cost\nfirst error line?\n/history\n"
                             "/save notes.md\n/nope\n/quit\nnever asked\n")
        assert chat.returncode == 0, chat.stderr
        assert chat.stdout.splitlines() == [str(ERRORS), "line 0 ERROR disk"]
        assert "errors  list  100" in chat.stderr and "2 asks in this chat" not in chat.stderr
        assert "1 asks in this chat" in chat.stderr and "unknown command /nope" in chat.stderr
        assert "2. first error line?  ->  line 0 ERROR disk" in chat.stderr
        saved = (tmp_path / "notes.md").read_text()
        assert "## 1. how many errors are there?" in saved and "line 0 ERROR disk" in saved
        assert not any("never asked" in c.prompt for c in server.calls_to("root"))
        # a script goes on in the same session from another process: replayed, then asked
        before = len(server.calls_to("root"))
        again = rlm_cli(tmp_path, server, "query", "app.log", "-q", "first error line?", "--session", "inc", "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["answer"] == "line 0 ERROR disk"
        # the replay asked the model nothing: the two calls are the new question's two turns
        assert [(c.turn, question_of(c)) for c in server.calls_to("root")[before:]] == [
            (0, "first error line?"), (1, "first error line?")]
        prompt = server.calls_to("root")[-1].messages[1]["content"]
        assert "Earlier question 2: first error line?" in prompt
        # other files under the same session name are refused; no files and no session is a usage error
        (tmp_path / "other.log").write_text("x\n")
        other = rlm_cli(tmp_path, server, "query", "other.log", "-q", "q?", "--session", "inc")
        assert other.returncode == 1 and "other data" in other.stderr
        assert rlm_cli(tmp_path, server, "chat").returncode == 2


def test_a_reopened_session_whose_trajectories_are_gone_says_its_variables_are_gone(tmp_path):
    with ScriptedServer({"root": analyst}) as server:
        with make(server, tmp_path).session(TEXT, name="lost") as s:
            one = s.ask("how many errors are there?")
        one.trajectory_path.unlink()
        with make(server, tmp_path).session(TEXT, name="lost") as again:
            two = again.ask("first error line?")
        prompt = [c for c in server.calls_to("root") if question_of(c).startswith("first error")][0].messages[1]
    assert "The kernel was restarted and the variables of 1 of them are gone" in prompt["content"]
    assert "Its answer: 100" in prompt["content"] and two.status == "ok"


def test_a_reopened_session_replays_only_up_to_a_cell_that_ran_out_of_time(tmp_path):
    """The ask's cells before the timed-out one run again; that one (it would cost the cell
    timeout on every reopen) and those after it (they ran on what was left) do not."""
    replies = ["```repl\nkept = 1\nprint(kept)\n```", "```repl\nwhile True:\n    pass\n```",
               "```repl\nafter = 2\nprint(after)\n```", "FINAL(2)"]

    def root(call: Call) -> str:
        if question_of(call).startswith("look"):
            return ["```repl\nprint(sorted(k for k in globals() if k in ('kept', 'after')))\n```", "FINAL(x)"][
                min(call.turn, 1)]
        return replies[min(call.turn, 3)]

    from sandbox import SandboxConfig

    with ScriptedServer({"root": root}) as server:
        rlm = make(server, tmp_path, sandbox=SandboxConfig(cell_timeout_s=2))
        with rlm.session(TEXT, name="slow") as s:
            first = s.ask("spin then answer")
        assert [e["timed_out"] for e in events(first, "cell")] == [False, True, False]
        with make(server, tmp_path, sandbox=SandboxConfig(cell_timeout_s=2)).session(name="slow") as again:
            look = again.ask("look at what is defined")
            names = {v.name for v in again.variables()}
    assert "kept" in names and "after" not in names
    assert events(look, "run_start")[0]["session"]["replayed"] == 1
