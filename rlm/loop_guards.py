"""What the loop checks in what a model does, for models that go astray: each check names a
failure mode seen with real models, and what the model is told when it happens.

- a cell that repeats an earlier one and gets the same result (`Repeats`);
- a sub-call prompt too short to carry any of the data, one written whole in the cell's code
  (`written_prompts`), and a sub-model's reply that refuses or asks for data it was not given
  (`short_prompts`, `looks_like_refusal`);
- a final answer nothing the model saw supports (`supported`);
- text written after a code block, before its output was seen (`invents_output`);
- an answer that is what a search matching nothing gives (`is_empty_result`).
Every check is about the shape of what happened, not about one model's words, so that it
holds for other models too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

# a sub-call prompt shorter than this cannot carry a useful piece of the context
SHORT_PROMPT_CHARS = 200
# a cell longer than this is not parsed for the strings it writes (the parse runs on the host)
MAX_PARSED_CODE_CHARS = 200_000
# the text of observations kept to check answers against (older text is dropped first)
SEEN_KEEP_CHARS = 4_000_000

_REFUSAL = re.compile(
    r"\A\W*(?:I'?m sorry|I am sorry|sorry\b|I (?:cannot|can ?not|can't|am unable|'m unable|do not have|don't have)"
    r"|as an AI\b|unfortunately\b)"
    r"|please (?:provide|share|give|paste|upload)\b"
    r"|(?:no|without (?:the|any)) (?:context|text|data|document|information) (?:was |were |has been |is )?"
    r"(?:provided|given|supplied|available)",
    re.IGNORECASE)


def looks_like_refusal(reply: str) -> bool:
    """A sub-model reply that declines, or asks for the text it was supposed to read."""
    return bool(_REFUSAL.search(reply[:400]))


def short_prompts(prompts: list[str]) -> list[int]:
    """The lengths of the prompts too short to carry any data."""
    return [len(p) for p in prompts if len(p.strip()) < SHORT_PROMPT_CHARS]


def written_prompts(prompts: list[str], code: str | None) -> list[str]:
    """The prompts too short to carry data that are strings written whole in `code` (a literal,
    or an f-string with nothing put in): they hold only the model's own words, so a sub-model
    could only guess (`llm_query("How many errors are there?")`)."""
    short = [p for p in prompts if len(p.strip()) < SHORT_PROMPT_CHARS]
    if not short or not code:
        return []
    literals = _code_strings(code)
    return [p for p in short if p in literals or p.strip() in literals]


@functools.lru_cache(maxsize=4)  # one parse a cell, however many calls its loop makes
def _code_strings(code: str) -> frozenset[str]:
    import ast

    if len(code) > MAX_PARSED_CODE_CHARS:
        return frozenset()
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
            found.add(node.value.strip())
    return frozenset(found)


def normal_code(code: str) -> str:
    """`code` as a repeat of it is recognised: comments, blank lines and import lines left out."""
    lines = (ln.split("#", 1)[0].rstrip() if "#" in ln and "'" not in ln and '"' not in ln else ln.rstrip()
             for ln in code.splitlines())
    # an import line more or less is the same cell (the modules stay imported)
    return "\n".join(ln for ln in lines if ln.strip() and not _IMPORT_LINE.match(ln))


_IMPORT_LINE = re.compile(r"\s*(?:import [\w., ]+|from [\w.]+ import [\w., ]+)\s*$")


@dataclass
class Repeats:
    """Cells already run, by their code and result: how often each exact pair came back."""

    seen: dict[tuple[str, str], int] = field(default_factory=dict)

    def count(self, code: str, stdout: str, error: str | None) -> int:
        """Record a cell; return how many times before this one the same code gave the same result."""
        key = (normal_code(code), (error or "").strip().splitlines()[-1:][0] if error else stdout.strip()[:2000])
        before = self.seen.get(key, 0)
        self.seen[key] = before + 1
        return before


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
# a code: letters and digits in one token (W-3, RC-56AS-3WCT, u-1013, 4417-TEAL): seen whole or not at all
_CODE = re.compile(r"(?<![\w-])(?=[\w-]*[^\W\d_])(?=[\w-]*\d)[\w]+(?:-[\w]+)*", re.UNICODE)


def _numbers(text: str) -> set[str]:
    out = set()
    for m in _NUMBER.finditer(text):
        n = m.group().replace(",", "")
        if "." in n:
            n = n.rstrip("0").rstrip(".")
        out.add(n.lstrip("-") or "0")
    return out


def supported(answer: str, seen: str, question: str = "") -> bool:
    """Does what the model saw (`seen`: its cells' output and errors, sub-call replies it
    printed) support `answer`? Every number in a short answer must have been seen, and at least
    half of its words (of those the `question` does not hold, where there are any: the question's
    own words restated support nothing); a long answer (an essay, a list) is not checked."""
    text = answer.strip()
    if not text:
        return False
    if len(text) > 300:
        return True
    if not seen.strip():
        return False
    numbers = _numbers(text)
    if numbers and not numbers <= _numbers(seen):
        return False
    low = seen.lower()
    if any(code.lower() not in low for code in _CODE.findall(text)):
        return False
    words = {w.lower() for w in _WORD.findall(text)}
    new = words - {w.lower() for w in _WORD.findall(question[:4000])}
    words = new or words  # an answer all in the question's words (a choice it offers) is looked for whole
    if numbers or not words:
        return True
    return sum(w in low for w in words) * 2 >= len(words)


def invented_values(answer: str, seen: str, question: str) -> bool:
    """Does `answer` hold a number or a code that neither the output seen nor the question shows
    (made up, not restated)?"""
    text = answer.strip()[:300]
    known = _numbers(seen) | _numbers(question[:4000])
    if not _numbers(text) <= known:
        return True
    low = (seen + "\n" + question[:4000]).lower()
    return any(code.lower() not in low for code in _CODE.findall(text))


def restates_question(answer: str, question: str) -> bool:
    """Is `answer` only words of the question (at least one of four letters or more), with no
    number the question does not give, where the question offers no choice ("checkout outage" or
    "checkout outage on 1 December 2024" for "Why did the checkout outage on 1 December 2024
    happen?")?"""
    text = answer.strip()
    words = {w.lower() for w in _WORD.findall(text)}
    asked = question[:4000]
    if not words or not _numbers(text) <= _numbers(asked) or len(text) > 200 \
            or re.search(r"\bor\b", asked, re.IGNORECASE):
        return False
    return words <= {w.lower() for w in _WORD.findall(asked)}


# "the phone number of" asks for no count: "the number of" must follow "the" directly
_HOW_MANY = re.compile(r"\bhow many\b|\bthe (?:total )?(?:number|count) of\b", re.IGNORECASE)
_COUNT = re.compile(r"\d[\d,]*\s?\.?")
COUNT_CHARS = 30  # a longer answer is no bare count (and is not matched at all)
LOOKED_CHARS = 60  # an output this long shows a record or more; a count alone is a few characters


def unchecked_count(answer: str, question: str, outputs: list[str]) -> bool:
    """A count (the question asks how many; the answer is a whole number) when no output the
    model saw was long enough to show any of what it counted: its test was never seen at work
    (a real model counted `5\\d{3}`, four digits, for a 5xx status, and answered 30 for 9)."""
    text = answer.strip()
    return bool(len(text) <= COUNT_CHARS and _COUNT.fullmatch(text) and _HOW_MANY.search(question[:4000])
                and not any(len(out.strip()) >= LOOKED_CHARS for out in outputs))


_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})", re.MULTILINE)
_OUTPUT_WORDS = re.compile(r"^\W*(output|result|results|prints?|returns?)\b\W*:?", re.IGNORECASE | re.MULTILINE)


