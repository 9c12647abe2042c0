"""The real-model bench names failure modes from a run's trajectory: a scripted model makes
the mistakes a real one made, through a real server and kernel, and each is named."""

from __future__ import annotations

from scripted_server import ScriptedServer, script

from benchmarks.real_model.failures import classify
from rlm import RLM


def run(tmp_path, *replies: str, sub=None):
    handlers = {"root": script(*replies)}
    if sub is not None:
        handlers["sub"] = sub
    with ScriptedServer(handlers) as server:
        return RLM(model="root", sub_model="sub", base_url=server.url, api_key="k", notes=False,
                   runs_dir=tmp_path / "runs", max_iterations=4).completion("ERROR a\nINFO b", "How many ERROR?")


def test_each_mistake_is_named(tmp_path):
    result = run(tmp_path,
                 "```repl\ncontext = 'fake'\n```",
                 "```repl\nx = undefined\n```\n```repl\nprint(1)\n```",
                 "```repl\nx = undefined\n```",
                 "```repl\nr = llm_query('How many errors?')\nprint(r)\n```\nOutput:\n```\n5\n```",
                 sub=lambda call: "I'm sorry, please provide the text.")
    modes = classify(result.trajectory_path)
    assert {"rebinds_protected", "repeated_cell", "sub_prompt_no_data", "sub_refusal", "invented_output",
            "budget_exhausted"} <= set(modes), modes
    assert "marker_case" not in modes and "unready_answer" not in modes


def test_a_clean_run_has_no_failure_mode(tmp_path):
    result = run(tmp_path, "```repl\nn = context.count('ERROR')\nprint(n)\n```", "FINAL_VAR(n)")
    assert result.answer == "1" and classify(result.trajectory_path) == []


def test_prose_without_a_marker_and_an_odd_case_marker_are_named(tmp_path):
    result = run(tmp_path, "```repl\nprint(context.count('ERROR'))\n```", "final_VAR(nothing)", "There are 7.")
    modes = classify(result.trajectory_path)
    assert {"marker_case", "no_code_reply", "prose_not_finished"} <= set(modes), modes


def test_an_answer_read_beside_a_namesake_is_named(tmp_path):
    log = "code RC-1 for account sales-lakeview-2\ncode RC-2 for account sales-lakeview\n"
    with ScriptedServer({"root": script("```repl\nprint(context.splitlines()[0])\n```", "FINAL(RC-1)",
                                        "FINAL(RC-1)")}) as server:
        result = RLM(model="root", base_url=server.url, api_key="k", notes=False, runs_dir=tmp_path / "runs",
                     max_iterations=4).completion(log, "Which code was issued for the account sales-lakeview?")
    assert result.answer == "RC-1" and "namesake_answer" in classify(result.trajectory_path)


def test_the_answer_shapes_the_loop_questions_are_named(tmp_path):
    """The context as the answer, a marker run into a NameError, the question's own subject, a
    line number for a city, a count never looked at: each named, whether or not the loop took it."""
    text = "".join(f"In {1800 + i}, the council of Town{i} met about the mill and the causeway.\n" for i in range(3000))
    text += "In 1945, Ottilie Crane moved her laboratory to Oldbury.\n"

    def ask(question, *replies):
        with ScriptedServer({"root": script(*replies)}) as server:
            result = RLM(model="root", base_url=server.url, api_key="k", notes=False, runs_dir=tmp_path / "runs",
                         max_iterations=5).completion(text, question)
        return set(classify(result.trajectory_path))

    city = "To which city did Ottilie Crane move her laboratory? Answer with the city name only."
    look = "```repl\nprint([i for i, l in enumerate(context.splitlines()) if 'Ottilie' in l])\n```"
    assert {"context_answer", "marker_name_error", "subject_answer"} <= ask(
        city, look, "```repl\nFINAL_VAR(context)\n```", "```repl\nFINAL_VAR(Ottilie-Crane)\n```",
        "FINAL(Ottilie Crane)", "FINAL(Oldbury)")
    assert "misformed_answer" in ask(city, look, "FINAL(3000)", "FINAL(3000)")
    assert "unchecked_count" in ask("How many lines mention the mill?",
                                    "```repl\nprint(sum(1 for l in context.splitlines() if 'mill' in l))\n```",
                                    "FINAL(3000)", "FINAL(3000)")


