"""An answer to a question that names no subject, seen only in text that says none of its words;
and the text of the context to read anew for a refused answer.

"Who was given the action item to document the shipping cron jobs?" names no person, code or
place to search for: its own words are what the answer stands beside. A small model searched
instead for a name from the first lines it printed ('Lars Eisenberg', an attendee) and answered
it. This module says when an answer's value is seen only in printed pieces that say none of the
asking sentence's words, and finds the lines of the context's start that say the most of them
("- Wendel Marchetti to document the shipping cron jobs by 2024-02-01"), to be shown and read.
For a question that names its subject, the text around the place where the subject stands that
says the most of the question's words, nearest to it (`around_subject`: the product sheet's
"Warranty: 6 months" under "# Summit 1 Fan", not the next sheet's "Warranty: 24 months").
"""

from __future__ import annotations

import re

from rlm.namesakes import answer_values, content_words, question_subjects, stem, units_holding, whole_name
from rlm.question_terms import asking_sentence

__all__ = ["around_subject", "lines_saying", "unanchored"]

MAX_WORDS = 16
MAX_LINE_CHARS = 4000  # a longer line is no sentence or record
MIN_SAID = 2  # words of the question a line must say to be shown
TERM_WEIGHT = 2  # a term of the question (a date, a code) counts as two of its words


def _said(words: list[str]) -> list[tuple[re.Pattern[str], int]]:
    """Each word's pattern and weight: a word at a word's start, or after `_` (a field:
    delete_repository); a term (a date, a code: anything but letters) as it stands, not inside a
    longer number (1 December 2024 is not the 21st), counted TERM_WEIGHT times."""
    return [(re.compile(r"(?<![^\W_])" + re.escape(stem(w)), re.IGNORECASE), 1) if w.isalpha()
            else (re.compile(r"(?<!\d)" + re.escape(w) + r"(?!\d)"), TERM_WEIGHT) for w in words[:MAX_WORDS]]


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
    if not pieces or any(w.search(piece) for piece in pieces for w, _ in said):
        return None
    return words


def lines_saying(words: list[str], lines: list[str], limit: int = 3, chars: int = 300, *,
                 following: bool = False) -> list[str]:
    """The lines of `lines` that say the most of `words` (at least MIN_SAID of them; only those
    of the best count), in their order, at most `limit`; with `following`, each with the next
    line that is not empty joined to it; each cut to `chars` (twice that with the next line)."""
    said = _said(words)
    if not said:
        return []
    anyone = re.compile("|".join(w.pattern for w, _ in said), re.IGNORECASE)  # one pass rules most lines out
    scored: list[tuple[int, int, str]] = []
    for n, line in enumerate(lines):
        if len(line) > MAX_LINE_CHARS or not anyone.search(line):
            continue
        score = sum(weight for w, weight in said if w.search(line))
        if score >= MIN_SAID:
            scored.append((-score, n, line.strip()))
    if not scored:
        return []
    top = min(score for score, _, _ in scored)
    best = [(n, line) for score, n, line in scored if score == top][:limit]
    if not following:
        return [line[:chars] for _, line in best]
    shown = []
    for n, line in best:
        after = next((later.strip() for later in lines[n + 1:n + 4] if later.strip()), "")
        shown.append(f"{line[:chars]}\n{after[:chars]}".strip())  # a line break: no name runs on into the next line
    return shown


BEFORE_CHARS = 80  # of the text shown before the subject
AFTER_CHARS = 300  # ... and after it
MAX_PLACES = 200  # places of the subject looked at


def around_subject(subject: str, words: list[str], text: str) -> list[str]:
    """The text around the place in `text` where `subject` stands whole that says the most of
    `words` (at least one), the nearest to the subject of those (one piece, or none)."""
    said = _said(words)
    best: tuple[int, int, str] | None = None
    for n, place in enumerate(whole_name(subject).finditer(text)):
        if n == MAX_PLACES:
            break
        start, end = max(0, place.start() - BEFORE_CHARS), place.end() + AFTER_CHARS
        window = text[start:end]
        hits = [m.end() for w, _ in said for m in [w.search(window)] if m is not None]
        if not hits:
            continue
        key = (-len(hits), max(hits))  # the most words, then the nearest last word
        if best is None or key < best[:2]:
            best = (*key, window.strip())
    return [best[2]] if best is not None else []