def invents_output(trailing: str) -> bool:
    """Text after the last code block that shows output the model has not seen yet: a block
    (```...) or a line that starts with "Output:" / "Result:"."""
    return bool(_FENCE_OPEN.search(trailing) or _OUTPUT_WORDS.search(trailing))


_EMPTY = {"0", "0.0", "[]", "{}", "()", "none", "null", "set()", "''", '""'}


CONTEXT_COPY_CHARS = 200  # an answer that starts with this much of the context's head is a copy of it
WHOLE_COPY_CHARS = 100_000  # a copy of the context this long is never an answer, however often given


def is_context_copy(answer: str, head: str | None) -> bool:
    """An answer that is the context itself (FINAL_VAR(context), or a name bound to it): it begins
    with the context's first CONTEXT_COPY_CHARS characters."""
    if not head:
        return False
    start = head.strip()[:CONTEXT_COPY_CHARS]
    return len(start) > 40 and answer.strip().startswith(start)


# a short answer saying the search came back empty ("not found in the document", "no such
# line was found", "could not be determined")
_NOT_FOUND = re.compile(
    r"\b(?:not|never|no\w*) (?:\w+ ){0,3}(?:found|mentioned|present|given|listed|specified|stated|available)\b"
    r"|\b(?:could|can)(?:not|n't| not) (?:be )?(?:find|found|locate|determine|determined|identify|identified)\b"
    r"|\bdoes(?:n't| not) (?:contain|mention|include|say)\b",
    re.IGNORECASE)
NOT_FOUND_CHARS = 200  # longer answers are explanations, not a search's empty result


def is_empty_result(answer: str) -> bool:
    """An answer that is what a search matching nothing gives: 0, an empty list, None, or a
    short statement that nothing was found."""
    text = answer.strip()
    return text.strip(".").lower() in _EMPTY or (len(text) <= NOT_FOUND_CHARS and bool(_NOT_FOUND.search(text)))


def borrowed_strings(code: str, borrowed: frozenset[str], question: str) -> list[str]:
    """The strings `code` holds that come from `borrowed` (the worked example's) and not from
    the question: the model copied the example instead of this task's words."""
    import ast

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
        return []
    found = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    return sorted(s for s in found & borrowed if s not in question)