def test_the_modes_of_searches_that_found_nothing_and_values_from_elsewhere_are_named(tmp_path):
    """A test that matched nothing, a value searched for from the first line printed, an answer
    read in another fact about the subject, a FinalVar marker."""
    empty = run(tmp_path, "```repl\nprint(len([l for l in context.splitlines() if 'level=ERROR' in l]))\n```",
                "FinalVar(nothing)")
    assert {"empty_search", "marker_case"} <= set(classify(empty.trajectory_path))
    text = "".join(f"In the year of the flood, Town{i} met about the mill.\n" for i in range(2000))
    text += "Ottilie Crane was born in Vellin.\nIn 1945, Ottilie Crane moved her laboratory to Oldbury.\n"
    look = "```repl\nprint([l for l in context.splitlines() if 'Vellin' in l])\n```"
    with ScriptedServer({"root": script(look, "FINAL(Vellin)", "FINAL(Vellin)")}) as server:
        result = RLM(model="root", base_url=server.url, api_key="k", notes=False, runs_dir=tmp_path / "runs",
                     max_iterations=4).completion(text, "To which city did Ottilie Crane move her laboratory?")
    assert "off_topic_answer" in classify(result.trajectory_path)
    log = "\n".join(f'{{"user": "u-{1010 + i % 5}", "action": "push", "resource": "repo-{i}"}}' for i in range(300))
    log += '\n{"user": "u-1099", "action": "delete_repo", "resource": "lumen-api"}\n'
    first = "```repl\nprint(context.splitlines()[:1])\nprint(sum(1 for l in context.splitlines() if 'u-1010' in l))\n```"
    with ScriptedServer({"root": script(first, "FINAL(60)", "FINAL(60)")}) as server:
        result = RLM(model="root", base_url=server.url, api_key="k", notes=False, runs_dir=tmp_path / "runs",
                     max_iterations=4).completion(log, 'How many events has the user who deleted "lumen-api"?')
    assert "borrowed_value" in classify(result.trajectory_path)


def test_a_filter_that_left_out_a_term_of_the_question_is_named_from_new_and_old_trajectories(tmp_path):
    import json

    log = "".join(f'GET {("/api/checkout/pay", "/api/search")[i % 2]} HTTP/1.1" {500 if i % 3 else 200} 12\n'
                  for i in range(400))
    count = ("```repl\nprint(context.splitlines()[:2])\n"
             "print(sum(1 for line in context.splitlines() if '\" 500' in line))\n```")
    with ScriptedServer({"root": script(count, "FINAL(133)")}) as server:
        result = RLM(model="root", base_url=server.url, api_key="k", notes=False, runs_dir=tmp_path / "runs",
                     max_iterations=4).completion(log, "How many requests for /api/checkout got status 500?")
    assert "term_left_out" in classify(result.trajectory_path)
    # as an older controller wrote it: no check, no cell run again by the loop (named where an output
    # shows the term: the term is in the data)
    events = [json.loads(line) for line in result.trajectory_path.read_text().splitlines()]
    cells = [e for e in events if e["event"] == "cell"]
    assert len(cells) == 2 and "'/api/checkout' in line" in cells[1]["code"]
    older = [e for e in events if e is not cells[1] and e.get("check") != "term_added"]
    path = tmp_path / "older.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in older))
    assert "term_left_out" in classify(path)
    assert "term_left_out" not in classify(run(tmp_path, "```repl\nprint(context.count('ERROR'))\n```",
                                               "FINAL(1)").trajectory_path)


def test_an_answer_beside_none_of_a_subjectless_questions_words_is_named(tmp_path):
    notes = "Attendees: Lars Eisenberg, Ivo Gruber\n" * 50 + "- Wendel Marchetti to document the cron jobs\n"
    look = "```repl\nprint(context.splitlines()[:2])\n```"
    with ScriptedServer({"root": script(look, "FINAL(Lars Eisenberg)", "FINAL(Lars Eisenberg)")}) as server:
        result = RLM(model="root", base_url=server.url, api_key="k", notes=False, runs_dir=tmp_path / "runs",
                     max_iterations=4).completion(notes, "Who was given the action item to document the cron jobs?")
    assert "bare_answer" in classify(result.trajectory_path)
