"""Answers read from a namesake: the question asks about `sales-lakeview`, `Ottilie Crane` or
`Summit 1 Fan`, and the model's answer comes from the record of `sales-lakeview-2`,
`Ottilie Craneley` or `Summit 1 Fan Pro`, a longer name that begins with the one asked about.
Data made to be searched holds such near-twins (and generated tasks plant them); a first
match of `'sales-lakeview' in line` finds the twin as readily as the subject.

`question_subjects` picks the names a question gives (identifiers, quoted strings, runs of
capitalised words); `echoed_subject` says when an answer is only one of them again;
`sentences_naming` finds where the model's printed output names one; `read_apart` says when an
answer's value was seen only away from every one;
`namesake_of` says which longer name an answer was read beside, when the
text the model saw shows the answer only next to longer forms of a subject and never next to
the subject itself.
"""

from __future__ import annotations

import ast
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
# (not a field of a printed record: `"user": "u-1013", "resource": "lumen-api"` is one piece)
_UNIT_BREAK = re.compile(r"\n|(?<=[.!?])\s+(?=[A-Z0-9])|', '(?![\w-]*': )|\", \"(?![\w-]*\": )|\\n")
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


CHOICE_REACH = 30  # characters each side of a name where an "or" offers it as a choice
_OR = re.compile(r"\bor\b", re.IGNORECASE)


def echoed_subject(answer: str, question: str) -> str | None:
    """The name `question` asks about when `answer` is only that name again (the account, not
    its recovery code: a small model answered `FINAL_VAR(sales-lakeview)`); else None."""
    text = answer.strip().strip(".").strip().strip("'\"`").strip()
    if not text or len(text) > MAX_NAME_CHARS:
        return None
    subject = next((s for s in question_subjects(question) if _spelled(s) == _spelled(text)), None)
    if subject is None:
        return None
    # offered as a choice ("Answer 'yes' or 'no'", "(Low, Medium, High)"): a name it gives may be the answer
    head = question[:QUESTION_CHARS]
    for m in re.finditer(re.escape(subject), head, re.IGNORECASE):
        if _OR.search(head[max(0, m.start() - CHOICE_REACH):m.end() + CHOICE_REACH]):
            return None
        opened, closed = head.rfind("(", 0, m.start()), head.find(")", m.end())
        if opened > head.rfind(")", 0, m.start()) and closed != -1 and "," in head[opened:closed] \
                and "(" not in head[m.end():closed]:
            return None
    return subject


def _spelled(name: str) -> str:
    """`name` with case, and spaces against hyphens and underscores, not told apart (a model
    writes `Ottilie-Crane` where a Python name cannot hold a space)."""
    return re.sub(r"[\s_-]+", " ", name).strip().casefold()


_NUMBER_VALUE = re.compile(r"(?<![\w.-])\d+(?:[.,]\d+)*(?![\w-])")
_CAPITALISED = re.compile(r"(?<![\w'’-])[A-Z][\w'’-]+")
_CODE_VALUE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[^\W\d_])\w+(?:-\w+)*(?![\w-])")


def read_apart(answer: str, question: str, seen: str, *, names: bool, numbers: bool = False) -> str | None:
    """The subject of `question` when `seen` shows the value `answer` gives (a code; with
    `names`, a name too; with `numbers`, a number too) only in pieces that name no subject of
    the question whole: the model
    took a value from somewhere else (a town it saw first, for "To which city did Ottilie
    Crane move?"); None when it was read beside a subject, or never seen, or has no such value."""
    subjects = question_subjects(question)
    values = answer_values(answer, question, names=names, numbers=numbers) if subjects else []
    if not values:
        return None
    placed = _placed(values, seen, [_whole(s) for s in subjects])
    if not placed or any(names or follows for _, names, follows in placed):
        return None
    return subjects[0]


