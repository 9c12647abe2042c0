"""Replies as real models write them, against the scripted server and a real kernel: reasoning
sections, replies cut by the token limit, fences without a language tag, FINAL_VAR of a name
that does not exist. Each is read as the protocol says and recorded in the trajectory."""

from __future__ import annotations

import pytest
from scripted_server import Call, Cut, ScriptedServer

from rlm import RLM, read_trajectory

CONTEXT = "The special magic number is 7311.\n" * 3


@pytest.fixture
def run(tmp_path):
    def go(root, sub=None):
        handlers = {"root": root, **({"sub": sub} if sub else {})}
        with ScriptedServer(handlers) as server:
            rlm = RLM(model="root", sub_model="sub", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                      notes=False, cache=False, retry_base_s=0.01)
            result = rlm.completion(CONTEXT, "What is the special magic number?")
            events = list(read_trajectory(result.trajectory_path))
            return result, events, server.calls_to("root")

    return go


def turns(*replies):
    def handler(call: Call):
        return replies[min(call.turn, len(replies) - 1)]
    return handler


def of(events, kind):
    return [e for e in events if e["event"] == kind]


def test_reasoning_is_not_acted_on_and_not_kept_in_the_history(run):
    result, events, calls = run(turns(
        "<think>Maybe just answer.\n```repl\nguess = 'wrong'\n```\nFINAL(1234)\n</think>\n"
        "I will look.\n```repl\nimport re\nn = re.search(r'number is (\\d+)', context).group(1)\n```",
        "FINAL_VAR(n)"))
    assert result.status == "ok" and result.answer == "7311"
    assert [c["code"] for c in of(events, "cell")] == ["import re\nn = re.search(r'number is (\\d+)', context).group(1)\n"]
    assert of(events, "reply_form")[0]["thinking_chars"] > 40
    assistant = [m["content"] for m in calls[1].messages if m["role"] == "assistant"]
    assert assistant and "<think>" not in assistant[0] and "I will look." in assistant[0]


@pytest.mark.parametrize("reply", [
    "<think>I am sure.\nFINAL(1234)\n```repl\nx = 1\n```",  # never closed: reasoning to the end
    "I am sure.\nFINAL(1234)\n```repl\nx = 1\n```\n</think>",  # the template ate the opening tag
])
def test_unclosed_or_headless_reasoning_is_reasoning(run, reply):
    result, events, _ = run(turns(reply, "FINAL(7311)"))
    assert result.answer == "7311" and not of(events, "cell")


def test_a_reply_cut_by_the_token_limit_runs_whole_blocks_only_and_is_told(run):
    cut = Cut("```repl\ny = '7311'\n```\nNow the long part:\n```repl\nfor line in context.splitlines():\n    pri")
    result, events, calls = run(turns(cut, "FINAL_VAR(y)"))
    assert result.status == "ok" and result.answer == "7311"
    assert [c["code"] for c in of(events, "cell")] == ["y = '7311'\n"]
    form = of(events, "reply_form")[0]
    assert form["cut_by_token_limit"] is True and form["open_block_not_run"] is True
    assert "cut off at the output token limit" in calls[1].prompt


def test_a_final_in_a_cut_reply_is_not_taken(run):
    result, events, calls = run(turns(Cut("FINAL(The number is 73"), "FINAL(7311)"))
    assert result.answer == "7311"
    assert of(events, "final_refused")[0]["reason"] == "reply cut by the token limit"
    assert "was not taken" in calls[1].prompt


def test_an_untagged_fence_runs_when_it_is_python_and_not_when_it_shows_output(run):
    result, events, calls = run(turns(
        "```\n42\n```\n```bash\nls /\n```\n```\nimport re\nn = re.findall(r'\\d+', context)[0]\n```",
        "FINAL_VAR(n)"))
    assert result.answer == "7311"
    assert [c["code"] for c in of(events, "cell")] == ["import re\nn = re.findall(r'\\d+', context)[0]\n"]
    assert of(events, "reply_form")[0]["untagged_blocks_run"] == 1


def test_final_var_of_a_missing_name_tells_the_model(run):
    result, events, calls = run(turns("FINAL_VAR(magic_number)", "```repl\nmagic_number = '7311'\nprint(magic_number)\n```",
                                      "FINAL_VAR(magic_number)"))
    assert result.answer == "7311" and result.iterations == 3
    assert "no variable named 'magic_number'" in calls[1].prompt
    assert of(events, "final_refused")[0]["reason"] == "FINAL_VAR(magic_number): no such variable"


def test_final_var_of_words_is_the_answer_as_final_would_be(run):
    """Seen with Qwen2.5-Coder-1.5B: `FINAL_VAR(sales-lakeview recovery code RC-56AS-3WCT)`, refused
    as no variable every turn until the budget ended the run. Words that are no name and no
    expression are the answer (FINAL_VAR of a string in code gives the string too); an
    expression still names what to read."""
    result, events, _ = run(turns("```repl\nprint(re.findall(r'number is (\\d+)', context)[0])\n```",
                                  "FINAL_VAR(the special magic number is 7311)"))
    assert result.status == "ok" and result.answer == "the special magic number is 7311"
    assert not of(events, "final_refused")
    from rlm.protocol import parse_reply

    assert (parse_reply("FINAL_VAR(rows[0] + 1)").final_kind, parse_reply("FINAL_VAR(total)").final_kind) == ("var", "var")
    assert parse_reply("FINAL_VAR(magic number 7311)").final_kind == "text"


def test_a_sub_call_answer_comes_back_without_its_reasoning(run):
    result, events, _ = run(turns("```repl\nr = llm_query('the number?')\n```", "FINAL_VAR(r)"),
                            sub=lambda call: "<think>7? no, 7311\n</think>\n\n7311")
    assert result.answer == "7311"
    assert of(events, "sub_call")[0]["reply"].startswith("<think>")  # the trajectory keeps it whole


