"""Why a cell's search found nothing: its literal tests tried on the context's text
(rlm/pattern_probe.py), alone and in a run through a scripted server and a real kernel."""

from __future__ import annotations

import time

from scripted_server import ScriptedServer, script

from rlm import RLM, read_trajectory
from rlm.pattern_probe import empty_outcome, find_misses, line_tests, mended_code

LOG = "".join(
    f'10.0.0.{i % 250} - - [01/Mar/2024:00:00:{i % 60:02d} +0000] "GET /api/{"checkout" if i % 3 else "search"}/pay '
    f'HTTP/1.1" {500 if i % 7 == 0 else 200} 512 "-" "curl/8.5.0"\n' for i in range(300))
CSV = "date,store,category,sku,units,unit_price\n" + "".join(
    f"2024-01-{i % 28 + 1:02d},S-{i % 21},{'bath' if i % 4 == 0 else 'garden'},K{i},{i % 9},{i % 97}.50\n"
    for i in range(400))


def notes(code: str, text: str) -> list[str]:
    return [f"{m.source} {m.note}" for m in find_misses(line_tests(code), text, cut_short=False)]


def test_a_regex_that_matches_nothing_is_shown_where_its_start_matches_and_what_follows():
    code = ("import re\nn = 0\nfor line in context.splitlines():\n"
            "    m = re.search(r'HTTP/1.1 (\\d{3})', line)\n    if m and m.group(1).startswith('5'):\n        n += 1\nprint(n)")
    [said] = notes(code, LOG)
    assert said.startswith("re.search(r'HTTP/1.1 (\\d{3})', line) matches nothing")
    assert "Its start r'HTTP/1.1' matches" in said and "goes on '\" 500 512" in said
    assert "r' (\\d{3})'" in said and "10.0.0.0 - - [01/Mar/2024" in said
    assert "With the characters between allowed, r'HTTP/1.1\\W*(\\d{3})' matches, e.g. 'HTTP/1.1\" 500'" in said


def test_a_pattern_bound_to_a_name_and_its_flags_are_read():
    code = "import re\npat = r'\"get /api'\nprint(len(re.findall(pat, context, flags=re.I)))"
    assert notes(code, LOG) == []  # matches once the case is ignored
    [said] = notes("import re\npat = r'\"get /api'\nprint(len(re.findall(pat, context)))", LOG)
    assert said.startswith("re.findall(pat, context) matches nothing. Its start r'\"' matches")


def test_tests_joined_by_and_are_counted_one_at_a_time():
    code = ("rows = context.splitlines()\nhits = [r for r in rows if 'store' in r and 'S-19' in r and 'bath' in r]\n"
            "print(max(float(r.split(',')[5]) for r in hits))")
    [said] = notes(code, CSV)
    assert "no line passes them all" in said
    assert "'store' in r: 1 line (the first: 'date,store,category,sku,units,unit_price')" in said
    assert "with 'S-19' in r: 0 lines" in said
    rows = CSV.splitlines()
    alone = (sum("S-19" in r for r in rows), sum("bath" in r for r in rows))
    assert f"Alone, lines passing 'S-19' in r: {alone[0]}; 'bath' in r: {alone[1]}." in said
    assert notes("hits = [r for r in context.splitlines() if 'S-19' in r and 'bath' in r]\nprint(hits)", CSV) == []


def test_re_match_that_matches_only_inside_lines_is_told_so():
    [said] = notes("import re\nprint([l for l in context.splitlines() if re.match(r'GET /api', l)])", LOG)
    assert "matches no line as re.match reads it" in said and "but it does match inside one" in said


def test_a_substring_test_that_passes_with_the_case_ignored_is_told_so():
    [said] = notes("print(sum(1 for l in context.splitlines() if 'get /api' in l))", LOG)
    assert "no line passes it as written, but it does with the case ignored" in said
    assert notes("print(sum(1 for l in context.splitlines() if 'get /api' in l.lower()))", LOG) == []


def test_tests_that_find_something_or_span_lines_say_nothing():
    assert notes("import re\nprint(re.findall(r'\" (5\\d\\d) ', context))", LOG) == []
    assert notes("print('curl/8.5.0\"\\n10.0.0.1' in context)", LOG) == []
    assert line_tests("print(len(context))") == [] and line_tests("def (") == []


def test_a_pattern_that_backtracks_for_ever_is_stopped_in_time():
    start = time.monotonic()
    found = find_misses(line_tests("import re\nprint(re.findall(r'(x+x+)+y', context))"), "x" * 50_000,
                        cut_short=False, seconds=0.5)
    assert time.monotonic() - start < 3 and found == []


