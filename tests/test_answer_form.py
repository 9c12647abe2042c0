"""The form of answer a question asks for (rlm/answer_form.py), and the count that rests on no
record seen (rlm/loop_guards.unchecked_count): pure functions, checked on the questions of the
real-model suite and on the shapes a real model's wrong answers took."""

from __future__ import annotations

import pytest

from rlm.answer_form import asked_form, form_mismatch
from rlm.loop_guards import unchecked_count


@pytest.mark.parametrize("question, kind", [
    ("How many lines have level ERROR? Answer with the number only.", "number"),
    ("In which year was the steamship Amber Gull launched? Answer with the year only.", "number"),
    ("What is the warranty period, in months, of the Summit 1 Fan? Answer with the number only.", "number"),
    ("To which city did Ottilie Crane move her laboratory? Answer with the city name only.", "name"),
    ("Who was given the action item? Answer with the person's full name only.", "name"),
    ("What recovery code was issued for the account sales-lakeview? Answer with the code only.", None),
    ("Why did the checkout outage happen? Answer with a short phrase naming the cause.", None),
    ("Who wrote how many letters?", None),  # both: no verdict
])
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert asked_form(question)[0] == kind


@pytest.mark.parametrize("answer, question, wrong", [
    ("180", "To which city did she move? Answer with the city name only.", "a number"),
    ("line 42.", "Who wrote it? Answer with the person's full name only.", None),  # words: not a bare number
    ("Oldbury", "To which city did she move? Answer with the city name only.", None),
    ("the inventory service", "How many lines have level ERROR?", "no number"),
    ("8", "How many lines have level ERROR?", None),
    ("In 1917, Farid Fairbanks published a short study of glass making in the town",
     "In which year was the ship launched? Answer with the year only.", "14 words"),
    ("The code is RC-12", "What code was issued? Answer with the code only.", None),
    ("It was a fibre cut between the two data centres of the region", "Why did it fail?", None),
    # found by a red team: forms a question allows
    ("Alice Smith, Bob Jones, Carol King, Dan Wu and Eve Li", "Who attended? Answer with the names only.", None),
    ("12 Long Road, Flat 4, Old Town, North District, AB1 2CD", "Where? Answer with the full address only.", None),
    ("4417", "Who made the most commits? Give the user id.", None),
    ("none", "How many lines mention the mill?", None),
    ("three hours", "How much time did the outage last?", None),
])
def test_answers_not_of_the_asked_form_are_named(answer, question, wrong):
    problem = form_mismatch(answer, question)
    assert (problem is None) if wrong is None else (wrong in problem)


def test_a_count_is_unchecked_only_when_no_output_could_show_a_record():
    q = "How many requests got a 5xx status? Answer with the number only."
    assert unchecked_count("30", q, ["30\n"]) and unchecked_count("1,204", q, [])
    assert not unchecked_count("30", q, ["30\n", "['10.0.0.1 - - \"GET /api/checkout/1 HTTP/1.1\" 503 5001', "
                                        "'10.0.0.2 - - \"GET /api/checkout/2 HTTP/1.1\" 503 5002']"])
    assert not unchecked_count("56", "What is the total quantity of refunded orders?", ["56"])  # a sum, not a count
    assert not unchecked_count("about 30", q, ["30"])
    assert not unchecked_count("5550123", "What is the phone number of the Lakeview depot?", ["5550123"])
    assert unchecked_count("12", "What is the number of failed logins?", ["12"])


@pytest.mark.timeout(20)
def test_a_huge_answer_is_judged_in_linear_time():
    answer = "1" + " ." * 200_000 + "x"  # overlapping spaces and dots: a backtracking pattern is quadratic on it
    assert form_mismatch(answer, "Who wrote it? Answer with the person's full name only.") is not None
    assert not unchecked_count(answer, "How many lines?", [])


def test_a_list_of_numbers_is_no_name():
    # Qwen2.5-Coder-1.5B answered FINAL(hits), the line numbers of its search, for "who was given ..."
    from rlm.answer_form import form_mismatch

    question = "Who was given the action item? Answer with the person's full name only."
    assert "a list of numbers" in (form_mismatch("[1, 7, 13, 19]", question) or "")
    assert form_mismatch("Wendel Marchetti", question) is None
    assert form_mismatch("[1, 7, 13]", "Which lines hold ERROR? Answer with the line numbers.") is None