def read_off_topic(answer: str, question: str, seen: str, *, names: bool,
                   numbers: bool = False) -> tuple[str, list[str]] | None:
    """(the subject, the words the question asks it with) when `seen` shows the value `answer`
    gives beside a subject of the question only in pieces that say none of those words: another
    fact about the subject ("Ottilie Crane was born in Vellin" for "To which city did Ottilie
    Crane move her laboratory?"); None otherwise (values as `read_apart`)."""
    subjects = question_subjects(question)
    words = asked_words(question, subjects)
    values = answer_values(answer, question, names=names, numbers=numbers) if subjects and words else []
    if not values:
        return None
    whole = [_whole(s) for s in subjects]
    beside = [unit for unit, names, follows in _placed(values, seen, whole) if names or follows]
    # one pattern for all the words: a pass over each piece, not one for each word (a long question
    # holds hundreds, and the pieces beside the subject may be megabytes)
    said = re.compile(r"\b(?:" + "|".join(re.escape(stem(w)) for w in words) + ")", re.IGNORECASE)
    if not beside or any(said.search(u) for u in beside):
        return None
    named = next((s for s in subjects if any(_whole(s).search(u) for u in beside)), subjects[0])
    return named, words


def speaking_of(subject: str, words: list[str], seen: str, limit: int = 3, chars: int = 300) -> list[str]:
    """The pieces of the latest `seen` that name `subject` whole, or come at most REACH pieces
    after one that does (a record's fields), and say some of `words` (most of them first): where
    the answer to what the question asks of the subject is to be read."""
    if not words:
        return []
    whole = _whole(subject)
    said = re.compile(r"\b(?:" + "|".join(re.escape(stem(w)) for w in words) + ")", re.IGNORECASE)
    found: dict[str, int] = {}
    since = REACH + 1
    for unit in _UNIT_BREAK.split(seen[-_SCAN_CHARS:]):
        unit = unit.strip(" '\"[]")
        names = len(unit) <= 4000 and bool(whole.search(unit))
        if (names or since <= REACH) and len(unit) <= 4000 and unit not in found:
            hits = {m.group().casefold() for m in said.finditer(unit)}
            if hits:
                found[unit] = len(hits) + names
        since = 0 if names else since + 1
    ranked = sorted(found, key=lambda u: -found[u])[:limit]
    return [u[:chars] for u in ranked]


REACH = 8  # pieces after one naming a subject that still speak of it: a record's fields, the next sentence


def _placed(values: list[str], seen: str, whole: list[re.Pattern[str]]) -> list[tuple[str, bool, bool]]:
    """Each piece of the latest `seen` that holds one of `values`: (the piece, whether it names
    a subject, whether it comes at most REACH pieces after one that does)."""
    any_value = re.compile("|".join(_answer_in(v).pattern for v in values), re.IGNORECASE)
    found: list[tuple[str, bool, bool]] = []
    since = REACH + 1
    for unit in _UNIT_BREAK.split(seen[-_SCAN_CHARS:]):
        if len(unit) > 4000:
            since += 1
            continue
        names = any(w.search(unit) for w in whole)
        if any_value.search(unit):
            found.append((unit, names, since <= REACH))
        since = 0 if names else since + 1
    return found


# words that say nothing of what is asked: grammar, the question's own frame, the answer's form
_PLAIN_WORDS = frozenset((
    "a", "about", "after", "all", "also", "an", "and", "answer", "any", "are", "as", "at", "be", "been",
    "before", "being", "between", "both", "but", "by", "can", "could", "did", "do", "does", "each", "exactly",
    "for", "found", "from", "full", "give", "given", "had", "has", "have", "her", "here", "his", "how", "if",
    "in", "into", "is", "it", "its", "just", "many", "may", "more", "most", "much", "must", "name", "names",
    "no", "not", "of", "on", "one", "only", "or", "other", "our", "out", "over", "own", "person", "person's",
    "phrase", "please", "reply", "said", "same", "say", "says", "short", "should", "so", "some", "such",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "under",
    "until", "up", "was", "were", "what", "when", "where", "which", "while", "who", "whom", "whose", "why",
    "will", "with", "word", "words", "would", "you", "your", "number", "numbers", "value", "text", "context",
))
_WORD = re.compile(r"[^\W\d_][\w'’]*")
_SENTENCE = re.compile(r"(?<=[.?!])\s+")


def asked_words(question: str, subjects: list[str]) -> list[str]:
    """The words of the question's sentences that name a subject, less the subjects' own words
    and plain words: what the question asks of the subject ("move", "laboratory")."""
    named = [s for s in _SENTENCE.split(question[:QUESTION_CHARS]) if any(n in s for n in subjects)]
    own = {w.casefold() for n in subjects for w in _WORD.findall(n)}
    return [w for w in content_words(" ".join(named)) if w not in own]


