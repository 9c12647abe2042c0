"""The question's terms a cell's line filter left out (rlm/question_terms.py): read from the
question, added to the cell's first filtering loop, and run through a scripted server and a real kernel."""

from __future__ import annotations

import re

from scripted_server import ScriptedServer, script

from rlm import RLM, read_trajectory
from rlm.question_terms import asking_sentence, question_terms, term_mend

PATHS = ("/api/checkout/pay", "/api/search", "/login", "/api/checkout", "/static/app.js")
LOG = "".join(
    f'10.0.0.{i % 250} - - [01/Mar/2024:00:00:{i % 60:02d} +0000] "GET {PATHS[i % 5]} HTTP/1.1" '
    f'{503 if i % 7 == 0 else 200} 512 "-" "curl/8.5.0"\n' for i in range(700))
FIVE_XX = sum(1 for line in LOG.splitlines() if '" 503 ' in line)
CHECKOUT_5XX = sum(1 for line in LOG.splitlines() if '" 503 ' in line and "/api/checkout" in line)
QUESTION = ("The context is a web server access log, one request per line. How many requests for paths starting "
            "with /api/checkout got a 5xx status (500 to 599)? Answer with the number only.")
INCIDENTS = "\n".join(
    f"Incident INC-{1000 + i}: {'checkout' if i % 2 else 'billing'} outage on {i % 28 + 1} {month} 2024\n"
    f"The root cause was cause number {i}.\n"
    for i, month in enumerate(["March", "April", "May", "June", "July", "December"] * 12))


def test_terms_are_read_from_the_sentence_that_asks():
    assert question_terms(QUESTION) == ["/api/checkout", "5xx"]
    assert question_terms("The context is an incident log. Why did the checkout outage on 1 December 2024 "
                          "happen?") == ["1 December 2024"]
    assert question_terms('Count the events where the user is "u-17" and the level is ERROR.') == ["u-17", "ERROR"]
    # the sentence that sets a two-step question up names the first step's key, not the count's
    assert question_terms("Find the agent of ticket T-77762. How many tickets with priority high does that "
                          "agent have in total?") == []
    assert asking_sentence("Find the agent of ticket T-7. How many does the agent have?") == \
        " How many does the agent have?"
    # a date that bounds a range, a number, plain words: no terms
    assert question_terms("How many units were sold in March 2024 (dates 2024-03-01 to 2024-03-31)?") == []
    assert question_terms("How many errors were logged after 1 May 2024?") == []
    assert question_terms("How many lines have a latency of 2000 or more?") == []
    assert question_terms("To which city did Ottilie Crane move her laboratory?") == []


def test_a_loop_that_left_out_the_questions_term_gets_it_first_in_its_body():
    code = ("import re\nn = 0\nfor line in context.splitlines():\n    # the status of /api/checkout\n"
            "    m = re.search(r'HTTP/1.1\\W*(\\d{3})', line)\n    if m and m.group(1).startswith('5'):\n"
            "        n += 1\nprint(n)")
    mend = term_mend(code, QUESTION, LOG.splitlines())
    assert mend is not None and mend.term == "/api/checkout" and mend.test == "'/api/checkout' in line"
    assert (mend.before, mend.after) == (700, 280)
    assert "for line in context.splitlines():\n    if '/api/checkout' not in line:\n        continue\n    m = " in mend.code
    namespace: dict[str, object] = {"context": LOG}
    exec(compile(mend.code, "<cell>", "exec"), namespace)  # the mended cell is plain Python that runs
    assert namespace["n"] == CHECKOUT_5XX != FIVE_XX


def test_a_comprehension_that_left_out_the_questions_date_gets_one_more_if():
    code = ("lines = context.splitlines()\nhits = [i for i, line in enumerate(lines) if 'checkout outage' in line]\n"
            "print(len(hits))\nfor i in hits[:5]:\n    print(lines[i:i + 2])")
    mend = term_mend(code, "Why did the checkout outage on 2 December 2024 happen?", INCIDENTS.splitlines())
    # the 12th and the 22nd are not the 2nd
    assert mend is not None and mend.term == "2 December 2024" and mend.after == 1
    assert mend.code.startswith("import re\n")
    assert "if 'checkout outage' in line if re.search('(?<!\\\\d)2 December 2024(?!\\\\d)', line)]" in mend.code
    namespace: dict[str, object] = {"context": INCIDENTS}
    exec(compile(mend.code, "<cell>", "exec"), namespace)
    assert namespace["hits"] == [i for i, line in enumerate(INCIDENTS.splitlines()) if " on 2 December 2024" in line]


