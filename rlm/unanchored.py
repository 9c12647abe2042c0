"""An answer to a question that names no subject, seen only in text that says none of its words.

"Who was given the action item to document the shipping cron jobs?" names no person, code or
place to search for: its own words are what the answer stands beside. A small model searched
instead for a name from the first lines it printed ('Lars Eisenberg', an attendee) and answered
it. This module says when an answer's value is seen only in printed pieces that say none of the
asking sentence's words, and finds the lines of the context's start that say the most of them
("- Wendel Marchetti to document the shipping cron jobs by 2024-02-01"), to be shown and read.
"""

from __future__ import annotations

import re

from rlm.namesakes import answer_values, content_words, question_subjects, stem, units_holding
from rlm.question_terms import asking_sentence

__all__ = ["lines_saying", "unanchored"]

MAX_WORDS = 16
MAX_LINE_CHARS = 4000  # a longer line is no sentence or record
MIN_SAID = 2  # words of the question a line must say to be shown


def _said(words: list[str]) -> list[re.Pattern[str]]:
    # at a word's start, or after `_` (a field: delete_repository)
    return [re.compile(r"(?<![^\W_])" + re.escape(stem(w)), re.IGNORECASE) for w in words[:MAX_WORDS]]


def unanchored(answer: str, question: str, seen: str, *, names: bool, numbers: bool) -> list[str] | None:
    """The asking sentence's words, when the question names no subject and every printed piece
    of `seen` holding the answer's value says none of them; None otherwise."""
    if question_subjects(question):
        return None
    words = content_words(asking_sentence(question))[:MAX_WORDS]
    values = answer_values(answer, question, names=names, numbers=numbers) if words else []
    if not values:
        return None
    pieces = units_holding(values, seen)
    said = _said(words)
    if not pieces or any(w.search(piece) for piece in pieces for w in said):
        return None
    return words


def lines_saying(words: list[str], lines: list[str], limit: int = 3, chars: int = 300) -> list[str]:
    """The lines of `lines` that say the most of `words` (at least MIN_SAID of them), best first,
    then in their order; each cut to `chars`."""
    said = _said(words)
    if not said:
        return []
    anyone = re.compile("|".join(w.pattern for w in said), re.IGNORECASE)  # one pass rules most lines out
    scored: list[tuple[int, int, str]] = []
    for n, line in enumerate(lines):
        if len(line) > MAX_LINE_CHARS or not anyone.search(line):
            continue
        score = sum(1 for w in said if w.search(line))
        if score >= MIN_SAID:
            scored.append((-score, n, line.strip()))
    best = sorted(scored)[:limit]
    return [line[:chars] for _, _, line in best]
