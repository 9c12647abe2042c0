"""The loop holds for models that go astray (failure modes seen with a real 1.5B model): each
test scripts the mistake through a real OpenAI-protocol server, runs it in a real kernel, and
checks what the run did and what the model was told next."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from scripted_server import Call, Handler, ScriptedServer, script

from rlm import RLM, read_trajectory
from rlm.model_window import chars_for_tokens, server_window_tokens
from rlm.prompts import example_literals
from rlm.protocol import parse_reply


@pytest.fixture
def make_rlm(tmp_path):
    def make(server: ScriptedServer, **settings):
        settings.setdefault("model", "root")
        settings.setdefault("sub_model", "sub")
        settings.setdefault("notes", False)
        settings.setdefault("max_iterations", 6)
        return RLM(base_url=server.url, api_key="test-key", runs_dir=tmp_path / "runs", **settings)

    return make


def events(result, kind):
    return [e for e in read_trajectory(result.trajectory_path) if e["event"] == kind]


READING = "You answer a question from a few lines"  # the system prompt of a fresh reading's call


def prompt_of(server: ScriptedServer, turn: int) -> str:
    """The prompt of the root model's call `turn` (from 0), fresh readings left out."""
    return [c.prompt for c in server.calls_to("root") if not c.system.startswith(READING)][turn]


def reading_prompts(server: ScriptedServer) -> list[str]:
    return [c.prompt for c in server.calls_to("root") if c.system.startswith(READING)]


# ----- the model's stand-ins for the data -------------------------------------------------
def test_a_cell_that_replaces_context_is_refused_and_the_real_one_stays(make_rlm):
    fake = "```repl\ncontext = 'ERROR a\\nERROR b'\nprint(context.count('ERROR'))\n```"
    real = "```repl\nn = context.count('ERROR')\nprint(n)\n```"
    with ScriptedServer({"root": script(fake, real, "FINAL_VAR(n)")}) as server:
        result = make_rlm(server).completion("ERROR x\nINFO y\nERROR z\nERROR w", "How many ERROR?")
        told = prompt_of(server, 1)
    cells = events(result, "cell")
    assert cells[0]["error"].startswith("ProtectedName") and cells[0]["stdout"] == ""
    assert "`context`" in told and "was not run" in told
    assert result.answer == "3" and result.status == "ok"


def test_defining_a_helper_of_the_same_name_is_refused(make_rlm):
    bad = "```repl\ndef llm_query(p):\n    return 'made up'\nprint(llm_query('q'))\n```"
    with ScriptedServer({"root": script(bad, "FINAL(x)"), "sub": lambda c: "real"}) as server:
        result = make_rlm(server, max_iterations=2).completion("abc", "q?")
    assert "ProtectedName" in events(result, "cell")[0]["error"] and "llm_query" in events(result, "cell")[0]["error"]


# ----- final answers ------------------------------------------------------------------------
def test_final_var_of_the_unready_answer_dict_is_refused(make_rlm):
    with ScriptedServer({"root": script("```repl\nx = len(context)\nprint(x)\n```", "FINAL_VAR(answer)",
                                        "FINAL_VAR(x)")}) as server:
        result = make_rlm(server).completion("abcd", "length?")
        told = prompt_of(server, 2)
    assert result.answer == "4" and result.status == "ok"
    assert "answer['content'] is None" in told
    assert events(result, "final_refused")[0]["reason"] == "FINAL_VAR(answer) with no content"


def test_final_var_of_the_unready_answer_dict_in_code_fails_the_cell(make_rlm):
    with ScriptedServer({"root": script("```repl\nFINAL_VAR(answer)\n```", "FINAL(done)")}) as server:
        result = make_rlm(server, max_iterations=2).completion("abcd", "q?")
    assert "holds no content yet" in events(result, "cell")[0]["error"]
    assert result.answer != "{'content': None, 'ready': False}"


def test_final_of_the_answer_dict_in_code_gives_its_content_not_the_dict(make_rlm):
    # a real model's cell: the answer set, then FINAL(answer) printed (it ended with the dict's repr)
    code = "```repl\nn = len(context)\nprint(n)\nanswer['content'] = str(n)\nanswer['ready'] = True\nprint(FINAL(answer))\n```"
    with ScriptedServer({"root": script(code, "FINAL(4)")}) as server:
        result = make_rlm(server, max_iterations=2).completion("abcd", "length?")
    assert result.answer == "4"
    with ScriptedServer({"root": script("```repl\nFINAL(answer)\n```", "FINAL(done)")}) as server:
        result = make_rlm(server, max_iterations=2).completion("abcd", "q?")
    assert "holds no content yet" in events(result, "cell")[0]["error"]


# FinalVar(n), alone in a reply, was run as Python by the loop six turns running (NameError: FinalVar)
@pytest.mark.parametrize("marker", ["Final_VAR(n)", "final_var(n)", "**FINAL_VAR(n)**", "`FINAL_VAR(n)`", "FinalVar(n)",
                                    "```repl\nFinalVar(n)\n```", "FINALVAR(n)"])
def test_final_markers_are_recognised_whatever_their_case(make_rlm, marker):
    with ScriptedServer({"root": script("```repl\nn = len(context)\nprint(n)\n```", marker)}) as server:
        result = make_rlm(server).completion("abcdefg", "length?")
    assert (result.answer, result.status, result.iterations) == ("7", "ok", 2)


def test_an_answer_nothing_supports_is_questioned_once_then_taken(make_rlm):
    with ScriptedServer({"root": script("FINAL(poor server performance)")}) as server:
        result = make_rlm(server).completion("the disk filled up at 03:00", "why?")
        told = prompt_of(server, 1)
    assert "was not accepted yet" in told and "nothing you have seen so far shows it" in told
    assert result.answer == "poor server performance" and result.iterations == 2
    assert len(events(result, "final_refused")) == 1


def test_an_answer_set_in_the_cell_that_computed_it_is_questioned(make_rlm):
    same_step = "```repl\nimport re\nanswer['content'] = str(len(re.findall('nothing', context)))\nanswer['ready'] = True\n```"
    looked = "```repl\nprint(len(re.findall('ERROR', context)))\n```"
    with ScriptedServer({"root": script(same_step, looked, "FINAL(2)")}) as server:
        result = make_rlm(server).completion("ERROR a\nERROR b", "How many ERROR lines?")
        told = prompt_of(server, 1)
    assert "in the same step that computed it" in told
    assert result.answer == "2"


def test_a_sub_models_refusal_is_never_the_answer(make_rlm):
    root = script("```repl\nr = llm_query('What is the cause? Read this: ' + context * 20)\nprint(r)\n```",
                  "FINAL_VAR(r)", "```repl\nprint(context)\n```", "FINAL(disk full)")
    refusal = "I'm sorry, but I need more context to answer. Please provide the text."
    with ScriptedServer({"root": root, "sub": lambda c: refusal}) as server:
        result = make_rlm(server).completion("cause: disk full. ", "What was the cause?")
        told = [prompt_of(server, t) for t in (1, 2)]
    assert "declined or asked for data" in told[0]
    assert "is a sub-model's reply that declined" in told[1]
    assert result.answer == "disk full"


def test_answer_check_false_takes_every_answer(make_rlm):
    with ScriptedServer({"root": script("FINAL(unsupported)")}) as server:
        result = make_rlm(server, answer_check=False).completion("abc", "q?")
    assert (result.answer, result.iterations) == ("unsupported", 1)


def test_a_plain_answer_said_twice_and_shown_by_the_data_is_taken(make_rlm):
    with ScriptedServer({"root": script("```repl\nprint(context.count('x'))\n```", "The answer is 3.")}) as server:
        result = make_rlm(server).completion("x x x", "how many x?")
        told = prompt_of(server, 2)
    assert "without FINAL(...)" in told
    assert (result.answer, result.status, result.iterations) == ("The answer is 3.", "ok", 3)


