"""A value a cell borrowed from elsewhere, replaced by the one the question's subject points to
(rlm/borrowed_mend.py): alone, and in a run through a scripted server and a real kernel."""

from __future__ import annotations

import json

from scripted_server import ScriptedServer, script

from rlm import RLM, read_trajectory
from rlm.borrowed_mend import pointed_value, shape_of, with_value

USERS = [f"u-10{n:02d}" for n in range(30)]
ACTIONS = [("login_failed", "login", "push")[i % 3] if i % 29 != 13 or i % 4 else "login_failed" for i in range(900)]
EVENTS = [{"user": USERS[i % 29], "action": action, "resource": "lumen-api" if action == "push" else "fjord-web"}
          for i, action in enumerate(ACTIONS)]
EVENTS.insert(450, {"user": "u-1019", "action": "delete_repository", "resource": "lumen-api"})
LOG = "".join(json.dumps(e) + "\n" for e in [{"user": "u-1013", "action": "login", "resource": "x"}, *EVENTS])
QUESTION = ('The context is an audit log, one JSON event per line. Exactly one user deleted the repository '
            '"lumen-api". How many login_failed events does that user have in the whole log? Answer with the number only.')
GOLD = sum(1 for e in EVENTS if e["user"] == "u-1019" and e["action"] == "login_failed")
BORROWED = sum(1 for e in EVENTS if e["user"] == "u-1013" and e["action"] == "login_failed")


def test_a_shape_keeps_letters_and_counts_digits():
    assert shape_of("u-1013").findall("u-1019 u-10190 xu-1019 U-1019 u-999 u-2024") == ["u-1019", "u-2024"]
    assert shape_of("SKU-22826").pattern == r"(?<![\w-])SKU\-\d{5}(?![\w-])"


def test_the_value_is_read_where_the_subject_and_the_questions_words_meet():
    lines = LOG.splitlines()
    pointed = pointed_value("u-1013", "lumen-api", QUESTION, lines)
    assert pointed is not None and pointed.value == "u-1019" and '"delete_repository"' in pointed.line
    # no line names the subject with the question's words, or two values tie: none
    assert pointed_value("u-1013", "no-such-repo", QUESTION, lines) is None
    tied = [*lines, json.dumps({"user": "u-1021", "action": "delete_repository", "resource": "lumen-api"})]
    assert pointed_value("u-1013", "lumen-api", QUESTION, tied) is None
    assert pointed_value("lumen", "lumen-api", QUESTION, lines) is None  # no digits: no shape to read


def test_the_value_is_replaced_only_where_it_stands_whole():
    code = "hits = [l for l in lines if 'u-1013' in l and 'u-10130' not in l]  # u-1013"
    assert with_value(code, "u-1013", "u-1019") == \
        "hits = [l for l in lines if 'u-1019' in l and 'u-10130' not in l]  # u-1013"  # strings only
    # a value that also stands as a name is replaced in the strings alone
    assert with_value("import math\nprint(math.log10(2), [l for l in lines if 'log10' in l])", "log10", "log11") == \
        "import math\nprint(math.log10(2), [l for l in lines if 'log11' in l])"
    assert with_value("x = log10 + 1", "log10", "log11") is None  # not in a string
    assert with_value(code, "u-999", "u-1019") is None


def test_a_run_that_searched_a_borrowed_value_has_its_cell_run_again_with_the_pointed_one(tmp_path):
    look = ("```repl\nlines = context.splitlines()\n"
            "hits = [l for l in lines if 'u-1013' in l and 'login_failed' in l]\nprint(len(hits))\nprint(hits)\n```")
    with ScriptedServer({"root": script(look, f"FINAL({BORROWED})", f"FINAL({GOLD})")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=6,
                     runs_dir=tmp_path / "runs").completion(LOG, QUESTION)
        prompts = [c.prompt for c in server.calls_to("root")]
    trajectory = list(read_trajectory(result.trajectory_path))
    cells = [e for e in trajectory if e["event"] == "cell"]
    assert "'u-1019' in l and 'login_failed' in l" in cells[-1]["code"]
    assert cells[-1]["stdout"].splitlines()[0] == str(GOLD) != str(BORROWED)
    told = next(p for p in prompts if "was run again with 'u-1019' in place of 'u-1013'" in p)
    assert '"action": "delete_repository", "resource": "lumen-api"' in told
    assert [e["check"] for e in trajectory if e["event"] == "loop_check"].count("value_replaced") == 1
    assert result.answer == str(GOLD)


def test_a_cell_that_adds_to_an_earlier_cells_list_is_not_run_again(tmp_path):
    # run again with the pointed value, `hits.extend` would add its lines to the borrowed value's
    setup = "```repl\nlines = context.splitlines()\nhits = []\nprint(len(lines))\n```"
    look = ("```repl\nhits.extend(l for l in lines if 'u-1013' in l and 'login_failed' in l)\nprint(len(hits))\n"
            "print(hits)\n```")
    with ScriptedServer({"root": script(setup, look, f"FINAL({BORROWED})", f"FINAL({GOLD})")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=6,
                     runs_dir=tmp_path / "runs").completion(LOG, QUESTION)
    trajectory = list(read_trajectory(result.trajectory_path))
    printed = [e["stdout"].split("\n")[0] for e in trajectory if e["event"] == "cell"]
    assert str(BORROWED + GOLD) not in printed
    assert "value_replaced" not in [e["check"] for e in trajectory if e["event"] == "loop_check"]
    assert with_value("hits.extend(l for l in lines if 'u-1013' in l)", "u-1013", "u-1019") is None
    assert with_value("hits = []\nhits.extend(l for l in lines if 'u-1013' in l)", "u-1013", "u-1019") is not None
