"""The names a question asks about, and answers read beside a longer name that begins or ends
with one of them (rlm/namesakes.py)."""

from __future__ import annotations

import pytest

from rlm.namesakes import borrowed_value, namesake_of, question_subjects


@pytest.mark.parametrize("question,expected", [
    ("What recovery code was issued for the account sales-lakeview? Answer with the code only.",
     ["sales-lakeview"]),
    ("To which city did Ottilie Crane move her laboratory? Answer with the city name only.", ["Ottilie Crane"]),
    ("What is the warranty period, in months, of the Summit 1 Fan?", ["Summit 1 Fan"]),
    ("Find the agent of ticket T-77762. How many tickets does that agent have?", ["T-77762"]),
    ('Exactly one user deleted the repository "lumen-api". Who?', ["lumen-api"]),
    ("What is the access code for the east gate of the Ivanova Street depot?", ["Ivanova Street"]),
    ("How many lines are there?", []),
])
def test_the_names_a_question_gives(question, expected):
    assert question_subjects(question) == expected


QUESTION = "What recovery code was issued for the account sales-lakeview?"


@pytest.mark.parametrize("seen,answer,expected", [
    # read only beside the longer name, as a line or an item of a printed list
    ("code RC-1 for account sales-lakeview-2\n", "RC-1", ("sales-lakeview", "sales-lakeview-2")),
    ("['code RC-1 for account sales-lakeview-2', 'code RC-2 for account sales-lakeview']", "RC-1",
     ("sales-lakeview", "sales-lakeview-2")),
    ("code RC-1 for account old-sales-lakeview\n", "RC-1", ("sales-lakeview", "old-sales-lakeview")),
    # read beside the subject itself, somewhere
    ("code RC-1 for account sales-lakeview-2\ncode RC-1 for account sales-lakeview\n", "RC-1", None),
    ("['code RC-2 for account sales-lakeview-2', 'code RC-1 for account sales-lakeview']", "RC-1", None),
    # beside no form of the subject, or not seen at all: no verdict
    ("code RC-1 for account other\n", "RC-1", None),
    ("code RC-2 for account sales-lakeview-2\n", "RC-1", None),
    # the answer must stand whole: RC-10 is not RC-1
    ("code RC-10 for account sales-lakeview-2\n", "RC-1", None),
    # the value in an answer put in a sentence (seen with a 1.5B model: "The answer is `RC-MSL5-LF63`.")
    ("code RC-1 for account sales-lakeview-2\n", "The answer is `RC-1`.", ("sales-lakeview", "sales-lakeview-2")),
    ("code RC-1 for account sales-lakeview-2\ncode RC-2 for account sales-lakeview\n", "It is RC-2.", None),
    # an answer too long to be a value read from a line is not checked
    ("x " * 100 + "sales-lakeview-2", "x " * 100, None),
])
def test_an_answer_read_beside_a_longer_name(seen, answer, expected):
    assert namesake_of(answer, QUESTION, seen) == expected


def test_names_of_the_questions_description_do_not_clear_the_subject():
    """A field the question names (`latency_ms`) stands whole on every line of a log: it says
    nothing about which account a line is about."""
    question = ("The context is a log (timestamp, level, host=, latency_ms=, message). What recovery "
                "code was issued for the account sales-lakeview?")
    seen = "INFO latency_ms=791 issued recovery code RC-MSL5-LF63 for account sales-lakeview-2\n"
    assert namesake_of("RC-MSL5-LF63", question, seen) == ("sales-lakeview", "sales-lakeview-2")


def test_a_prose_twin_in_the_same_paragraph_is_told_apart_by_sentence():
    q = "To which city did Ottilie Crane move her laboratory?"
    seen = "In 1945, Ottilie Crane moved her laboratory to Oldbury. In 1901, Ottilie Craneley moved it to Brightwater."
    assert namesake_of("Brightwater", q, seen) == ("Ottilie Crane", "Ottilie Craneley")
    assert namesake_of("Oldbury", q, seen) is None


def test_a_name_of_several_words_goes_on_with_a_capitalised_word():
    q = "What is the access code for the east gate of the Ivanova Street depot?"
    seen = ("At the Ivanova Street North depot, the keypad code is 8853-TUNDRA.\n"
            "The east gate of the Ivanova Street depot is 5039-NIMBUS.\n")
    assert namesake_of("8853-TUNDRA", q, seen) == ("Ivanova Street", "Ivanova Street North")
    assert namesake_of("5039-NIMBUS", q, seen) is None


@pytest.mark.timeout(20)
@pytest.mark.parametrize("question", ["a_" * 40 + "a- x", "x-" * 3000 + "!", "A " * 3000, ". " + " " * 3900 + "Abc",
                                      "a." * 3000 + "-", "Q " + "1 " * 3000])
def test_a_hostile_question_or_output_is_read_in_linear_time(question):
    """Names are split one way only (an identifier's separators are no word characters): a
    question built to make a regex backtrack is read at once, as is a long output."""
    subjects = question_subjects(question)
    assert all(len(s) <= 80 for s in subjects)
    seen = ("a_" * 2000 + "\n") * 50 + "code RC-1 " + "x" * 3000 + "\n"
    assert namesake_of("RC-1", question + " sales-lakeview", seen) is None


def test_an_answer_that_is_only_the_questions_subject_is_told():
    from rlm.namesakes import echoed_subject

    q = "To which city did Ottilie Crane move her laboratory? (account sales-lakeview)"
    assert echoed_subject("Ottilie-Crane", q) == "Ottilie Crane"  # a Python name cannot hold the space
    assert echoed_subject(" `SALES-LAKEVIEW`. ", q) == "sales-lakeview"
    assert echoed_subject("Oldbury", q) is None and echoed_subject("Ottilie Craneley", q) is None
    # found by a red team: a name the question offers as a choice is an answer it allows
    assert echoed_subject("yes", "Was it late? Answer 'yes' or 'no'.") is None
    assert echoed_subject("High", "Which priority did T-12 get (Low, Medium, High)?") is None
    assert echoed_subject("T-12", "Which priority did T-12 get (Low, Medium, High)?") == "T-12"


def test_a_value_searched_for_is_borrowed_when_seen_only_away_from_the_subject_the_code_skips():
    q = ('Exactly one user deleted the repository "lumen-api". How many login_failed events does that user have? '
         'Answer with the number only.')
    code = "hits = [l for l in lines if 'u-1013' in l and 'login_failed' in l]\nprint(len(hits))"
    first = '[\'{"user": "u-1013", "action": "login", "resource": "fjord-web"}\']\n6'
    assert borrowed_value([code], q, first) == ("u-1013", "lumen-api")
    # a printed record is one piece: its user stands beside its resource
    beside = first + '\n{"user": "u-1013", "action": "delete_repo", "resource": "lumen-api"}'
    assert borrowed_value([code], q, beside) is None
    # a value the question gives, a date, or one never seen: not borrowed
    assert borrowed_value(["print('lumen-api' in context)"], q, first) is None
    assert borrowed_value(["n = context.count('2024-03-01T') + context.count('login_failed')"], q,
                          "2024-03-01T00:00 x\n4") is None
    assert borrowed_value(["print('u-9999' in context)"], q, first) is None
    # every subject named by the code: no step skipped
    both = "hits = [l for l in lines if 'u-1013' in l and 'login_failed' in l and 'lumen-api' in l]"
    assert borrowed_value([both], q, first) is None