def test_a_plain_answer_nothing_shows_is_not_taken(make_rlm):
    with ScriptedServer({"root": script("```repl\nprint(context.count('x'))\n```", "The answer is 12.")}) as server:
        result = make_rlm(server, max_iterations=4).completion("x x x", "how many x?")
    assert result.status == "max_iterations"


def test_at_the_last_turn_a_plainly_stated_answer_is_kept(make_rlm):
    def root(call: Call) -> str:
        if "No more code will run" in call.prompt:
            return "The outage was caused by a full disk."
        return "```repl\nprint(context[:50])\n```"

    with ScriptedServer({"root": root}) as server:
        result = make_rlm(server, max_iterations=2).completion("disk full at 03:00", "why?")
    assert result.status == "max_iterations" and result.answer == "The outage was caused by a full disk."


# ----- cells ------------------------------------------------------------------------------------
def test_a_cell_repeated_with_the_same_error_is_answered_with_that_fact(make_rlm):
    failing = "```repl\nrows = context.split(',')\ntotal = sum(r['amount'] for r in rows)\n```"
    with ScriptedServer({"root": script(failing, failing, "FINAL(x)")}) as server:
        result = make_rlm(server, max_iterations=3).completion("1,2,3", "sum?")
        first, second = prompt_of(server, 1), prompt_of(server, 2)
    assert "code you already ran" not in first
    assert "code you already ran, and it failed with the same error again" in second
    assert events(result, "loop_check")[0]["check"] == "repeated_cell"


def test_blocks_after_a_failing_block_are_not_run(make_rlm):
    reply = "```repl\nx = undefined_name\n```\n```repl\nprint('after')\n```"
    with ScriptedServer({"root": script(reply, "FINAL(x)")}) as server:
        result = make_rlm(server, max_iterations=2).completion("abc", "q?")
        told = prompt_of(server, 1)
    cells = [c for c in events(result, "cell") if c["turn"] == 1]
    assert len(cells) == 1 and "The code block after the failing one was not run" in told


def test_text_after_code_that_invents_its_output_is_dropped(make_rlm):
    reply = "```repl\nprint(len(context))\n```\nOutput:\n```\n999\n```\nSo the answer is 999."
    with ScriptedServer({"root": script(reply, "FINAL(3)")}) as server:
        make_rlm(server, max_iterations=3).completion("abc", "length?")
        second = server.calls_to("root")[1]
    kept = second.messages[2]["content"]
    assert "999" not in kept and kept.rstrip().endswith("```")
    assert "showed output before the code had run" in second.prompt


def test_code_without_a_fence_is_run():
    reply = parse_reply('llm_query("Why did the outage happen?")')
    assert reply.code == ['llm_query("Why did the outage happen?")\n'] and reply.untagged == 1
    assert parse_reply("The answer is 5.").code == [] and parse_reply("42").code == []
    assert parse_reply("Let me look.\nprint(1)").code == []


# ----- sub-calls ----------------------------------------------------------------------------------
def test_a_sub_call_of_a_bare_chunk_is_refused_in_the_kernel(make_rlm):
    text = "".join(f"record {i}: amount {i * 3}\n" for i in range(200))
    with ScriptedServer({"root": script("```repl\nr = llm_query(context[:2000])\n```", "FINAL(x)"),
                         "sub": lambda c: "invented"}) as server:
        result = make_rlm(server, max_iterations=2).completion(text, "total?")
        subs = server.calls_to("sub")
    assert subs == []
    assert "only text copied from `context`" in events(result, "cell")[0]["error"]


def test_a_sub_call_with_no_data_is_flagged(make_rlm):
    """A short prompt built from data (a line) is sent, with a note that it is short."""
    code = "```repl\nr = llm_query('What is the total amount? ' + context.splitlines()[0])\nprint(r)\n```"
    with ScriptedServer({"root": script(code, "FINAL(x)"), "sub": lambda c: "1234"}) as server:
        make_rlm(server, max_iterations=2).completion("amount 5\namount 6", "total?")
        told = prompt_of(server, 1)
        assert len(server.calls_to("sub")) == 1
    assert "fewer than 200 characters (the longest: 34)" in told and "never `context`" in told


@pytest.mark.parametrize("call", ["llm_query('What is the total amount?')",
                                  "llm_query(f'What is the total amount?')",
                                  "llm_query_batched(['What is the total?', 'Count the ERROR lines.'])[0]"])
def test_a_sub_call_whose_prompt_is_written_whole_in_the_code_is_not_sent_once_told(make_rlm, call):
    """The real model sent `llm_query("SELECT COUNT(*) FROM logs WHERE level = 'ERROR'")` after
    counting right, then such prompts turn after turn, and answered with what the sub-model made
    up about an order of the worked example: a prompt of the model's own words alone is a
    guess; the first is sent with the note, later ones are refused before they are sent."""
    code = f"```repl\nr = {call}\nprint(r)\n```"
    with ScriptedServer({"root": script(code, code, "FINAL(x)"), "sub": lambda c: "1234"}) as server:
        result = make_rlm(server, max_iterations=3).completion("amount 5\namount 6", "total?")
        sent = len(server.calls_to("sub"))
        told = prompt_of(server, 1)
    assert sent == (2 if "batched" in call else 1) and "fewer than 200 characters" in told
    first, second = events(result, "cell")[:2]
    assert first["error"] is None
    assert "nothing was sent" in second["error"] and "is a string written in your code" in second["error"]
    assert [e["check"] for e in events(result, "loop_check") if e["check"] == "written_sub_prompt"]


def test_answer_check_false_sends_a_written_prompt(make_rlm):
    code = "```repl\nr = llm_query('hi')\n```"
    again = "```repl\nr = llm_query('hi there')\n```"
    with ScriptedServer({"root": script(code, again, "FINAL_VAR(r)"), "sub": lambda c: "hello"}) as server:
        result = make_rlm(server, answer_check=False).completion("amount 5", "greet?")
        assert len(server.calls_to("sub")) == 2
    assert result.answer == "hello"


def test_the_sub_window_is_stated_and_a_longer_prompt_is_refused(make_rlm):
    code = "```repl\nr = llm_query('Summarise: ' + context)\n```"
    with ScriptedServer({"root": script(code, "FINAL(x)"), "sub": lambda c: "ok"}) as server:
        result = make_rlm(server, max_iterations=2, sub_window_chars=5000).completion("y" * 8000, "q?")
        system = server.calls_to("root")[0].system
        subs = server.calls_to("sub")
    assert "up to 5,000 characters" in system and "chunks of up to 4,000 characters" in system and subs == []
    error = events(result, "cell")[0]["error"]
    # the chunk size suggested leaves room for the question (models cut chunks of the size told)
    assert "over the sub-model's window (about 5,000 characters)" in error and "at most 4,000 characters" in error