def test_an_empty_outcome_is_a_printed_nothing_or_an_error_of_one():
    assert empty_outcome("0\n", None) and empty_outcome("count: 0", None) and empty_outcome("[]", None)
    assert empty_outcome("defaultdict(<class 'int'>, {})", None) and empty_outcome("{}\n", None)
    assert empty_outcome("", "Traceback (most recent call last):\nValueError: max() arg is an empty sequence")
    assert not empty_outcome("12\n", None) and not empty_outcome("", "Traceback:\nNameError: name 'x' is not defined")
    assert not empty_outcome("['a', 'b']", None)


def test_a_run_is_told_why_its_search_found_nothing(tmp_path):
    wrong = "```repl\nimport re\nprint(len(re.findall(r'HTTP/1.1 5\\d\\d', context)))\n```"
    right = "```repl\nimport re\nhits = re.findall(r'HTTP/1.1\" 5\\d\\d', context)\nprint(len(hits), hits[:2])\n```"
    with ScriptedServer({"root": script(wrong, right, "FINAL(43)")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=4,
                     runs_dir=tmp_path / "runs").completion(LOG, "How many requests got a 5xx status?")
        told, after = server.calls_to("root")[1].prompt, server.calls_to("root")[2].prompt
    assert "Your code found nothing." in told and "Its start r'HTTP/1.1' matches" in told
    # the cell itself, mended, to run; and not told to finish on its 0
    assert ("This is your code, changed so that its test matches the text:\n```repl\nimport re\n"
            "print(len(re.findall(r'HTTP/1.1\\W*5\\d\\d', context)))\n```\nRun it as it is") in told
    assert "Your code found nothing: run the code the note above gives" in told
    assert "finish now" not in told.split("[now]")[-1] and "finish now" in after.split("[now]")[-1]
    assert "Your code found nothing" not in after.split("[cell 2]")[-1]
    checks = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "loop_check"]
    assert [c["count"] for c in checks if c["check"] == "pattern_miss"] == [1]
    assert result.answer == "43"


def test_a_cell_is_mended_only_where_the_change_is_one_plain_replacement():
    code = "import re\nprint(len(re.findall(r'HTTP/1.1 (\\d{3})', context)))"
    misses = find_misses(line_tests(code), LOG, cut_short=False)
    assert mended_code(code, misses) == "import re\nprint(len(re.findall(r'HTTP/1.1\\W*(\\d{3})', context)))"
    twice = code + "\nprint(re.findall(r'HTTP/1.1 (\\d{3})', context)[:3])"
    assert mended_code(twice, find_misses(line_tests(twice), LOG, cut_short=False)) is None
    no_bridge = "import re\nprint(re.findall(r'zzz (\\d{3})', context))"
    assert mended_code(no_bridge, find_misses(line_tests(no_bridge), LOG, cut_short=False)) is None


def test_tests_joined_by_and_are_mended_by_leaving_out_those_that_pass_only_a_header():
    code = ("rows = context.splitlines()\nhits = [r for r in rows if 'store' in r and 'category' in r and 'S-19' in r]\n"
            "print(max(float(r.split(',')[5]) for r in hits))")
    misses = find_misses(line_tests(code), CSV, cut_short=False)
    assert "Without the tests that pass at most one line alone" in misses[0].note
    assert mended_code(code, misses) == code.replace("'store' in r and 'category' in r and ", "")
    # an `and` that holds more than tests is not rewritten (its other parts would be lost)
    other = "hits = [r for r in context.splitlines() if len(r) > 3 and 'store' in r and 'S-19' in r]\nprint(hits)"
    assert mended_code(other, find_misses(line_tests(other), CSV, cut_short=False)) is None


def test_a_cell_run_again_over_the_notes_mended_cell_has_the_mended_cell_run_after_it(tmp_path):
    wrong = "```repl\nimport re\nprint(len(re.findall(r'HTTP/1.1 5\\d\\d', context)))\n```"
    with ScriptedServer({"root": script(wrong, wrong, wrong, "FINAL(43)")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=5,
                     runs_dir=tmp_path / "runs").completion(LOG, "How many requests got a 5xx status?")
        second, third = server.calls_to("root")[2].prompt, server.calls_to("root")[3].prompt
    cells = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "cell"]
    assert [c["code"] for c in cells].count("import re\nprint(len(re.findall(r'HTTP/1.1\\W*5\\d\\d', context)))\n") == 1
    assert [c["stdout"].strip() for c in cells] == ["0", "0", "43", "0"]
    assert "the changed code the note gave for it was run after it" in second and "43" in second.split("[now]")[-2]
    assert "was run after it" not in third.split("[cell 4]")[-1]  # run for the model once only
    assert result.answer == "43"