def test_no_mend_where_the_term_is_tested_or_would_change_nothing_or_leave_nothing():
    lines = LOG.splitlines()
    tested = "print(sum(1 for line in context.splitlines() if '/API/CHECKOUT' in line.upper() and '503' in line))"
    assert term_mend(tested, QUESTION, lines) is None  # named in the code already (any case)
    every = "print(sum(1 for line in context.splitlines() if 'HTTP' in line))"
    assert term_mend(every, "How many lines hold 'HTTP/1.1'?", lines) is None  # every line that passes holds it
    none = "print(sum(1 for line in context.splitlines() if '/login' in line))"
    assert term_mend(none, QUESTION, lines) is None  # no line passes both: the count would be 0
    unfiltered = "print(len(context.splitlines()))"
    assert term_mend(unfiltered, QUESTION, lines) is None  # no loop that tests its lines
    assert term_mend("print(", QUESTION, lines) is None  # no syntax


def test_a_run_has_a_count_that_left_out_the_questions_path_run_again_with_it(tmp_path):
    count = ("```repl\nimport re\nn = 0\nfor line in context.splitlines():\n"
             "    m = re.search(r'HTTP/1.1\\W*(\\d{3})', line)\n    if m and m.group(1).startswith('5'):\n"
             "        n += 1\nprint(n)\nanswer['content'] = str(n)\nanswer['ready'] = True\n```")
    with ScriptedServer({"root": script(count, f"FINAL({CHECKOUT_5XX})")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=4,
                     runs_dir=tmp_path / "runs").completion(LOG, QUESTION)
        told = server.calls_to("root")[1].prompt
    cells = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "cell"]
    assert [c["stdout"].strip() for c in cells] == [str(FIVE_XX), str(CHECKOUT_5XX)]
    assert "if '/api/checkout' not in line:\n        continue" in cells[1]["code"]
    assert "The question names '/api/checkout', and your code's filter did not test it" in told
    assert "an answer your code set in the same cell was not taken" in told
    # no count of lines in the note: a real model answered with one instead of the cell's output
    note = told[told.index("The question names"):told.index("[now]")]
    assert re.findall(r"\d+", note.replace("/api/checkout", "")) == ["2"]  # the mended cell's number only
    checks = [e["check"] for e in read_trajectory(result.trajectory_path) if e["event"] == "loop_check"]
    assert checks.count("term_added") == 1
    assert result.answer == str(CHECKOUT_5XX)  # the cell's own answer (all 5xx) did not end the run


CODES = [f"S-{n} 503" for n in (19, 190, 2)] * 10
CODE_QUESTION = "How many lines have status 503 and code S-19?"


def test_a_mended_cell_that_imports_from_future_still_compiles():
    code = ("from __future__ import annotations\nimport re\nn = 0\nfor line in context.splitlines():\n"
            "    if re.search('503', line):\n        n += 1\nprint(n)")
    mend = term_mend(code, CODE_QUESTION, CODES)
    assert mend is not None and mend.code.startswith("from __future__ import annotations\nimport re\n")
    namespace: dict[str, object] = {"context": "\n".join(CODES)}
    exec(compile(mend.code, "<cell>", "exec"), namespace)
    assert namespace["n"] == 10


