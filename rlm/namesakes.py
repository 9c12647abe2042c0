"""Answers read from a namesake: the question asks about `sales-lakeview`, `Ottilie Crane` or
`Summit 1 Fan`, and the model's answer comes from the record of `sales-lakeview-2`,
`Ottilie Craneley` or `Summit 1 Fan Pro`, a longer name that begins with the one asked about.
Data made to be searched holds such near-twins (and generated tasks plant them); a first
match of `'sales-lakeview' in line` finds the twin as readily as the subject.

`question_subjects` picks the names a question gives (identifiers, quoted strings, runs of
capitalised words); `echoed_subject` says when an answer is only one of them again;
`sentences_naming` finds where the model's printed output names one;
`namesake_of` says which longer name an answer was read beside, when the
text the model saw shows the answer only next to longer forms of a subject and never next to
the subject itself.
"""

from __future__ import annotations

import re

# an identifier: a word holding a digit, a hyphen or an underscore between letters (T-77762, S-19,
# sales-lakeview, req_id); a quoted string; a run of capitalised words and numbers (Summit 1 Fan)
# (the separators are no word characters, so that a name splits one way only: no backtracking blow-up)
_IDENT = re.compile(r"(?<![\w-])(?=[\w-]*[^\W_])\w+(?:[-./:]\w+)+(?![\w-])|(?<![\w-])(?=\w*\d)(?=\w*[^\W\d_])\w+"
                    r"|(?<![\w-])\w*[^\W\d_]\w*_\w+")
_QUOTED = re.compile(r"[\"\u201c\u2018'`]([^\"\u201d\u2019'`\n]{2,60})[\"\u201d\u2019'`]")
_CAPS = re.compile(r"\b[A-Z][\w'’]*(?:[ \t]+(?:[A-Z][\w'’]*|\d[\w]*))*")
QUESTION_CHARS = 4000  # the head of a question its names are looked for in
MAX_SUBJECTS = 12
MAX_NAME_CHARS = 80  # a longer run of capitalised words is a title or a shout, not a name
MAX_ANSWER_CHARS = 120
# the pieces of printed text an answer is read in: a line, a sentence, an item of a printed list
_UNIT_BREAK = re.compile(r"\n|(?<=[.!?])\s+(?=[A-Z0-9])|', '|\", \"|\\n")
_SCAN_CHARS = 2_000_000  # the most recent seen text looked at


def question_subjects(question: str) -> list[str]:
    """The names `question` asks about, longest first (at most MAX_SUBJECTS)."""
    question = question[:QUESTION_CHARS]
    found: list[str] = [m.group(1).strip() for m in _QUOTED.finditer(question)]
    found += [m.group() for m in _IDENT.finditer(question)]
    for m in _CAPS.finditer(question):
        words = m.group().split()
        # a sentence's first word is capitalised by grammar, not because it names something
        before = question[max(0, m.start() - 40):m.start()].rstrip()
        if m.start() < 40 and not before or before.endswith((".", "!", "?", ":", "\n")):
            words = words[1:]
        while words and not words[-1][0].isalpha():  # "Summit 1 Fan 2024" keeps its name part
            if len(words) > 1 and words[-1][0].isdigit() and words[-2][0].isalpha():
                break
            words.pop()
        name = " ".join(words)
        if len(name) >= 3 and (len(words) > 1 or not name.isupper() or len(name) > 3):
            found.append(name)
    out: list[str] = []
    for name in sorted(dict.fromkeys(found), key=len, reverse=True):
        if 3 <= len(name) <= MAX_NAME_CHARS and not any(name in longer for longer in out):
            out.append(name)
    return out[:MAX_SUBJECTS]


def echoed_subject(answer: str, question: str) -> str | None:
    """The name `question` asks about when `answer` is only that name again (the account, not
    its recovery code: a small model answered `FINAL_VAR(sales-lakeview)`); else None."""
    text = answer.strip().strip(".").strip().strip("'\"`").strip()
    if not text or len(text) > MAX_NAME_CHARS:
        return None
    return next((s for s in question_subjects(question) if _spelled(s) == _spelled(text)), None)


