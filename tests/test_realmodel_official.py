"""The official RLM library as the bench's anchor: it runs in its own environment through a
real OpenAI-protocol server that, like llama.cpp, refuses two assistant messages in a row."""

from __future__ import annotations

import subprocess

import pytest
from scripted_server import Call, Fault, ScriptedServer

from benchmarks.real_model.official import ensure_env, run_official
from evals.tasks import Task


@pytest.fixture(scope="module")
def official_env():
    try:
        return ensure_env()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"the official library could not be installed from the registry: {exc}")


def like_llama_cpp(call: Call):
    roles = [m["role"] for m in call.messages]
    if roles[-2:] == ["assistant", "assistant"]:
        return Fault(400, '{"error": {"message": "Cannot have 2 or more assistant messages at the end of the list"}}')
    said = [m["content"] for m in call.messages if m["role"] == "assistant"]
    if not said:
        return "Let me think about the context first."  # no code: the library then sends two in a row
    if len(said) == 1:
        return "```repl\nprint(len(context))\n```"
    return "```repl\nanswer['content'] = '42'\nanswer['ready'] = True\n```"  # how this library finishes


@pytest.mark.timeout(300)
def test_the_official_library_answers_through_a_server_that_refuses_two_assistant_messages(official_env, tmp_path):
    task = Task(id="t", suite="realmodel", variant="v", length=10, chars=40, question="What is the answer?",
                gold="42", context="the answer to everything is forty-two\n")
    with ScriptedServer({"root": like_llama_cpp}) as server:
        out = run_official(task, tmp_path, base_url=server.url, model="root", api_key="k", max_iterations=5,
                           timeout_s=240, log_dir=tmp_path / "log")
        calls = server.calls_to("root")
    rejected = [c for c in calls if [m["role"] for m in c.messages][-2:] == ["assistant", "assistant"]]
    assert out.status == "ok", out.error
    assert out.answer == "42" and rejected == []
    assert out.turns == 3 and out.prompt_tokens > 0
    # the cell's output (the context's length) came back to the model
    assert any(str(len(task.context)) in m["content"] for m in calls[-1].messages if m["role"] == "user")
    logs = list((tmp_path / "log").glob("official_*.jsonl"))  # the library's own log, kept
    assert len(logs) == 1 and '"type": "iteration"' in logs[0].read_text()


@pytest.mark.timeout(300)
def test_a_run_that_never_sets_the_answer_ends_on_the_turn_limit_with_the_librarys_last_answer(official_env,
                                                                                            tmp_path):
    task = Task(id="t", suite="realmodel", variant="v", length=10, chars=40, question="What is the answer?",
                gold="42", context="the answer to everything is forty-two\n")

    def never_done(call: Call):
        if call.messages[-1]["content"].startswith("Please provide a final answer"):
            return "It is 42."  # the library's extra call once its turns are spent
        return "```repl\nprint(context[:10])\n```"

    with ScriptedServer({"root": never_done}) as server:
        out = run_official(task, tmp_path, base_url=server.url, model="root", api_key="k", max_iterations=2,
                           timeout_s=240)
        calls = len(server.calls_to("root"))
    assert (out.status, out.answer, out.turns, calls) == ("max_iterations", "It is 42.", 2, 3), out.error
