"""The scripts of examples/ run as a user runs them (a subprocess, its settings from the
environment: OPENAI_BASE_URL, OPENAI_API_KEY, RLM_MODEL) against the scripted server, whose
replies are the code a model would write; each must end with status ok and print what it says."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from conftest import REPO, cli_env
from scripted_server import Call, ScriptedServer

EXAMPLES = REPO / "examples"
SCRIPTS = ["session_followups.py", "user_tools.py", "typed_answer.py", "named_models.py", "mcp_tools.py",
           "evidence.py"]


def question_of(call: Call) -> str:
    return call.messages[1]["content"].split("Question: ", 1)[1].split("\n", 1)[0]


def replies(by_question: dict[str, list[str]]) -> Callable[[Call], str]:
    """A root handler: for the question that starts with a key, its replies in turn (the last
    one repeats); a reply is a cell of code, sent in a ```repl block, unless it is a FINAL. The
    notes turn at a run's end gets an empty block (nothing to keep)."""

    def handler(call: Call) -> str:
        if "leave notes for future runs" in call.prompt:
            return "```repl\n```"
        question = question_of(call)
        script = next(v for k, v in by_question.items() if question.startswith(k))
        reply = script[min(call.turn, len(script) - 1)]
        return reply if reply.startswith("FINAL") else f"```repl\n{reply}\n```"

    return handler


def run_example(script: str, server: ScriptedServer, tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = cli_env(tmp_path / "home", key="k", OPENAI_BASE_URL=server.url, RLM_MODEL="root", **env)
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{script} exited {done.returncode}\n{done.stdout}\n{done.stderr[-4000:]}"
    return done


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_example_is_short_and_says_how_to_run_it(script):
    text = (EXAMPLES / script).read_text()
    assert len(text.splitlines()) < 60
    assert text.startswith('"""') and f"python examples/{script}" in text
    assert script in (EXAMPLES / "README.md").read_text()


def test_session_followups(tmp_path):
    root = replies({
        "How many ERROR": ["errors = [l for l in context.splitlines() if 'ERROR' in l]\nprint(len(errors))", "FINAL(4)"],
        "Which service logged the first": ["first = errors[0].split()[1]\nprint(first)", "FINAL(db)"],
        "Which service logged the most": [  # `errors` is back: the reopened session replayed the first ask
            "most = collections.Counter(l.split()[1] for l in errors).most_common(1)[0][0]\nprint(most)", "FINAL(db)"],
    })
    with ScriptedServer({"root": root}) as server:
        out = run_example("session_followups.py", server, tmp_path).stdout.splitlines()
        asked = [question_of(c) for c in server.calls_to("root") if c.turn == 0]
    assert out[:3] == ["1. 4 [ok]", "2. db [ok]", "variables: answer, context, errors, first"]
    assert out[3:] == ["earlier: ['How many ERROR lines are there?', "
                       "'Which service logged the first of those errors?']", "3. db [ok]"]
    assert len(asked) == 3  # the replay asked the model nothing


def test_user_tools(tmp_path):
    cell = ("total = 0\nfor line in context.splitlines():\n    n, fruit = line.split(': ')[1].split()\n"
            "    total += int(n) * unit_price(fruit)\nprint(round(total, 2))")
    with ScriptedServer({"root": replies({"What do all": [cell, "FINAL(6.5)"]})}) as server:
        out = run_example("user_tools.py", server, tmp_path).stdout.splitlines()
        system = server.calls_to("root")[0].system
    assert "`unit_price(fruit: str) -> float`: The price of one fruit in USD." in system
    assert out[0] == "answer: 6.5 [ok]"
    assert out[1:] == ['tool call: unit_price {"args": ["apple"], "kwargs": {}} -> 0.5',
                       'tool call: unit_price {"args": ["plum"], "kwargs": {}} -> 0.3',
                       'tool call: unit_price {"args": ["pear"], "kwargs": {}} -> 0.75']


def test_typed_answer(tmp_path):
    root = replies({"Which service": [
        "rows = [l.split() for l in context.splitlines()]\ndb = [r for r in rows if r[1] == 'db']\n"
        "out = {'service': 'db', 'errors': f'{len(db)} times', 'days': sorted(set(r[0] for r in db))}\nprint(out)",
        "FINAL_VAR(out)",  # refused: `errors` is no integer
        "out['errors'] = len(db)\nprint(out)",
        "FINAL_VAR(out)",
    ]})
    with ScriptedServer({"root": root}) as server:
        out = run_example("typed_answer.py", server, tmp_path).stdout.splitlines()
        told = [c.prompt for c in server.calls_to("root") if "does not fit" in c.prompt]
    assert len(told) == 1 and "at errors: Input should be a valid integer" in told[0]
    assert out == ["status: ok", "service: db", "errors: 3", "days: 2026-01-01, 2026-01-02, 2026-01-03"]


def test_evidence(tmp_path):
    root = replies({"Which service failed": [
        "m = re.search(r'.*FAILED: .*', context)\nprint(cite(m))",
        "FINAL(db: disk full [E1])",
    ]})
    with ScriptedServer({"root": root}) as server:
        out = run_example("evidence.py", server, tmp_path).stdout.splitlines()
    assert out == ["status: ok", "answer: db: disk full [E1]", "  [E1] db.log, line 2: '10:04 db FAILED: disk full'"]


def test_named_models(tmp_path):
    cell = ("short = [llm_query('Summarise in a few words: ' + r, model='skim') for r in context]\n"
            "verdict = llm_query('Are they happy overall, yes or no? ' + '; '.join(short), model='judge')\n"
            "print(short, verdict)")
    with ScriptedServer({"root": replies({"Summarise each": [cell, "FINAL(no)"]}),
                         "nano": lambda call: "a short summary"}) as server, \
            ScriptedServer({"big": lambda call: "no"}) as judge_server:
        done = run_example("named_models.py", server, tmp_path, RLM_SKIM_MODEL="nano", RLM_JUDGE_MODEL="big",
                           RLM_JUDGE_BASE_URL=judge_server.url, RLM_JUDGE_API_KEY="judge-key")
        judged = judge_server.calls_to("big")
    out = done.stdout.splitlines()
    assert out[0] == "answer: no [ok]"
    assert [line.split(":")[0] for line in out[1:]] == ["root", "skim", "judge"]
    assert out[2].startswith("skim: 3 calls") and out[3].startswith("judge: 1 calls")
    assert out[3].endswith("no price")  # `big` is in no price table, and the example gives it none
    assert [c.headers.get("authorization") for c in judged] == ["Bearer judge-key"]


def test_mcp_tools(tmp_path):
    cell = "out = [l.split()[1] for l in context.splitlines() if stock(l.split()[1]) == 0]\nprint(out)"
    with ScriptedServer({"root": replies({"Which items": [cell, "FINAL(pear)"]})}) as server:
        out = run_example("mcp_tools.py", server, tmp_path).stdout.splitlines()
        system = server.calls_to("root")[0].system
    assert "`stock(item: string)`: How many of an item are in stock" in system
    assert out == ["answer: pear [ok]"]
