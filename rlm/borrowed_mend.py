"""The value a cell borrowed from elsewhere, replaced by the one the question's subject points to.

A two-step question ('Exactly one user deleted the repository "lumen-api". How many login_failed
events does that user have?') needs its first step: the value the subject points to. A small model
skips it and searches for a value of the same kind that it saw first (`'u-1013' in line`, the user
of the first line printed), and counts that user's events. The answer checks find the borrowed
value (rlm/namesakes.borrowed_value); this module finds the value it should have been: in the
lines of the context's start that name the subject and the most of the question's words, the
values of the borrowed one's shape (its letters as they are, each run of digits as as many
digits: u-1013 is `u-` and four digits). Where that is exactly one value, the cell is written
again with it in place of the borrowed one. Nothing of the cell is run on the host.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

from rlm.namesakes import QUESTION_CHARS, asked_words, stem
from rlm.question_terms import changes_earlier_values

__all__ = ["Pointed", "pointed_value", "shape_of", "with_value"]

MAX_VALUE_CHARS = 60
MAX_LINE_CHARS = 4000  # a longer line is no record
MAX_WORDS = 12


@dataclass(frozen=True)
class Pointed:
    """The value the subject points to, and the line it was read in."""

    value: str
    line: str


def shape_of(value: str) -> re.Pattern[str]:
    """Values written like `value`: its other characters as they are, a run of n digits as any n
    digits, standing whole (not inside a longer code)."""
    parts = re.split(r"(\d+)", value)
    body = "".join(rf"\d{{{len(p)}}}" if p.isdigit() else re.escape(p) for p in parts if p)
    return re.compile(rf"(?<![\w-]){body}(?![\w-])")


def _whole(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(text)}(?![\w-])")


def pointed_value(value: str, subject: str, question: str, lines: list[str]) -> Pointed | None:
    """The one value of `value`'s shape, other than it, in the lines of `lines` that name
    `subject` whole and say the most of the question's words (at least one); None where there
    is none, or more than one."""
    if not value or len(value) > MAX_VALUE_CHARS or not any(c.isdigit() for c in value) or not subject:
        return None
    # the words of the sentence that names the subject ("user", "deleted", "repository"), found at
    # a word's start or after `_` (a field's value: delete_repository)
    words = asked_words(question[:QUESTION_CHARS], [subject])[:MAX_WORDS]
    if not words:
        return None
    said = [re.compile(r"(?<![^\W_])" + re.escape(stem(w)), re.IGNORECASE) for w in words]
    whole, shape = _whole(subject), shape_of(value)
    best, found = 0, dict[str, str]()
    for line in lines:
        if len(line) > MAX_LINE_CHARS or subject not in line or not whole.search(line):
            continue
        score = sum(1 for w in said if w.search(line))
        if score == 0 or score < best:
            continue
        values = {v: line for v in shape.findall(line) if v != value}
        if score > best:
            best, found = score, {}
        found.update({v: found.get(v, line) for v in values})
    if len(found) != 1:
        return None
    [(pointed, line)] = found.items()
    return Pointed(pointed, line)


def with_value(code: str, value: str, replacement: str) -> str | None:
    """`code` with `value` (where it stands whole) replaced by `replacement`; None where it does
    not stand in it, or where the cell changes in place values of an earlier cell (run again, it
    would add to what its first run left there)."""
    pattern = _whole(value)
    if not pattern.search(code):
        return None
    try:
        if changes_earlier_values(ast.parse(code)):
            return None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    # only inside the cell's strings: the value may also stand as a name (`math.log10` for 'log10')
    spans = _string_spans(code)
    if spans is None:
        return None
    out, at = [], 0
    for start, end in spans:
        out.extend([code[at:start], pattern.sub(lambda _: replacement, code[start:end])])
        at = end
    out.append(code[at:])
    mended = "".join(out)
    return mended if mended != code else None


def _string_spans(code: str) -> list[tuple[int, int]] | None:
    """The offsets of `code`'s string literals (f-strings whole), in order; None where it does not tokenize."""
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.STRING or token.type == getattr(tokenize, "FSTRING_START", -1):
                spans.append((starts[token.start[0] - 1] + token.start[1], starts[token.end[0] - 1] + token.end[1]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    return spans
