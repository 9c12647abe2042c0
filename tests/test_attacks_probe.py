"""Hostile cells and contexts against the host's search probe (rlm/pattern_probe.py) and the
answer checks' namesake tests: no host memory blow-up, no seconds of host CPU, no mended cell
that differs from the model's own beyond the one change."""

from __future__ import annotations

import time

from rlm import pattern_probe
from rlm.namesakes import read_off_topic
from rlm.pattern_probe import Group, find_misses, line_tests, mended_code


def test_a_pattern_whose_fixed_counts_unroll_is_never_compiled_on_the_host() -> None:
    # regex.compile writes out fixed counts: (?:a{65535}){65535} takes the host's memory (tens of GB),
    # before any time limit applies; (?:a{700}){700} is ~130 MB
    code = "import re\nhits = [l for l in lines if re.search(r'(?:a{65535}){65535}', l)]\nprint(len(hits))"
    assert line_tests(code) == []
    big = pattern_probe.Test("regex", "(?:a{700}){700}", 0, "", "re.search(r'(?:a{700}){700}', l)")
    assert find_misses([Group([big])], "abc\n" * 10, cut_short=False) == []
    # an ordinary pattern with counts is still tried
    code = "import re\nhits = re.findall(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}', context)\nprint(len(hits))"
    assert len(line_tests(code)) == 1


def test_substring_tests_joined_by_and_stop_at_the_probe_time() -> None:
    code = ("n = 0\nfor line in lines:\n    if " + " and ".join(["'a' in line.lower()"] * 7 + ["'zz' in line"])
            + ":\n        n += 1\nprint(n)")
    start = time.monotonic()
    find_misses(line_tests(code), "a\n" * 300_000, cut_short=False, seconds=0.1)
    assert time.monotonic() - start < 1.0


def test_a_long_cell_is_read_for_its_tests_in_linear_time() -> None:
    code = "\n".join(f"x{i} = f(a{i}, b{i}, c{i})" for i in range(600)) + "\nok = 'q' in line\n"
    start = time.monotonic()
    groups = line_tests(code)
    assert time.monotonic() - start < 1.0
    assert [t.source for g in groups for t in g.tests] == ["'q' in line"]


def test_tests_left_in_a_mended_cell_are_as_the_model_wrote_them() -> None:
    text = "store,item\n" + "S-19,x  y\n" * 5
    code = "rows = context.splitlines()\nhits = [r for r in rows if 'store' in r and 'x  y' in r]\nprint(len(hits))"
    mended = mended_code(code, find_misses(line_tests(code), text, cut_short=False))
    assert mended == "rows = context.splitlines()\nhits = [r for r in rows if 'x  y' in r]\nprint(len(hits))"
    long = "x" * 170  # a test longer than its shown form (cut with "...")
    text = "store,item\n" + f"S-19,{long}\n" * 5
    code = f"hits = [r for r in rows if 'store' in r and '{long}' in r]\nprint(len(hits))"
    mended = mended_code(code, find_misses(line_tests(code), text, cut_short=False))
    assert mended == f"hits = [r for r in rows if '{long}' in r]\nprint(len(hits))"
    compile(mended, "<mended>", "exec")


def test_read_off_topic_passes_once_over_the_pieces_whatever_the_question_s_words() -> None:
    question = "To which city did Ottilie Crane move her laboratory? " + " ".join(
        f"Ottilie Crane word{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}x" for i in range(400))
    seen = "Ottilie Crane: Vellin\n" * 30_000
    start = time.monotonic()
    found = read_off_topic("Vellin", question, seen, names=True)
    assert time.monotonic() - start < 1.0
    assert found is not None and found[0] == "Ottilie Crane"


def test_a_term_mend_stops_at_its_time_and_reads_only_a_questions_head() -> None:
    from rlm.borrowed_mend import pointed_value
    from rlm.question_terms import question_terms, term_mend

    # a backtracking test over long lines, eight terms to try: the whole try is bounded by one limit
    lines = ["a" * 5000 + "b term-1 T-2 X-3 Y-4 Z-5 W-6 V-7 U-8"] * 2000 + ["c"] * 2000
    question = "How many lines hold " + ", ".join(f"'{t}'" for t in ["term-1", "T-2", "X-3", "Y-4", "Z-5", "W-6", "V-7", "U-8"]) + "?"
    code = "import re\nprint(sum(1 for line in context.splitlines() if re.search(r'(a+)+$', line)))"
    start = time.monotonic()
    assert term_mend(code, question, lines, seconds=0.3) is None
    assert time.monotonic() - start < 2.0
    # a question of megabytes: its terms come from its head only
    start = time.monotonic()
    terms = question_terms("How many 'x-1' lines? " + "Is T-9 there? " * 500_000)
    assert time.monotonic() - start < 2.0 and len(terms) <= 8
    # a borrowed value over 2 MB of lines naming the subject: linear
    start = time.monotonic()
    many = [f'{{"user": "u-{i % 9999:04d}", "action": "delete_repository", "resource": "lumen-api"}}'
            for i in range(25_000)]
    assert pointed_value("u-1013", "lumen-api", 'Exactly one user deleted "lumen-api". How many?', many) is None
    assert time.monotonic() - start < 3.0


def test_compiling_a_cells_many_patterns_stops_at_the_probe_time() -> None:
    from rlm.question_terms import term_mend

    # ~120 distinct patterns under MAX_UNROLLED that each take ~0.1 s to compile (\X): 20 s of host CPU
    # for one cell of 4,000 characters, before any search's time limit applies
    code = "for line in lines:\n    if '503' in line:\n        n += 1\n"
    for n in range(200):
        pattern = f"(?:\\X{{{200 + n % 30}}}){{{200 + n // 30}}}"
        if pattern_probe._unrolled(pattern, 0) <= pattern_probe.MAX_UNROLLED and len(code) < 3950:
            code += f"re.search(r'{pattern}',l)\n"
    lines = ["GET /api/checkout 503", "GET /login 503"] * 10
    start = time.monotonic()
    term_mend(code, "How many requests for /api/checkout got a 503?", lines, seconds=0.3)
    assert time.monotonic() - start < 1.5
    start = time.monotonic()
    line_tests(code, time.monotonic() + 0.3)
    assert time.monotonic() - start < 1.5


def test_a_pattern_whose_flags_clash_kills_no_run(tmp_path) -> None:
    # regex.compile raises ValueError (not regex.error) for (?au): the cell's tests are read on the host
    # for the term mend (a cell that printed) and the search probe (a cell that found nothing)
    from scripted_server import ScriptedServer, script

    from rlm import RLM
    from rlm.question_terms import term_mend

    code = ("def f(line):\n    return re.search(r'(?au)x', line)\n"
            "n = 0\nfor line in context.splitlines():\n    if '503' in line:\n        n += 1\nprint(n)")
    assert term_mend(code, "How many lines for /api/checkout?", ["/api/checkout 503", "/login 503"]) is not None
    assert [t.kind for g in line_tests(code) for t in g.tests] == ["in"]  # the pattern is not tried
    log = "/api/checkout 503\n/login 503\n" * 20
    empty = "```repl\nimport re\nprint(len([l for l in context.splitlines() if re.search(r'(?au)x', l)]))\n```"
    with ScriptedServer({"root": script(f"```repl\n{code}\n```", empty, "FINAL(20)")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=4,
                     runs_dir=tmp_path / "runs").completion(log, "How many lines for /api/checkout got a 503?")
    assert result.answer == "20"
