"""An answer to a question that names no subject, seen only in text that says none of its words
(rlm/unanchored.py): alone, and in a run through a scripted server and a real kernel, where the
context's own lines are shown and read anew."""

from __future__ import annotations

from scripted_server import Handler, ScriptedServer, script

from rlm import RLM, read_trajectory
from rlm.unanchored import lines_saying, unanchored

QUESTION = ("The context is a folder of meeting notes. Who was given the action item to document the shipping "
            "cron jobs? Answer with the person's full name only.")
NOTES = "".join(
    f"# Sync {i}\nAttendees: Rosa Fairbanks, Lars Eisenberg, Ivo Gruber\n## Discussion\nThe team met about item {i}.\n"
    f"## Action items\n- Ivo Gruber to {('retire', 'upgrade')[i % 2]} the shipping cron jobs by 2024-0{i % 9 + 1}-01\n"
    for i in range(300))
NOTES += "# Sync 301\n## Action items\n- Wendel Marchetti to document the shipping cron jobs by 2024-02-01\n"


def reading_as(reading: str, *replies: str) -> Handler:
    scripted = script(*replies)
    return lambda call: reading if call.system.startswith("You answer a question from a few lines") else scripted(call)


def test_an_answer_seen_only_away_from_the_questions_words_is_named():
    seen = "['Attendees: Rosa Fairbanks, Lars Eisenberg, Ivo Gruber', '## Discussion']"
    words = unanchored("Lars Eisenberg", QUESTION, seen, names=True, numbers=False)
    assert words == ["action", "item", "document", "shipping", "cron", "jobs"]
    beside = seen + "\n- Lars Eisenberg to document the shipping cron jobs"
    assert unanchored("Lars Eisenberg", QUESTION, beside, names=True, numbers=False) is None
    # a question that names its subject is the relation check's, not this one's
    assert unanchored("Vellin", "To which city did Ottilie Crane move?", "Ottilie Crane, Vellin",
                      names=True, numbers=False) is None


def test_the_lines_that_say_the_most_of_the_questions_words_come_first():
    words = ["action", "item", "document", "shipping", "cron", "jobs"]
    shown = lines_saying(words, NOTES.splitlines())
    assert shown == ["- Wendel Marchetti to document the shipping cron jobs by 2024-02-01"]  # the best only
    # lines of the best count, in their order, at most three; with the line that follows each
    tied = lines_saying(["shipping", "cron", "retire"], NOTES.splitlines(), following=True)
    assert len(tied) == 3 and all(line.startswith("- Ivo Gruber to retire the shipping cron jobs by ") for line in tied)
    assert tied[0].endswith("\n# Sync 1")  # the line after sync 0's item
    # a term (a date) counts twice, and not inside a longer number
    log = ["Incident 1: checkout outage on 21 December 2024", "cause: a", "Incident 2: checkout outage on 1 December 2024",
           "cause: b", "Incident 3: billing outage on 1 December 2024", "cause: c"]
    assert lines_saying(["checkout", "outage", "december", "1 December 2024"], log, following=True) == [
        "Incident 2: checkout outage on 1 December 2024\ncause: b"]
    assert lines_saying(["zebra", "quokka"], NOTES.splitlines()) == []


def test_a_run_that_answered_a_name_from_elsewhere_is_shown_the_contexts_lines_and_their_reading(tmp_path):
    look = "```repl\nprint([l for l in context.splitlines() if 'Lars Eisenberg' in l][:3])\n```"
    with ScriptedServer({"root": reading_as("Wendel Marchetti", look, "FINAL(Lars Eisenberg)",
                                            "FINAL(Lars Eisenberg)")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=5,
                     runs_dir=tmp_path / "runs").completion(NOTES, QUESTION)
        told = server.calls_to("root")[-1].prompt
    assert "the output shows it only in text that says nothing of 'action', 'item', 'document'" in told
    assert ("The context itself says the question's words here:\n"
            "- '- Wendel Marchetti to document the shipping cron jobs by 2024-02-01'") in told
    assert "they answer: 'Wendel Marchetti'" in told
    checks = [e["check"] for e in read_trajectory(result.trajectory_path) if e["event"] == "loop_check"]
    assert "fresh_reading" in checks and "reading_taken" in checks
    assert result.answer == "Wendel Marchetti"  # the name given again over the reading: the reading stands


def test_the_text_around_the_subject_that_says_the_questions_words_nearest_is_read():
    from rlm.unanchored import around_subject

    sheets = ("# Nimbus 4 Lamp\nWarranty: 36 months\n\n" + "Filler about lamps. " * 30 + "\n\n"
              "# Summit 1 Fan\nSKU: SKU-22826\nWarranty: 6 months\n\n## Description\n"
              + "The Summit 1 Fan is quiet. " * 8 + "\n\n# Lumen 3 Lamp\nSKU: SKU-1\nWarranty: 24 months\n")
    [shown] = around_subject("Summit 1 Fan", ["warranty", "period", "months"], sheets)
    assert "Warranty: 6 months" in shown and "36 months" not in shown
    assert around_subject("Summit 1 Fan", ["zebra"], sheets) == []
    assert around_subject("Summit 1", ["warranty"], sheets.replace("Summit 1 Fan", "Summit 10")) == []


def test_a_misformed_answer_given_again_gives_way_to_a_reading_of_the_contexts_lines(tmp_path):
    # Qwen2.5-Coder-1.5B answered the line numbers of its search for an attendee, twice (FINAL(hits))
    look = "```repl\nhits = [i for i, l in enumerate(context.splitlines()) if 'Lars Eisenberg' in l][:4]\nprint(hits)\n```"
    with ScriptedServer({"root": reading_as("Wendel Marchetti", look, "FINAL(hits)", "FINAL(hits)")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=5,
                     runs_dir=tmp_path / "runs").completion(NOTES, QUESTION)
    refused = [e["reason"] for e in read_trajectory(result.trajectory_path) if e["event"] == "final_refused"]
    assert refused == ["the answer is not of the form the question asks for"]
    assert result.answer == "Wendel Marchetti"
    # a count is computed, not read: no reading stands in for it
    with ScriptedServer({"root": reading_as("3", look, "FINAL(There are 301 action items.)",
                                            "FINAL(There are 301 action items.)")}) as server:
        result = RLM(base_url=server.url, api_key="k", model="root", notes=False, max_iterations=5,
                     runs_dir=tmp_path / "runs").completion(NOTES, "How many action items are there?")
    checks = [e["check"] for e in read_trajectory(result.trajectory_path) if e["event"] == "loop_check"]
    assert "reading_taken" not in checks and "fresh_reading" not in checks