def test_a_final_written_as_prose_in_a_code_block_is_the_marker_not_a_syntax_error(run):
    """Seen with a real 1.5B model: `FINAL(18 lines contain ERROR)` as a block, run into a
    SyntaxError turn after turn until the budget ended."""
    look = "```repl\nimport re\nm = re.search(r'number is (\\d+)', context)\nprint(m.group(1))\n```"
    result, events, _ = run(turns(look, "```repl\nFINAL(the number is 7311)\n```"))
    assert result.status == "ok" and result.answer == "the number is 7311"
    assert [e["check"] for e in of(events, "loop_check")] == ["marker_in_code"]
    assert len(of(events, "cell")) == 1  # the marker block did not run
    # a marker that is code runs in the kernel as before
    result, events, _ = run(turns(look, "```repl\nFINAL(m.group(1))\n```"))
    assert result.answer == "7311" and len(of(events, "cell")) == 2


def test_the_loops_own_notes_echoed_at_the_last_call_are_no_answer(run):
    """Seen with a real 1.5B model: asked for its best answer, it replied with the history's
    summary of a folded turn, which became the run's answer."""

    def root(call: Call) -> str:
        if "Stop:" in call.prompt:
            return "[turn 2 output folded: cell 2 printed 0 chars (Out[2])]"
        return "```repl\nprint(len(context))\n```"

    with ScriptedServer({"root": root}) as server:
        rlm = RLM(model="root", base_url=server.url, api_key="k", notes=False, cache=False, max_iterations=2)
        result = rlm.completion(CONTEXT, "What is the special magic number?")
    assert result.status == "max_iterations" and result.answer is None


LEDGER = ("issued recovery code RC-77AB for account sales-lakeview-2\n"
          "issued recovery code RC-12CD for account sales-lakeview\n") * 3


def ask(tmp_path, root, question="What recovery code was issued for the account sales-lakeview?"):
    with ScriptedServer({"root": root}) as server:
        rlm = RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
                  cache=False, retry_base_s=0.01)
        result = rlm.completion(LEDGER, question)
        return result, list(read_trajectory(result.trajectory_path)), server.calls_to("root")


LOOK = "```repl\nhits = [l for l in context.splitlines() if 'sales-lakeview' in l]\nprint(hits[:2])\n```"


def test_a_marker_block_whose_words_python_read_as_names_is_the_marker(tmp_path):
    """Seen with Qwen2.5-Coder-1.5B: `FINAL_VAR(sales-lakeview)` as a block, a NameError ('sales')
    three turns running; then it answered with the whole context. The words are the marker's;
    here the answer in them, `RC-12CD` (Python reads RC minus 12CD: a NameError too)."""
    result, events, calls = ask(tmp_path, turns(LOOK, "```repl\nFINAL(RC-12CD)\n```"))
    assert result.status == "ok" and result.answer == "RC-12CD" and result.iterations == 2
    assert [e["check"] for e in of(events, "loop_check")] == ["marker_in_code"]
    # a name that is no variable is said to be none; a marker around a failing call is code that failed
    result, events, calls = ask(tmp_path, turns(LOOK, "```repl\nFINAL_VAR(the_code)\n```",
                                                "```repl\nFINAL(len(nothing_here))\n```",
                                                "```repl\nFINAL(recovery_code - account_code)\n```", "FINAL(RC-12CD)"))
    assert result.answer == "RC-12CD" and result.iterations == 5
    assert "no variable named 'the_code'" in calls[2].prompt
    assert [e["reason"] for e in of(events, "final_refused")] == ["FINAL_VAR(the_code): no such variable"]
    assert "NameError: name 'nothing_here' is not defined" in calls[3].prompt
    # an expression of unknown names is code that failed, not words (the words support it: "recovery", "code")
    assert "NameError: name 'recovery_code' is not defined" in calls[4].prompt


def test_an_answer_that_only_repeats_the_questions_subject_is_questioned_once(tmp_path):
    result, events, calls = ask(tmp_path, turns(LOOK, "```repl\nFINAL_VAR(sales-lakeview)\n```", "FINAL(RC-12CD)"))
    assert result.status == "ok" and result.answer == "RC-12CD" and result.iterations == 3
    assert [e["reason"] for e in of(events, "final_refused")] == ["the answer is a name the question gives"]
    assert "is a name the question itself gives" in calls[2].prompt
    # "which of A or B" is answered by a name the question gives: not questioned
    result, events, _ = ask(tmp_path, turns(LOOK, "FINAL(sales-lakeview)"),
                            question="Which account got RC-12CD, sales-lakeview or north-ridge?")
    assert result.answer == "sales-lakeview" and not of(events, "final_refused")


def test_a_plain_answer_python_would_parse_is_not_run(run):
    # Qwen2.5-Coder-1.5B replied `5039-NIMBUS`, no fence, twice: run as Python, a NameError each time
    look = "```repl\nprint([l for l in context.splitlines() if 'magic' in l][:1])\n```"
    result, events, calls = run(turns(look, "7311-NIMBUS", "7311-NIMBUS"))
    assert [c["code"] for c in of(events, "cell")] == [look.split("\n", 1)[1].rsplit("```", 1)[0]]
    assert "NameError" not in calls[2].prompt and "NameError" not in calls[3].prompt  # read as prose
    from rlm.protocol import parse_reply
    assert parse_reply("Oldbury").code == [] and parse_reply("a - b").code == []
    assert parse_reply("print(hits)").code == ["print(hits)\n"]  # code that does something still runs
    assert parse_reply("x = 1").code == ["x = 1\n"]
