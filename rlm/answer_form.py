"""The form of answer a question asks for, and answers that do not have it.

A question often says what its answer is: "Answer with the number only", "how many", "in which
year", "the city name only", "the person's full name". A small model, having printed line numbers
or a passage, answers with a line number for a city (`180` for "To which city ...") or a whole
sentence for a year. `form_mismatch` names such a mismatch, so that the loop can question the
answer once (the question's wording may mislead: an answer given again stands).
"""

from __future__ import annotations

import re

__all__ = ["asked_form", "form_mismatch"]

QUESTION_CHARS = 4000  # the head of a question its form is read from
# longer than this, an answer to "... only" is a sentence or a passage, not the thing asked for
ONLY_WORDS = 8

_NUMBER_ASKED = re.compile(
    r"\bhow (?:many|much)\b|\b(?:the|a) (?:number|year|count|total|amount|sum|percentage)(?: [\w-]+){0,3} only\b"
    r"|\banswer with (?:the |a )?(?:number|year|count|integer|amount)\b|\bin (?:which|what) year\b",
    re.IGNORECASE)
_NAME_ASKED = re.compile(
    r"\b(?:the |a )?(?:[\w'’]+ )?(?:full )?name(?: of [\w ]+)? only\b"
    r"|\b(?:to|in|from) which (?:city|town|country|street|village)\b"
    r"|\bwho (?:was|is|were|did|gave|got|wrote|made|owns?)\b",
    re.IGNORECASE)
_ONLY = re.compile(r"\banswer with (?:the |a |an )?([\w'’ ,-]{1,60}?) only\b", re.IGNORECASE)
# what "Answer with the ... only" may name for a short answer (an address, a title or "the names"
# may run to many words)
_SHORT_THINGS = frozenset({"number", "year", "code", "serial", "id", "name", "city", "town", "country", "date",
                           "count", "amount", "value", "word", "letter", "integer", "digit", "percentage",
                           "total", "price", "month", "day", "key", "sku", "status"})
# a question that asks "who" but wants an identifier ("Who made the most commits? Give the user id.")
_ID_ASKED = re.compile(r"\b(?:id|ids|identifier|number|code|handle|username)\b", re.IGNORECASE)
_NUMBER_WORDS = re.compile(
    r"\b(?:zero|none|no|nil|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|dozen|once|twice)\b", re.IGNORECASE)
MAX_VALUE_CHARS = 60  # a longer answer is no bare number (and is not matched: the pattern backtracks)
_DIGIT = re.compile(r"\d")
_BARE_NUMBER = re.compile(r"[\s$€£#(]*[-+]?\d[\d,. ]*%?[\s).]*")


def asked_form(question: str) -> tuple[str | None, str | None]:
    """(kind, the words of "Answer with ... only") of `question`: kind is "number" when it asks
    for a number (how many, a year, "the number only"), "name" when it asks for a name (a city,
    a person), else None."""
    head = question[:QUESTION_CHARS]
    only = _ONLY.search(head)
    words = only.group(1).strip() if only else None
    number, name = bool(_NUMBER_ASKED.search(head)), bool(_NAME_ASKED.search(head))
    if number and not name:
        return "number", words
    if name and not number and not _ID_ASKED.search(head):
        return "name", words
    return None, words


_NUMBER_LIST = re.compile(r"[\[(]\s*\d+(?:\s*,\s*\d+)*\s*,?\s*[\])]")


def form_mismatch(answer: str, question: str) -> str | None:
    """What about `answer` is not the form `question` asks for (said to the model), or None."""
    text = answer.strip()
    if not text:
        return None
    kind, only = asked_form(question)
    if kind == "number" and not _DIGIT.search(text) and not _NUMBER_WORDS.search(text):
        return "it holds no number, and the question asks for a number"
    if kind == "name" and len(text) <= MAX_VALUE_CHARS and _BARE_NUMBER.fullmatch(text):
        return "it is a number, and the question asks for a name (a line number or an index is not one)"
    if kind == "name" and _NUMBER_LIST.fullmatch(text):  # FINAL(hits) of a search's line numbers
        return "it is a list of numbers, and the question asks for a name (line numbers or indexes are not one)"
    if only is not None and only.split()[-1].casefold() in _SHORT_THINGS and len(text.split()) > ONLY_WORDS:
        return f"it is a sentence of {len(text.split())} words, and the question asks for the {only} only"
    return None