class _WindowServer(BaseHTTPRequestHandler):
    replies: dict[str, object] = {}

    def do_GET(self) -> None:  # noqa: N802
        body = self.replies.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        if body is not None:
            self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("replies, expected", [
    ({"/props": {"default_generation_settings": {"n_ctx": 32768}}}, 32768),  # llama.cpp's server
    ({"/v1/models": {"data": [{"id": "m", "max_model_len": 8192}]}}, 8192),  # vLLM
    ({"/v1/models": {"data": [{"id": "other", "context_length": 4096}, {"id": "m", "context_length": 2048}]}}, 2048),
    ({"/v1/models": {"data": [{"id": "m", "meta": {"n_ctx_train": 16384}}]}}, 16384),
    ({"/v1/models": {"data": [{"id": "m", "object": "model"}]}}, None),  # a hosted API says nothing
])
def test_the_window_is_read_from_the_server_where_it_says(replies, expected):
    handler = type("H", (_WindowServer,), {"replies": replies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        got = asyncio.run(server_window_tokens(f"http://127.0.0.1:{server.server_port}/v1", "k", "m"))
    finally:
        server.shutdown()
        server.server_close()
    assert got == expected
    assert chars_for_tokens(32768) == 73728


def test_a_json_file_is_described_as_json(make_rlm, tmp_path):
    f = tmp_path / "records.json"
    f.write_text(json.dumps([{"a": 1}, {"a": 2}]))
    with ScriptedServer({"root": script("```repl\nprint(sum(r['a'] for r in json.loads(context)))\n```",
                                        "FINAL(3)")}) as server:
        result = make_rlm(server).completion(f, "sum of a?")
        system = server.calls_to("root")[0].system
    assert "`json.loads(context)` gives the data" in system and result.answer == "3"


def test_an_empty_result_as_the_answer_is_questioned_once(make_rlm):
    looked = "```repl\nn = len([l for l in context.splitlines() if 'level=ERROR' in l])\nprint(n)\n```"
    with ScriptedServer({"root": script(looked, "FINAL(0)", "```repl\nprint(context.count('ERROR'))\n```", "FINAL(2)")}) as server:
        result = make_rlm(server).completion("2026 ERROR a\n2026 ERROR b\n2026 INFO c", "How many ERROR lines?")
        told, after_check = prompt_of(server, 2), prompt_of(server, 3)
    assert "a search that matched nothing" in told and "print a few lines" in told
    # told to check, not to finish (a real model, told "finish now" after a refusal, gave FINAL(0) again
    # each turn); once code ran, finishing is said again
    assert "first run code that does what the note above says" in told and "finish now" not in told
    assert "finish now" in after_check and "not accepted: first run code" not in after_check
    assert result.answer == "2" and [e["reason"] for e in events(result, "final_refused")] == [
        "an empty result as the answer"]


def test_the_first_message_shows_the_head_of_the_context(make_rlm):
    log = "".join(f"2024-03-01T00:00:{i % 60:02d}Z ERROR [billing] failed {i}\n" for i in range(2000))
    with ScriptedServer({"root": script("FINAL(x)")}) as server:
        make_rlm(server, max_iterations=1, answer_check=False).completion(log, "How many ERROR lines?")
        shown = prompt_of(server, 0)
    assert "2024-03-01T00:00:00Z ERROR [billing] failed 0\n" in shown and "failed 1999" not in shown
    with ScriptedServer({"root": script("FINAL(x)")}) as server:
        make_rlm(server, max_iterations=1, answer_check=False, context_preview_chars=0).completion(log, "q?")
        assert "[billing]" not in prompt_of(server, 0)


def test_the_context_itself_as_the_answer_is_refused_once(make_rlm):
    log = "".join(f"2024-03-01 INFO [auth] issued code RC-{i:04d} for account a-{i}\n" for i in range(500))
    with ScriptedServer({"root": script("FINAL_VAR(context)", "```repl\nwhole = context\nFINAL_VAR(whole)\n```")}) as server:
        result = make_rlm(server).completion(log, "Which code was issued for account a-7?")
        told = prompt_of(server, 1)
    assert [e["reason"] for e in events(result, "final_refused")] == ["the answer is the context itself"]
    assert "is the context itself" in told
    # asked once only: the alias is taken the second time (a question may truly want the text back)
    assert result.answer.startswith("2024-03-01 INFO [auth] issued code RC-0000")


def test_a_code_block_indented_in_a_list_item_runs(make_rlm):
    reply = "Plan:\n1. Split it:\n   ```repl\n   lines = context.splitlines()\n   for l in lines[:1]:\n       print(l)\n   ```\n"
    with ScriptedServer({"root": script(reply, "FINAL(done)")}) as server:
        result = make_rlm(server, answer_check=False).completion("first\nsecond", "q?")
    cell = events(result, "cell")[0]
    assert cell["error"] is None and cell["stdout"] == "first\n"


def test_an_answer_saying_nothing_was_found_is_questioned_once(make_rlm):
    guessed = "```repl\nm = re.search(r'Warranty Period: (\\d+)', context)\nprint(m.group(1) if m else 'not found')\n```"
    looked = "```repl\nprint([l for l in context.splitlines() if 'arranty' in l])\n```"
    with ScriptedServer({"root": script(guessed, "FINAL(The warranty period is not found in the document.)",
                                        looked, "FINAL(6)")}) as server:
        result = make_rlm(server).completion("Product: Fan\nwarranty: 6 months\n", "Warranty of the fan, in months?")
        told = prompt_of(server, 2)
    assert "a search that matched nothing" in told
    assert result.answer == "6" and [e["reason"] for e in events(result, "final_refused")] == [
        "an empty result as the answer"]


def test_prose_written_before_any_code_ran_is_not_kept_in_view(make_rlm):
    looked = "```repl\nprint([l for l in context.splitlines() if 'outage' in l])\n```"
    with ScriptedServer({"root": script("It happened because of a network issue.", looked, "FINAL(fibre cut)")}) as server:
        result = make_rlm(server).completion("1 May: checkout outage, cause: fibre cut\n", "Why was the outage?")
        later = server.calls_to("root")[1].messages
    said = [m["content"] for m in later if m["role"] == "assistant"]
    assert said and "network issue" not in " ".join(said) and "not kept" in said[0]
    assert result.answer == "fibre cut"


def test_a_repeated_cell_raises_the_temperature_the_run_sends_for_the_next_call(make_rlm):
    count = "```repl\nprint(len([l for l in context.splitlines() if 'level=ERROR' in l]))\n```"
    again = "```repl\nimport re\nprint(len([l for l in context.splitlines() if 'level=ERROR' in l]))\n```"
    with ScriptedServer({"root": script(count, again, "FINAL(2)")}) as server:
        result = make_rlm(server, answer_check=False, model_kwargs={"temperature": 0}).completion(
            "level=ERROR a\nlevel=ERROR b\n", "How many ERROR lines?")
        sent = [c.body.get("temperature") for c in server.calls_to("root")]
    # the repeat (an import line more is the same cell) is named, and only the call after it is hotter
    assert sent == [0, 0, 0.7]
    assert [e["check"] for e in events(result, "loop_check")] == ["repeated_cell", "repeat_dropped",
                                                                   "unstick_temperature"]
    # the repeat is not shown again: the code is in view once, not twice
    last = server.calls_to("root")[2].messages
    assert sum("level=ERROR" in m["content"] for m in last if m["role"] == "assistant") == 1
    assert any("repeated earlier code" in m["content"] for m in last if m["role"] == "assistant")
    with ScriptedServer({"root": script(count, again, "FINAL(2)")}) as server:  # no temperature sent: none added
        make_rlm(server, answer_check=False).completion("ERROR a\nERROR b\n", "How many ERROR lines?")
        assert all("temperature" not in c.body for c in server.calls_to("root"))


def test_final_var_of_a_value_that_gives_no_text_says_so(make_rlm):
    bad = "```repl\nx = []\nfor i in range(200000):\n    x = [x]\n```\nFINAL_VAR(x)"  # str() recurses too deep
    with ScriptedServer({"root": script(bad, "FINAL(done)")}) as server:
        result = make_rlm(server, answer_check=False).completion("abc", "q?")
        told = prompt_of(server, 1)
    assert "could not be turned into text" in told and "there is no variable" not in told
    assert events(result, "final_refused")[0]["reason"] == "FINAL_VAR(x): its value gave no text"


# ----- seen with a real 1.5B model on the bench (each failed before its fix) -----------------------
def test_an_empty_result_set_in_code_is_questioned_even_when_a_0_was_printed_before(make_rlm):
    look = "```repl\nn = context.count('level=ERROR')\nprint(n)\n```"
    with ScriptedServer({"root": script(look, "```repl\nFINAL(0)\n```", "```repl\nm = context.count('ERROR')\nprint(m)\n```",
                                        "FINAL_VAR(m)")}) as server:
        result = make_rlm(server).completion("x ERROR [a]\ny ERROR [b]\n", "How many ERROR lines?")
    assert [e["reason"] for e in events(result, "final_refused")] == ["an empty result as the answer"]
    assert result.answer == "2"


def test_a_code_seen_only_as_a_line_number_of_a_traceback_does_not_support_an_answer(make_rlm):
    failing = "```repl\nrows = [{'a': 1}]\nx = 1\nprint(rows[0]['stock'])\n```"
    with ScriptedServer({"root": script(failing, *["FINAL(W-3)"] * 4)}) as server:
        result = make_rlm(server).completion("Crane moved to Oldbury.", "Where did Crane move?")
    assert "line 3" in events(result, "cell")[0]["error"]
    # (a code no output showed is asked about up to three times)
    assert [e["reason"] for e in events(result, "final_refused")] == ["nothing the model saw supports the answer"] * 3


def test_a_reply_repeated_whole_is_dropped_from_view_even_when_a_failing_block_stopped_the_rest(make_rlm):
    reply = "```repl\nprint(context['x'])\n```\n```repl\nprint(1)\n```"
    with ScriptedServer({"root": script(reply, reply, "```repl\nn = len(context)\nprint(n)\n```",
                                        "FINAL_VAR(n)")}) as server:
        result = make_rlm(server).completion("abc", "How long?")
    assert [e["turn"] for e in events(result, "loop_check") if e["check"] == "repeat_dropped"] == [2]
    assert result.answer == "3"


@pytest.mark.parametrize("last", ["```repl\nFINAL(n)\n```", "```repl\nprint(FINAL_VAR('n'))\n```"])
def test_at_the_last_call_a_final_written_as_code_is_read(make_rlm, last):
    with ScriptedServer({"root": script("```repl\nn = len(context)\nprint(n)\n```", last)}) as server:
        result = make_rlm(server, max_iterations=1).completion("abcde", "How long?")
    assert (result.status, result.answer) == ("max_iterations", "5")


def test_at_the_last_call_a_plain_answer_loses_its_final_answer_prefix(make_rlm):
    with ScriptedServer({"root": script("```repl\nprint(context)\n```", "**Final answer:** a fibre cut")}) as server:
        result = make_rlm(server, max_iterations=1).completion("the outage was a fibre cut", "Why?")
    assert (result.status, result.answer) == ("max_iterations", "a fibre cut")


def test_an_untagged_block_of_invented_output_is_not_run_as_code_and_is_dropped(make_rlm):
    # a real model wrote its cell, then "The output is:" and the line it hoped for in a bare fence:
    # run as code, the list literal echoed the invention back as if the kernel had printed it
    reply = ("```repl\nhits = [l for l in context.splitlines() if 'Crane' in l]\nprint(hits)\n```\n"
             "The output is:\n```\n['Ottilie Crane moved her laboratory to Westwick.']\n```")
    with ScriptedServer({"root": script(reply, "FINAL_VAR(hits)")}) as server:
        result = make_rlm(server, answer_check=False).completion(
            "Ottilie Crane moved her laboratory to Oldbury.\nOther text.", "Where?")
    cells = events(result, "cell")
    assert len(cells) == 1 and "Westwick" not in cells[0]["stdout"]
    assert [e["check"] for e in events(result, "loop_check")] == ["invented_output"]
    assert "Oldbury" in result.answer


def test_a_cell_that_searches_for_the_worked_examples_words_is_told_so(make_rlm):
    word = sorted(example_literals())[0]  # what the example searches for (a real model copied it onto a log)
    copied = f"```repl\nhits = [line for line in context.splitlines() if {word!r} in line]\nprint(len(hits))\n```"
    with ScriptedServer({"root": script(copied, "```repl\nn = context.count('ERROR')\nprint(n)\n```",
                                        "FINAL_VAR(n)")}) as server:
        result = make_rlm(server).completion("ERROR a\nERROR b\n", "How many ERROR lines?")
        told = prompt_of(server, 1)
    assert "comes from the worked example" in told and repr(word) in told
    # (the count of 0 is also explained: no line holds the example's words)
    assert [e["check"] for e in events(result, "loop_check")] == ["pattern_miss", "copied_example"]
    # the same words, when the question asks about them, are the task's own
    with ScriptedServer({"root": script(copied, "FINAL_VAR(hits)")}) as server:
        result = make_rlm(server, answer_check=False).completion(f"{word} ordered\n", f"Orders of {word}?")
    assert events(result, "loop_check") == []


def test_an_answer_read_beside_a_namesake_is_questioned_once_then_the_subjects_value_taken(make_rlm):
    """`'sales-lakeview' in line` also finds `sales-lakeview-2`'s line (the real 1.5B model took
    that line's code in four runs of four): the answer is questioned, saying which name it was
    read beside; read again from the subject's own line it stands."""
    log = ("2024-03-01 INFO [auth] issued recovery code RC-MSL5-LF63 for account sales-lakeview-2\n"
           + "".join(f"2024-03-01 INFO [auth] login ok for account user-{i}\n" for i in range(200))
           + "2024-03-01 INFO [auth] issued recovery code RC-5Z4F-UVTC for account sales-lakeview\n")
    first = "```repl\nhits = [l for l in context.splitlines() if 'sales-lakeview' in l]\nprint(hits[0])\n```"
    again = ("```repl\nimport re\nprint([l for l in context.splitlines() "
             "if re.search(r'sales-lakeview(?![\\w-])', l)])\n```")
    with ScriptedServer({"root": script(first, "FINAL(RC-MSL5-LF63)", again, "FINAL(RC-5Z4F-UVTC)")}) as server:
        result = make_rlm(server).completion(log, "What recovery code was issued for the account sales-lakeview?")
        told = prompt_of(server, 2)
    assert "beside 'sales-lakeview-2', and the question asks about 'sales-lakeview'" in told
    assert "re.search(r'(?<![\\w-])sales\\-lakeview(?![\\w-])', line)" in told
    assert result.answer == "RC-5Z4F-UVTC"
    assert [e["reason"] for e in events(result, "final_refused")] == [
        "the answer was read beside a longer name than the question's"]


def test_a_namesake_answer_given_again_is_taken(make_rlm):
    """Asked once: the model that answers the same again is believed (a plural, a suffix of
    the subject's own may look like another name)."""
    text = "In 1901, Ottilie Craneley moved her laboratory to Brightwater.\n" * 3
    look = "```repl\nprint([s for s in context.splitlines() if 'Ottilie Crane' in s][:1])\n```"
    with ScriptedServer({"root": script(look, "FINAL(Brightwater)", "FINAL(Brightwater)")}) as server:
        result = make_rlm(server).completion(text, "To which city did Ottilie Crane move her laboratory?")
    assert result.answer == "Brightwater" and len(events(result, "final_refused")) == 1


def test_an_answer_read_beside_the_subject_itself_is_not_questioned(make_rlm):
    log = ("issued code RC-1 for account sales-lakeview-2\nissued code RC-2 for account sales-lakeview\n"
           "issued code RC-2 for account sales-lakeview-9\n")
    look = "```repl\nprint(context)\n```"
    with ScriptedServer({"root": script(look, "FINAL(RC-2)")}) as server:
        result = make_rlm(server).completion(log, "Which code was issued for the account sales-lakeview?")
    assert result.answer == "RC-2" and events(result, "final_refused") == []


@pytest.mark.parametrize("final", ["FINAL(the value it shows)", "Final(your answer)", "FINAL(<the answer>)",
                                   "FINAL('the status as the lines give it')"])
def test_a_placeholder_of_the_instructions_is_never_the_answer(make_rlm, final):
    """The real model, told "give it now: FINAL(answer)", replied `Final(answer)` twice and the
    run ended with the answer 'answer': a stand-in copied from the instructions is refused
    each time, and the value after it is taken."""
    look = "```repl\nprint(context.count('ERROR'))\n```"
    with ScriptedServer({"root": script(look, final, final, "FINAL(2)")}) as server:
        result = make_rlm(server).completion("ERROR a\nERROR b\nINFO c", "How many ERROR lines?")
        told = prompt_of(server, 2)
    assert result.answer == "2" and "is the stand-in written in the instructions" in told
    assert [e["reason"] for e in events(result, "final_refused")] == [
        "the answer is a placeholder of the instructions"] * 2


def test_final_of_a_variables_name_written_as_prose_gives_its_value(make_rlm):
    look = "```repl\nerror_count = context.count('ERROR')\nprint(error_count)\n```"
    with ScriptedServer({"root": script(look, "FINAL(error_count)")}) as server:
        result = make_rlm(server).completion("ERROR a\nERROR b\nINFO c", "How many ERROR lines?")
    assert result.answer == "2"


def test_final_answer_written_as_prose_with_the_answer_dict_unready_is_refused(make_rlm):
    look = "```repl\nprint(context.count('ERROR'))\n```"
    with ScriptedServer({"root": script(look, "Final(answer)", "Final(answer)", "FINAL(2)")}) as server:
        result = make_rlm(server).completion("ERROR a\nERROR b\nINFO c", "How many ERROR lines?")
    assert result.answer == "2" and len(events(result, "final_refused")) == 2


def test_every_stand_in_the_loops_words_put_in_a_marker_is_a_placeholder():
    """The notes' own stand-ins are listed by hand in rlm/prompts.py: a new one must be added."""
    import re
    from pathlib import Path

    import rlm.prompts as module
    from rlm.prompts import placeholders

    text = Path(module.__file__).read_text(encoding="utf-8")
    used = {p.strip().lower() for p in re.findall(r"FINAL(?:_VAR)?\(([^()\n]{1,60})\)", text)}
    used = {p for p in used if not p.startswith("?")}  # the pattern of placeholders() itself
    # {name}, {reading}: a real value put in, no stand-in
    assert used - {"x", "name", "{name}", "{reading}"} <= placeholders(), used - placeholders()


def test_an_empty_result_is_questioned_with_the_lines_of_the_questions_subject():
    """The real model counted `'status=5' in line` over a combined-format access log (no such
    field: 0) and gave 0 again when told to print lines that should match: the note now holds
    the code that prints the lines of the question's subject as they are spelled."""
    from rlm.prompts import empty_answer

    told = empty_answer("0", "api/checkout")
    assert "hits = [line for line in context.splitlines() if 'api/checkout' in line]" in told
    compile(told.split("```repl\n")[1].split("```")[0], "<note>", "exec")
    assert "```" not in empty_answer("0", None) and "```" not in empty_answer("0", "a\\b")
    compile(empty_answer("0", "it's").split("```repl\n")[1].split("```")[0], "<note>", "exec")


def test_a_copy_of_a_large_context_is_never_the_answer(make_rlm):
    """Asked for a code, the real model answered FINAL_VAR(context), was told, then answered
    FINAL(context): 263,000 characters taken as the answer. A copy that long is refused each time."""
    text = "".join(f"Paragraph {i} about the depots of the region and their gates.\n" for i in range(3000))
    copy = "```repl\nFINAL_VAR(context)\n```"
    with ScriptedServer({"root": script(copy, copy, "FINAL(5039-NIMBUS)")}) as server:
        result = make_rlm(server).completion(text, "What is the access code of the east gate?")
    assert result.answer == "5039-NIMBUS"
    assert [e["reason"] for e in events(result, "final_refused")][:2] == ["the answer is the context itself"] * 2


def test_the_strings_of_a_cell_are_parsed_once_and_a_huge_cell_not_at_all():
    """The parse runs on the host, per sub-call: a loop of 10,000 short calls parses its cell
    once, and a cell past MAX_PARSED_CODE_CHARS is not parsed (its prompts are sent, noted)."""
    from rlm import loop_guards

    code = "for i in range(10_000):\n    llm_query('hi')\n"
    loop_guards._code_strings.cache_clear()
    for _ in range(100):
        assert loop_guards.written_prompts(["hi"], code) == ["hi"]
    assert loop_guards._code_strings.cache_info().misses == 1
    huge = "x = 1\n" * (loop_guards.MAX_PARSED_CODE_CHARS // 6 + 1) + "llm_query('hi')\n"
    assert loop_guards.written_prompts(["hi"], huge) == []


# ----- answers of the wrong form, counts never looked at ------------------------------------
HISTORY = "".join(f"In {1800 + i}, the council of Town{i} met to repair the causeway and the mill. " * 3 + "\n"
                  for i in range(200)) + "In 1945, Ottilie Crane moved her laboratory to Oldbury.\n"


def test_a_line_number_for_a_city_is_questioned_once(make_rlm):
    """Seen with Qwen2.5-Coder-1.5B: having printed where the subject's lines are, it answered
    the line number (`180`) to "To which city ...? Answer with the city name only"."""
    look = "```repl\nlines = context.splitlines()\nhits = [i for i, l in enumerate(lines) if 'Ottilie' in l]\nprint(hits)\n```"
    read = "```repl\nprint(lines[200])\n```"
    with ScriptedServer({"root": script(look, "FINAL(200)", read, "FINAL(Oldbury)")}) as server:
        result = make_rlm(server).completion(HISTORY, "To which city did Ottilie Crane move her laboratory? "
                                                      "Answer with the city name only.")
        told = prompt_of(server, 2)
    assert "it is a number, and the question asks for a name" in told
    assert result.answer == "Oldbury" and [e["reason"] for e in events(result, "final_refused")] == [
        "the answer is not of the form the question asks for"]
    # asked once: a number given again meets only the questions not asked yet (here: it was seen only
    # away from the subject), then stands
    with ScriptedServer({"root": script(look, "FINAL(200)", "FINAL(200)", "FINAL(200)")}) as server:
        result = make_rlm(server).completion(HISTORY, "Who moved a laboratory to Oldbury? Answer with the name only.")
    assert result.answer == "200" and [e["reason"] for e in events(result, "final_refused")] == [
        "the answer is not of the form the question asks for", "the answer was seen only away from the question's subject"]


def test_a_count_whose_matches_were_never_looked_at_is_questioned_once(make_rlm):
    """Seen with Qwen2.5-Coder-1.5B: it counted `/api/checkout.*\\s+5\\d{3}` (a four-digit size, not
    a 5xx status), printed only the count, and answered it (30 for 9) without seeing a line."""
    log = "".join(f'10.0.0.{i % 9} - - "GET /api/checkout/{i} HTTP/1.1" {503 if i % 10 == 0 else 200} {5000 + i}\n'
                  for i in range(400))
    blind = "```repl\nhits = [l for l in context.splitlines() if re.search(r'/api/checkout.*\\s5\\d{3}', l)]\nprint(len(hits))\n```"
    look = "```repl\nprint(hits[:3])\n```"
    fixed = "```repl\nhits = [l for l in context.splitlines() if re.search(r'/api/checkout\\S* HTTP/1.1\" 5\\d\\d ', l)]\nprint(len(hits))\n```"
    with ScriptedServer({"root": script(blind, "FINAL(400)", look, fixed, "FINAL(40)")}) as server:
        result = make_rlm(server).completion(log, "How many requests for /api/checkout got a 5xx status?")
        told = prompt_of(server, 2)
    assert "you have not looked at any of what it counts" in told
    assert "This is your counting code, changed to keep and print what it counted:\n```repl\nprint(len(hits))\n" \
           "print(hits[:5])\n```" in told
    assert result.answer == "40" and [e["reason"] for e in events(result, "final_refused")] == [
        "a count of records the model never looked at"]
    # a context the first message showed whole was looked at
    short = log[:600]
    with ScriptedServer({"root": script("```repl\nprint(context.count(' 200 '))\n```",
                                        f"FINAL({short.count(' 200 ')})")}) as server:
        result = make_rlm(server).completion(short, "How many requests got a 200?")
    assert result.answer == str(short.count(" 200 ")) != "0" and not events(result, "final_refused")


def test_the_context_given_again_is_answered_with_the_printed_sentences_naming_the_subject(make_rlm):
    """Seen with Qwen2.5-Coder-1.5B: told its FINAL_VAR(context) was the context, it ran the
    note's code, printed the sentence with the access code, and gave FINAL_VAR(context) again."""
    text = "".join(f"Paragraph {i} about the depots of the region and their gates.\n" for i in range(3000))
    text += "The access code for the east gate of the Ivanova Street depot is 5039-NIMBUS.\n"
    text += "For the west gate of the Ivanova Street North depot, the keypad code is 8853-TUNDRA.\n"
    copy = "```repl\nFINAL_VAR(context)\n```"
    around = "```repl\nfor m in list(re.finditer(r'Ivanova Street', context))[:5]:\n    print(repr(context[m.start() - 60:m.end() + 30]))\n```"
    with ScriptedServer({"root": script(copy, around, copy, "FINAL(5039-NIMBUS)")}) as server:
        result = make_rlm(server).completion(text, "What is the access code for the east gate of the Ivanova Street depot?")
        first, again = prompt_of(server, 1), prompt_of(server, 3)
    assert "for m in list(re.finditer(r'Ivanova Street', context))[:5]:" in first
    assert "the context itself again" in again
    assert "'The access code for the east gate of the Ivanova Street depot is 5039-NIMBUS.'" in again
    assert "8853-TUNDRA" not in again.split("the context itself again")[1]  # a longer name's sentence is not shown
    assert result.answer == "5039-NIMBUS"


def test_an_unsupported_answer_is_shown_the_printed_sentences_naming_the_subject(make_rlm):
    """Seen with Qwen2.5-Coder-1.5B: having printed the sentence with the access code, it answered
    with a code of its own (12345), questioned, then given again."""
    text = "".join(f"Paragraph {i} about the depots of the region and their gates.\n" for i in range(3000))
    text += "The access code for the east gate of the Ivanova Street depot is 5039-NIMBUS.\n"
    look = "```repl\nprint([l for l in context.splitlines() if 'Ivanova Street' in l])\n```"
    with ScriptedServer({"root": script(look, "FINAL(12345)", "FINAL(5039-NIMBUS)")}) as server:
        result = make_rlm(server).completion(text, "What is the access code for the east gate of the Ivanova Street depot?")
        told = prompt_of(server, 2)
    assert "nothing you have seen so far shows it" in told
    assert "names 'Ivanova Street' here:\n- 'The access code for the east gate of the Ivanova Street depot is 5039-NIMBUS.'" in told
    assert result.answer == "5039-NIMBUS"


@pytest.mark.parametrize("first, fact, question, wrong, right, subject", [
    # Qwen2.5-Coder-1.5B printed the text's first lines and answered a town named there (Vellin,
    # where a trust moved its offices), then searched for Vellin and gave it again
    ("The Harbour Trust later moved its offices from Lakeview to Vellin, citing lower rents.",
     "In 1945, Ottilie Crane moved her laboratory to Oldbury.",
     "To which city did Ottilie Crane move her laboratory? Answer with the city name only.", "Vellin", "Oldbury",
     "Ottilie Crane"),
    # and a year named there (1952): a year is read from the text like a name
    ("Merchants complained that tolls had doubled since 1952.",
     "The steamship Amber Gull was launched at Eastford in 1843.",
     "In which year was the steamship Amber Gull launched? Answer with the year only.", "1952", "1843", "Amber Gull"),
    # and a value of another record printed first (the first product sheet's warranty, 36 months)
    ("The Nimbus 4 Desk Lamp has a warranty of 36 months.", "The Summit 1 Fan has a warranty of 6 months.",
     "What is the warranty period, in months, of the Summit 1 Fan? Answer with the number only.", "36", "6",
     "Summit 1 Fan"),
])
def test_a_value_seen_only_away_from_the_questions_subject_is_questioned_once(make_rlm, first, fact, question, wrong,
                                                                             right, subject):
    text = first + "\n" + "".join(f"In the year of the flood, Town{i} met about the mill.\n" for i in range(3000))
    text += fact + "\n"
    head = "```repl\nprint(context.splitlines()[:1])\n```"
    around = (f"```repl\nfor m in list(re.finditer(r'{subject}', context))[:5]:\n"
              "    print(context[m.start():m.end() + 40])\n```")
    with ScriptedServer({"root": script(head, f"FINAL({wrong})", around, f"FINAL({right})")}) as server:
        result = make_rlm(server).completion(text, question)
        told = prompt_of(server, 2)
    assert result.answer == right
    assert f"shows it only in text that does not name {subject!r}" in told
    assert f"for m in list(re.finditer(r'{subject}', context))[:5]:" in told
    assert [e["reason"] for e in events(result, "final_refused")] == [
        "the answer was seen only away from the question's subject"]
    # read beside the subject: taken at once
    look = f"```repl\nprint([l for l in context.splitlines() if {subject!r} in l])\n```"
    with ScriptedServer({"root": script(look, f"FINAL({right})")}) as server:
        result = make_rlm(server).completion(text, question)
    assert result.answer == right and not events(result, "final_refused")
    # a count or a sum is computed, not read beside a name: not held to it
    with ScriptedServer({"root": script(head, f"FINAL({wrong})")}) as server:
        result = make_rlm(server).completion(text, f"How many lines are there before the one about {subject}?")
    assert "the answer was seen only away from the question's subject" not in [
        e["reason"] for e in events(result, "final_refused")]


def test_a_value_searched_for_that_came_from_elsewhere_is_questioned_once(make_rlm):
    # Qwen2.5-Coder-1.5B, asked about the user who deleted a repository, counted the events of the
    # user on the first line it printed (u-1013) and never looked for the deletion
    events_log = [{"user": f"u-{1010 + i % 7}", "action": "login_failed" if i % 5 == 0 else "push",
                   "resource": f"repo-{i % 11}"} for i in range(700)]
    events_log.insert(400, {"user": "u-1016", "action": "delete_repo", "resource": "lumen-api"})
    text = "\n".join(json.dumps(e) for e in events_log)
    question = ('Exactly one user deleted the repository "lumen-api". How many login_failed events does that user '
                'have? Answer with the number only.')
    wrong = ("```repl\nlines = context.splitlines()\nprint(lines[:2])\n"
             "hits = [l for l in lines if 'u-1010' in l and 'login_failed' in l]\nprint(len(hits), hits[:2])\n```")
    right_count = sum(1 for e in events_log if e["user"] == "u-1016" and e["action"] == "login_failed")
    look = "```repl\nprint([l for l in context.splitlines() if 'lumen-api' in l])\n```"
    recount = ("```repl\nhits = [l for l in context.splitlines() if 'u-1016' in l and 'login_failed' in l]\n"
               "print(len(hits), hits[:2])\n```")
    wrong_count = sum(1 for e in events_log if e["user"] == "u-1010" and e["action"] == "login_failed")
    with ScriptedServer({"root": script(wrong, f"FINAL({wrong_count})", look, recount,
                                        f"FINAL({right_count})")}) as server:
        result = make_rlm(server).completion(text, question)
        told = prompt_of(server, 2)
    assert "it rests on 'u-1010', which your code looks for" in told and "does not name 'lumen-api'" in told
    # the value the subject's line points to (u-1016, beside delete_repo) put in the cell, which is run again
    assert "Your code was run again with 'u-1016' in place of 'u-1010'" in told
    assert f"\n{right_count} [" in told.split("[cell 2] output:")[1]
    assert [e["reason"] for e in events(result, "final_refused")] == [
        "the answer rests on a value seen only away from the question's subject"]
    assert result.answer == str(right_count)
    # a value found beside the subject is the question's own: taken at once
    with ScriptedServer({"root": script(look, recount, f"FINAL({right_count})")}) as server:
        result = make_rlm(server).completion(text, question)
    assert result.answer == str(right_count) and not events(result, "final_refused")


@pytest.mark.parametrize("other, fact, question, wrong, right, subject, looked_for", [
    # Qwen2.5-Coder-1.5B answered the town of another sentence about the same person
    ("Ottilie Crane was born in Vellin and trained as a chemist.", "In 1945, Ottilie Crane moved her laboratory to Oldbury.",
     "To which city did Ottilie Crane move her laboratory? Answer with the city name only.", "Vellin", "Oldbury",
     "Ottilie Crane", "Vellin"),
    # and a number of another field of the same product sheet (stocked for 12 years, not a warranty)
    ("Replacement parts for the Summit 1 Fan are stocked for at least 12 years.",
     "Summit 1 Fan\nSKU: SKU-22826\nWarranty: 6 months",
     "What is the warranty period, in months, of the Summit 1 Fan? Answer with the number only.", "12", "6",
     "Summit 1 Fan", "12 years"),
])
def test_a_value_read_beside_the_subject_in_words_about_something_else_is_questioned_once(
        make_rlm, other, fact, question, wrong, right, subject, looked_for):
    filler = "".join(f"In the year of the flood, Town{i} met about the mill.\n" for i in range(1500))
    text = filler + other + "\n" + filler + fact + "\n" + filler
    look = f"```repl\nprint([l for l in context.splitlines() if {looked_for!r} in l])\n```"
    around = (f"```repl\nfor m in list(re.finditer(r'{subject}', context))[:5]:\n"
              "    print(repr(context[max(0, m.start() - 40):m.end() + 60]))\n```")
    with ScriptedServer({"root": script(look, f"FINAL({wrong})", around, f"FINAL({right})")}) as server:
        result = make_rlm(server).completion(text, question)
        told = prompt_of(server, 2)
    assert f"where the output shows it beside {subject!r}, the text says nothing of" in told
    assert f"for m in list(re.finditer(r'{subject}', context))[:5]:" in told
    assert [e["reason"] for e in events(result, "final_refused")] == [
        "the answer was read beside the subject in text about something else"]
    assert result.answer == right
    # read where the question's words stand: taken at once
    with ScriptedServer({"root": script(around, f"FINAL({right})")}) as server:
        result = make_rlm(server).completion(text, question)
    assert result.answer == right and not events(result, "final_refused")


def test_an_answer_is_supported_by_what_was_seen_not_by_the_questions_own_words():
    from rlm.loop_guards import supported

    question = "Why did the checkout outage on the first day happen? Answer with a short phrase naming the cause."
    seen = "Incident: checkout outage on the first day. The outage was caused by the message broker running out of memory."
    # a real model restated the question around an invented cause ("a memory leak in the session cache")
    invented = "The checkout outage on the first day was caused by a session leak."
    assert supported(invented, seen) and not supported(invented, seen, question)
    assert supported("the message broker running out of memory", seen, question)
    # a choice the question offers, seen in the output, stands
    assert supported("Alpha", "Alpha: 3, Beta: 2", "Which is larger, Alpha or Beta?")


def test_an_answer_with_numbers_no_output_showed_is_questioned_again(make_rlm):
    # Qwen2.5-Coder-1.5B gave an invented list of line numbers twice, over a printed line holding the code
    text = "".join(f"filler line {i}\n" for i in range(50)) + "The east gate code is 5039-NIMBUS.\n"
    look = "```repl\nprint([l for l in context.splitlines() if 'east gate' in l])\n```"
    invented = "FINAL([102, 137, 168])"
    with ScriptedServer({"root": script(look, invented, invented, invented, invented)}) as server:
        result = make_rlm(server, max_iterations=6).completion(text, "What is the east gate code?")
        third = prompt_of(server, 3)
    assert [e["reason"] for e in events(result, "final_refused")] == ["nothing the model saw supports the answer"] * 3
    assert "again, no output you have seen shows its numbers or codes" in third
    assert result.answer == "[102, 137, 168]"  # the fourth time it stands: the model may know better
    with ScriptedServer({"root": script(look, invented, "FINAL(5039-NIMBUS)")}) as server:
        result = make_rlm(server).completion(text, "What is the east gate code?")
    assert result.answer == "5039-NIMBUS" and len(events(result, "final_refused")) == 1


def reading_as(reading: str, *replies: str) -> Handler:
    """`script(*replies)`, with `reading` the reply to a fresh reading of printed lines."""
    scripted = script(*replies)
    return lambda call: reading if call.system.startswith(READING) else scripted(call)


def test_an_off_topic_answer_given_again_is_shown_where_the_subject_and_the_questions_words_meet(make_rlm):
    # Qwen2.5-Coder-1.5B printed "In 1945, Ottilie Crane moved her laboratory to Oldbury." and gave Vellin again
    filler = "".join(f"In the year of the flood, Town{i} met about the mill.\n" for i in range(1500))
    text = filler + "Ottilie Crane was born in Vellin.\n" + filler + "In 1945, Ottilie Crane moved her laboratory to Oldbury.\n"
    question = "To which city did Ottilie Crane move her laboratory? Answer with the city name only."
    look = "```repl\nprint([l for l in context.splitlines() if 'Vellin' in l])\n```"
    around = "```repl\nprint([l for l in context.splitlines() if 'Ottilie' in l])\n```"
    # with no reading to offer (NONE), the second refusal shows the pieces the output now holds
    with ScriptedServer({"root": reading_as("NONE", look, "FINAL(Vellin)", around, "FINAL(Vellin)",
                                            "FINAL(Oldbury)")}) as server:
        result = make_rlm(server).completion(text, question)
        reading, told = reading_prompts(server)[0], server.calls_to("root")[-1].prompt
    assert "The output you printed speaks of them here:\n- 'In 1945, Ottilie Crane moved her laboratory to Oldbury.'" in told
    assert "Read in a new call" not in told
    # the reading's call sees only the question and the pieces
    assert "In 1945, Ottilie Crane moved her laboratory to Oldbury." in reading and question in reading
    assert "born in Vellin" not in reading and "```repl" not in reading
    assert [e["reason"] for e in events(result, "final_refused")] == [
        "the answer was read beside the subject in text about something else"] * 2
    assert result.answer == "Oldbury"
    # the refused answer given again over a reading that differs: the reading meets the checks in its place
    with ScriptedServer({"root": reading_as("Oldbury", look, "FINAL(Vellin)", "FINAL(Vellin)")}) as server:
        result = make_rlm(server).completion(text, question)
    assert result.answer == "Oldbury" and len(events(result, "final_refused")) == 1
    assert [e["turn"] for e in events(result, "loop_check") if e["check"] == "reading_taken"] == [3]
    # with no reading to offer and nothing new shown, the same answer given again stands
    with ScriptedServer({"root": reading_as("NONE", look, "FINAL(Vellin)", around, "FINAL(Vellin)",
                                            "FINAL(Vellin)")}) as server:
        result = make_rlm(server).completion(text, question)
    assert result.answer == "Vellin" and len(events(result, "final_refused")) == 2
    assert not [e for e in events(result, "loop_check") if e["check"] == "reading_taken"]


def test_an_off_topic_answer_no_output_speaks_against_is_shown_where_the_context_does(make_rlm):
    # Qwen2.5-Coder-1.5B read "Ottilie Crane was born in Vellin" and printed nothing about the laboratory
    filler = "".join(f"In the year of the flood, Town{i} met about the mill.\n" for i in range(1500))
    text = filler + "Ottilie Crane was born in Vellin.\n" + filler + "In 1945, Ottilie Crane moved her laboratory to Oldbury.\n"
    question = "To which city did Ottilie Crane move her laboratory? Answer with the city name only."
    look = "```repl\nprint([l for l in context.splitlines() if 'Vellin' in l])\n```"
    with ScriptedServer({"root": reading_as("Oldbury", look, "FINAL(Vellin)", "FINAL(Oldbury)")}) as server:
        result = make_rlm(server).completion(text, question)
        reading, told = reading_prompts(server)[0], prompt_of(server, 2)
    # the text around the place the subject stands that says the question's words (one piece)
    assert "The context itself names 'Ottilie Crane' and speaks of them here:\n- '" in told
    shown = told.split("speaks of them here:\n- ")[1].split("\n")[0]
    assert "In 1945, Ottilie Crane moved her laboratory to Oldbury." in shown and "Vellin" not in shown
    assert "they answer: 'Oldbury'" in told and "moved her laboratory to Oldbury" in reading
    assert result.answer == "Oldbury"  # shown by the note, the context's own words support it
    assert [e["reason"] for e in events(result, "final_refused")] == [
        "the answer was read beside the subject in text about something else"]


def test_an_answer_that_only_restates_the_question_is_questioned_once(make_rlm):
    # Qwen2.5-Coder-1.5B answered "checkout outage" to "Why did the checkout outage on 27 April 2024 happen?"
    log = "".join(f"Incident {i}: checkout outage on {i % 28 + 1} March 2023. Cause: broker {i}.\n" for i in range(200))
    log += "Incident 999: checkout outage on 27 April 2024. Cause: a fibre cut.\n"
    question = "Why did the checkout outage on 27 April 2024 happen? Answer with a short phrase naming the cause."
    look = "```repl\nprint([l for l in context.splitlines() if '27 April 2024' in l])\n```"
    with ScriptedServer({"root": script(look, "FINAL(checkout outage)", "FINAL(a fibre cut)")}) as server:
        result = make_rlm(server).completion(log, question)
        told = prompt_of(server, 2)
    assert "only repeats words of the question" in told and "Incident 999: checkout outage on 27 April 2024" in told
    assert result.answer == "a fibre cut"
    # a choice the question offers is no restatement
    with ScriptedServer({"root": script("```repl\nprint(context[:40])\n```", "FINAL(Alpha)")}) as server:
        result = make_rlm(server).completion("Alpha is larger than Beta.", "Which is larger, Alpha or Beta?")
    assert result.answer == "Alpha" and not events(result, "final_refused")


def test_a_restatement_given_again_over_a_reading_of_the_contexts_account_gives_way_to_it(make_rlm):
    # Qwen2.5-Coder-1.5B answered "checkout outage on 1 December 2024" twice, its output showing the cause
    log = "".join(f"Incident {i}: checkout outage on {i % 28 + 1} December 2023\nCause: broker {i}.\n\n"
                  for i in range(300))
    log += "Incident 999: checkout outage on 1 December 2024\nCause: a fibre cut between the data centres.\n"
    question = "Why did the checkout outage on 1 December 2024 happen? Answer with a short phrase naming the cause."
    look = "```repl\nprint([l for l in context.splitlines() if '1 December 2024' in l])\n```"
    restated = "FINAL(checkout outage on 1 December 2024)"
    with ScriptedServer({"root": reading_as("a fibre cut", look, restated, restated)}) as server:
        result = make_rlm(server).completion(log, question)
        [reading] = reading_prompts(server)
        told = prompt_of(server, 2)
    # the line that says the question's words and its date, with the line after it
    assert "- 'Incident 999: checkout outage on 1 December 2024\\nCause: a fibre cut between the data centres.'" \
        in reading
    assert "The context itself says the question's words here" in told and "they answer: 'a fibre cut'" in told
    assert result.answer == "a fibre cut"


def test_a_restatement_may_hold_the_questions_own_numbers():
    # Qwen2.5-Coder-1.5B answered "checkout outage on 1 December 2024", shown the incident's cause
    from rlm.loop_guards import restates_question

    question = "Why did the checkout outage on 1 December 2024 happen? Answer with a short phrase naming the cause."
    assert restates_question("checkout outage on 1 December 2024", question)
    assert not restates_question("checkout outage on 2 December 2024", question)  # a number it does not give
    assert not restates_question("a fibre cut on 1 December 2024", question)
    assert not restates_question("1843", "In which year was the Amber Gull launched, 1843 or 1844?")


def test_numbers_the_question_gives_are_no_invention():
    from rlm.loop_guards import invented_values

    question = "Why did the checkout outage on 1 December 2024 happen?"
    assert not invented_values("The checkout outage on 1 December 2024 was caused by a fibre cut.", "a fibre cut", question)
    assert invented_values("[102, 137, 168]", "The east gate code is 5039-NIMBUS.", question)
    assert invented_values("RC-9999", "code RC-1234", question)


def test_an_off_topic_number_given_again_is_shown_the_records_field_that_speaks_of_it(make_rlm):
    filler = "".join(f"In the year of the flood, Town{i} met about the mill.\n" for i in range(1500))
    text = (filler + "The Summit 1 Fan passed 36 separate drop tests.\n" + filler
            + "# Summit 1 Fan\nSKU: SKU-22826\nCategory: Fan\nWarranty: 6 months\n")
    question = "What is the warranty period, in months, of the Summit 1 Fan? Answer with the number only."
    look = "```repl\nprint([l for l in context.splitlines() if 'Summit 1 Fan' in l])\n```"
    around = ("```repl\nfor m in list(re.finditer(r'Summit 1 Fan', context))[:5]:\n"
              "    print(repr(context[max(0, m.start() - 40):m.end() + 60]))\n```")
    # the first refusal shows the context's own record and a reading of it; the model gives 6
    with ScriptedServer({"root": reading_as("6 months", look, "FINAL(36)", "FINAL(6)")}) as server:
        result = make_rlm(server).completion(text, question)
        told = server.calls_to("root")[-1].prompt
    shown = told.split("The context itself names 'Summit 1 Fan' and speaks of them here:\n- ")[1].split("\n")[0]
    assert "Warranty: 6 months" in shown and "36" not in shown
    assert "they answer: '6 months'. If that is right, give it: FINAL(6 months)" in told
    assert result.answer == "6"
    # the model gives 36 twice more (Qwen2.5-Coder-1.5B did, over its own printed 'Warranty: 6 months'): the
    # reading stands in its place
    with ScriptedServer({"root": reading_as("6 months", look, "FINAL(36)", around, "FINAL(36)")}) as server:
        result = make_rlm(server).completion(text, question)
    assert result.answer == "6 months"
    # with no reading, the output's record is shown when it is printed
    with ScriptedServer({"root": reading_as("NONE", look, "FINAL(36)", around, "FINAL(36)", "FINAL(6)")}) as server:
        result = make_rlm(server).completion(text, question)
        told = server.calls_to("root")[-1].prompt
    assert "The output you printed speaks of them here:\n- 'Warranty: 6 months'" in told
    assert result.answer == "6"
    # a reading that gives the refused answer again, or no answer, is not offered
    for reading in ("36", "NONE", "I cannot answer that from these lines."):
        with ScriptedServer({"root": reading_as(reading, look, "FINAL(36)", around, "FINAL(36)", "FINAL(6)")}) as server:
            result = make_rlm(server).completion(text, question)
            told = server.calls_to("root")[-1].prompt
        assert "Read in a new call" not in told and result.answer == "6"