def content_words(text: str) -> list[str]:
    """The words of `text` (lowered, once each) of three letters or more that are no plain words."""
    words = [w.casefold() for w in _WORD.findall(text[:QUESTION_CHARS])]
    return list(dict.fromkeys(w for w in words if len(w) >= 3 and w not in _PLAIN_WORDS))


def stem(word: str) -> str:
    """`word` less an ending, so that "move" finds "moved" and "months" finds "month"."""
    for ending in ("ing", "ed", "es", "s", "e"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[:-len(ending)]
    return word


def answer_values(answer: str, question: str, *, names: bool, numbers: bool) -> list[str]:
    """The values `answer` gives that a question's subject should stand beside: codes; with
    `names`, capitalised words the question does not hold; with `numbers`, its numbers."""
    text = answer.strip().strip(".").strip().strip("'\"`").strip()
    if not text or len(text) > MAX_ANSWER_CHARS:
        return []
    asked = question[:QUESTION_CHARS].casefold()
    values = [m.group() for m in _CODE_VALUE.finditer(text)]
    if names:
        values += [w for w in _CAPITALISED.findall(text) if w.casefold() not in asked]
    if numbers:
        values += [n for n in _NUMBER_VALUE.findall(text) if n not in asked]
    return list(dict.fromkeys(values))[:MAX_VALUES]


def borrowed_value(codes: list[str], question: str, seen: str) -> tuple[str, str] | None:
    """A code-like value (letters and digits: u-1013, SKU-22826) that a string in `codes` holds,
    that the question does not give, and that `seen` shows only in pieces naming none of the
    question's subjects the code leaves out, with the first of those: the model searched for a
    value taken from elsewhere (the first line printed) instead of the one the subject it skipped
    points to ("the user who deleted lumen-api"). None otherwise."""
    asked = question[:QUESTION_CHARS].casefold()
    literals = [literal for code in codes for literal in _string_literals(code)]
    used = "\n".join(literals).casefold()
    skipped = [s for s in question_subjects(question) if s.casefold() not in used]
    if not skipped:
        return None
    values = [v for literal in literals for v in _CODE_VALUE.findall(literal[:MAX_NAME_CHARS])
              if v.casefold() not in asked and not _DATE_START.match(v)]  # a date is no name ("2024-03-01T")
    whole = [_whole(s) for s in skipped]
    for value in list(dict.fromkeys(values))[:MAX_VALUES]:
        units = units_holding([value], seen)
        if units and not any(w.search(unit) for unit in units for w in whole):
            return value, skipped[0]
    return None


_DATE_START = re.compile(r"\d{4}-\d\d")


def _string_literals(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


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


def whole_name(name: str) -> re.Pattern[str]:
    """`name` standing whole: not inside a longer word, code or name (Ottilie Craneley, Ivanova Street North)."""
    return _whole(name)


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


MAX_VALUES = 4  # the answer and the codes in it that are looked for (each a pass over the pieces)


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
    values = list(dict.fromkeys([text, *(m.group() for m in _CODE_VALUE.finditer(text))]))[:MAX_VALUES]
    units = units_holding(values, seen)  # `seen` is split and searched once, whatever the values
    for value in values:
        twin = _read_beside(value, subjects, units)
        if twin is not None:
            return twin
    return None


def units_holding(values: list[str], seen: str) -> list[str]:
    """The pieces of the latest `seen` (up to 4,000 characters each) that hold one of `values`."""
    any_value = re.compile("|".join(_answer_in(v).pattern for v in values), re.IGNORECASE)
    return [u for u in _UNIT_BREAK.split(seen[-_SCAN_CHARS:]) if len(u) <= 4000 and any_value.search(u)]


def _read_beside(text: str, subjects: list[str], units: list[str]) -> tuple[str, str] | None:
    """namesake_of for one value `text` of the answer, over the `units` that may hold it."""
    wanted = _answer_in(text)
    whole = [_whole(s) for s in subjects]
    longer = [_longer(s) for s in subjects]
    twins: dict[str, str] = {}
    cleared: set[str] = set()
    for unit in units:
        if not wanted.search(unit):
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