def test_no_regex_term_test_where_the_cell_binds_re_itself():
    for binding in ("re = context.splitlines()\n", "import regex as rx, json as re\n", "from mod import re\n", "def re(x):\n    return x\n",
                    "for re in range(1):\n    pass\n"):
        code = (binding + "n = 0\nfor line in context.splitlines():\n    if '503' in line:\n        n += 1\nprint(n)")
        assert term_mend(code, CODE_QUESTION, CODES) is None, binding
    code = "import re\nn = 0\nfor line in context.splitlines():\n    if '503' in line:\n        n += 1\nprint(n)"
    assert term_mend(code, CODE_QUESTION, CODES) is not None  # its own `import re` is no other binding
    # the code's term is left for the question's next term, with its own test only
    code = "re = 0\nn = 0\nfor line in context.splitlines():\n    if '503' in line:\n        n += 1\nprint(n)"
    mend = term_mend(code, "How many lines have code S-19 and path /api?", [f"{c} /api" for c in CODES] + CODES)
    assert mend is not None and mend.term == "/api" and "search" not in mend.code


def test_no_term_test_of_a_name_that_is_not_the_loops_line():
    # `for self.x in lines` walks lines into an attribute: `self` is no line to test
    for target in ("self.x", "d['k']", "d[i]"):
        code = f"n = 0\nfor {target} in lines:\n    if '503' in {target.split('.')[0].split('[')[0]}:\n        n += 1"
        assert term_mend(code, QUESTION, LOG.splitlines()) is None, target


def test_a_cell_that_adds_to_an_earlier_cells_list_is_not_run_again(tmp_path):
    # run again, `hits.append` adds the filtered lines to the ones its first run left: 100 + 40 = 140
    setup = "```repl\nimport re\nhits = []\nprint('ready')\n```"
    loop = ("```repl\nfor line in context.splitlines():\n    m = re.search(r'HTTP/1.1\\W*(\\d{3})', line)\n"
            "    if m and m.group(1).startswith('5'):\n        hits.append(line)\nprint(len(hits))\n```")
    with ScriptedServer({"root": script(setup, loop, f"FINAL({CHECKOUT_5XX})")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=4,
                     runs_dir=tmp_path / "runs").completion(LOG, QUESTION)
    cells = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "cell"]
    assert str(FIVE_XX + CHECKOUT_5XX) not in [c["stdout"].strip() for c in cells]
    assert [c["stdout"].strip() for c in cells] == ["ready", str(FIVE_XX)]
    # the same loop with its own list is run again with the term
    own = "hits = []\n" + loop.removeprefix("```repl\n").removesuffix("```")
    assert term_mend(own, QUESTION, LOG.splitlines()) is not None
    for changes in ("n += 1", "counts[line] += 1", "seen.add(line)", "hits.extend([line])"):
        code = f"for line in context.splitlines():\n    if '503' in line:\n        {changes}\nprint(1)"
        assert term_mend(code, QUESTION, LOG.splitlines()) is None, changes
        assert term_mend("n = 0\ncounts = {}\nseen = set()\nhits = []\n" + code, QUESTION, LOG.splitlines()) is not None


def test_no_answer_of_the_reply_whose_cell_was_run_again_is_taken(tmp_path):
    # the reply's FINAL, FINAL_VAR(n) (now the mended cell's n) or a later block's answer: all given
    # before the model read the mended cell's output; taken, even with the answer checks off
    count = ("```repl\nimport re\nn = 0\nfor line in context.splitlines():\n"
             "    m = re.search(r'HTTP/1.1\\W*(\\d{3})', line)\n    if m and m.group(1).startswith('5'):\n"
             "        n += 1\nprint(n)\n```\n")
    later = "```repl\nanswer['content'] = str(n)\nanswer['ready'] = True\n```"
    for reply in (count + f"FINAL({FIVE_XX})", count + "FINAL_VAR(n)", count + later):
        with ScriptedServer({"root": script(reply, "FINAL(41)")}) as server:
            result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=4,
                         answer_check=False, runs_dir=tmp_path / "runs").completion(LOG, QUESTION)
        trajectory = list(read_trajectory(result.trajectory_path))
        assert [e["check"] for e in trajectory if e["event"] == "loop_check"].count("term_added") == 1
        assert result.answer == "41", reply


def test_no_term_test_on_the_words_of_a_line():
    # the term is tried on whole lines; a loop over a line's words is no place for it
    code = ("n = 0\nfor line in context.splitlines():\n    for w in line.split():\n        if 'HTTP' in w:\n"
            "            n += 1\nprint(n)")
    assert term_mend(code, QUESTION, LOG.splitlines()) is None