def _spelled(name: str) -> str:
    """`name` with case, and spaces against hyphens and underscores, not told apart (a model
    writes `Ottilie-Crane` where a Python name cannot hold a space)."""
    return re.sub(r"[\s_-]+", " ", name).strip().casefold()


def sentences_naming(subject: str, seen: str, limit: int = 5, chars: int = 300) -> list[str]:
    """The latest distinct pieces of `seen` (sentences, lines, items of a printed list) where
    `subject` stands whole, oldest first, each cut to `chars`."""
    whole = _whole(subject)
    found: list[str] = []
    for unit in reversed(_UNIT_BREAK.split(seen[-_SCAN_CHARS:])):
        unit = unit.strip(" '\"[]")
        if len(unit) <= 4000 and unit not in found and whole.search(unit):
            found.append(unit)
            if len(found) == limit:
                break
    return [u[:chars] for u in reversed(found)]


# a name of several words goes on with a capitalised word or a number: Ivanova Street North
_MORE_WORDS = r"(?-i:[ \t]+(?:[A-Z]|\d))"


def _whole(name: str) -> re.Pattern[str]:
    more = "|" + _MORE_WORDS if " " in name else ""
    return re.compile(r"(?<![\w-])" + re.escape(name) + r"(?!\w|-\w" + more + ")", re.IGNORECASE)


def _longer(name: str) -> re.Pattern[str]:
    """`name` with more of a name after it (sales-lakeview-2, Craneley, Ivanova Street North) or
    before it (old-sales-lakeview)."""
    esc = re.escape(name)
    more = r"|(?-i:[ \t]+(?:[A-Z]\w*|\d\w*))" if " " in name else ""
    return re.compile(r"(?:" + esc + r"(?:\w+|-\w+" + more + r")|(?<![\w-])[\w-]*\w-?" + esc + r")",
                      re.IGNORECASE)


def _answer_in(answer: str) -> re.Pattern[str]:
    esc = re.escape(answer)
    left = r"(?<![\w.-])" if answer[:1].isalnum() else ""
    right = r"(?![\w]|[.-]\w)" if answer[-1:].isalnum() else ""
    return re.compile(left + esc + right, re.IGNORECASE)


# a value inside a sentence of an answer ("The answer is `RC-MSL5-LF63`."): a token holding a digit
_VALUE = re.compile(r"(?<![\w-])(?=[\w./:-]*\d)\w+(?:[-./:]\w+)*(?![\w-])")


def namesake_of(answer: str, question: str, seen: str) -> tuple[str, str] | None:
    """(the subject, the longer name) when every piece of `seen` that holds `answer` (or, for an
    answer put in a sentence, a value in it) and names a subject of `question` names only longer
    forms of it; None when it was read beside the subject itself, or beside none, or cannot be told."""
    text = answer.strip().strip(".")
    if not text or len(text) > MAX_ANSWER_CHARS:
        return None
    subjects = question_subjects(question)
    if not subjects:
        return None
    for value in dict.fromkeys([text, *(m.group() for m in _VALUE.finditer(text))]):
        twin = _read_beside(value, subjects, seen)
        if twin is not None:
            return twin
    return None


def _read_beside(text: str, subjects: list[str], seen: str) -> tuple[str, str] | None:
    """namesake_of for one value `text` of the answer."""
    wanted = _answer_in(text)
    whole = [_whole(s) for s in subjects]
    longer = [_longer(s) for s in subjects]
    twins: dict[str, str] = {}
    cleared: set[str] = set()
    for unit in _UNIT_BREAK.split(seen[-_SCAN_CHARS:]):
        if len(unit) > 4000 or not wanted.search(unit):
            continue
        for subject, w, lg in zip(subjects, whole, longer, strict=True):
            if subject in cleared:
                continue
            if w.search(unit):
                cleared.add(subject)  # read beside the subject itself somewhere: no verdict against it
                twins.pop(subject, None)
                continue
            m = lg.search(unit)
            if m and subject not in twins and text.lower() not in m.group().lower():
                twins[subject] = m.group()
    return next(iter(twins.items()), None)
