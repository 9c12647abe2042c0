"""Scorers, as the paper's sources define them; every score is on a 0-100 scale.

sniah     RULER string_match_all: the share of reference strings found in the prediction
          (case-insensitive substring), x 100.
oolong    OOLONG-synth's own parser and rules (`oolong_parse`, `oolong_score`): exact and
          case-sensitive, comparison phrases, 0.75 ** |gold - n| for counts, x 100.
pairs     F1 over unordered pairs, x 100 (an empty gold: 100 only for an explicit "none").
multidoc  exact match after normalisation (case, punctuation, articles, spacing), x 100.
codeqa    accuracy of the letter LongBench v2 extracts ("The correct answer is (X)"), x 100.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any


def string_match_all(prediction: str, references: list[str]) -> float:
    if not references:
        return 0.0
    pred = prediction.lower()
    return 100.0 * sum(1 for r in references if r.lower() in pred) / len(references)


COMPARISONS = ("more common", "less common", "same frequency")


def oolong_parse(prediction: str) -> str:
    """The answer as OOLONG-synth's scorer reads it (src/eval/eval_helpers.py): without a ':',
    a short reply whole or a long one's last word; else the text after the last ':' without
    '*', '[' and ']', a long one reduced to the comparison phrase it holds."""
    if ":" not in prediction:
        if len(prediction) < 20:
            return prediction
        words = prediction.split()
        return words[-1] if words else ""
    answer = prediction.split(":")[-1].strip()
    for mark in "*[]":
        answer = answer.replace(mark, "")
    if len(answer) >= 20:
        for phrase in COMPARISONS:
            if phrase in answer:
                return phrase
    return answer


def oolong_score(prediction: str, gold: Any) -> float:
    """OOLONG-synth's rules: the parsed answer equal to the gold (case-sensitive) scores 100; a
    comparison phrase scores 100 when the gold holds it; for a count, 100 x 0.75 ** |gold - n|
    when the answer is a bare integer ("42 instances" scores 0, as there); else 0."""
    answer = oolong_parse(prediction)
    if answer == str(gold):
        return 100.0
    if answer in COMPARISONS:
        return 100.0 if answer in str(gold) else 0.0
    if isinstance(gold, int) and not isinstance(gold, bool):
        try:
            return 100.0 * 0.75 ** abs(gold - int(answer))
        except ValueError:
            return 0.0
    return 0.0


_PAIR = re.compile(r"\(\s*(?:user\s*)?(\d+)\s*,\s*(?:user\s*)?(\d+)\s*\)", re.IGNORECASE)


def parse_pairs(prediction: str) -> set[tuple[int, int]]:
    text = prediction.split("Answer:")[-1] if "Answer:" in prediction else prediction
    return {tuple(sorted((int(a), int(b)))) for a, b in _PAIR.findall(text) if a != b}  # type: ignore[misc]


def pairs_f1(prediction: str, gold: list[list[int]]) -> float:
    truth = {tuple(sorted(p)) for p in gold}
    guess = parse_pairs(prediction)
    if not truth:  # only an explicit "none" is right (not an answer that gives up)
        answer = prediction.split("Answer:")[-1] if "Answer:" in prediction else ""
        return 100.0 if not guess and answer.strip().lower().rstrip(".") == "none" else 0.0
    if not guess:
        return 0.0
    hit = len(truth & guess)
    if hit == 0:
        return 0.0
    precision, recall = hit / len(guess), hit / len(truth)
    return 100.0 * 2 * precision * recall / (precision + recall)


def normalise_answer(text: str) -> str:
    """SQuAD-style: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: Any) -> float:
    answer = prediction.split("Answer:")[-1] if "Answer:" in prediction else prediction
    return 100.0 if normalise_answer(answer) == normalise_answer(str(gold)) else 0.0


def choice_letter(prediction: str) -> str | None:
    """The letter as LongBench v2 extracts it (pred.py `extract_answer`): "The correct answer
    is (X)", else "The correct answer is X", asterisks removed first; anything else is no answer
    (a letter mentioned in passing is not a choice)."""
    text = prediction.replace("*", "")
    m = re.search(r"The correct answer is \(([A-D])\)", text) or re.search(r"The correct answer is ([A-D])", text)
    return m.group(1) if m else None


def choice_accuracy(prediction: str, gold: str) -> float:
    return 100.0 if choice_letter(prediction) == gold else 0.0


SCORERS: dict[str, Callable[[str, Any], float]] = {
    "sniah": string_match_all,
    "oolong": oolong_score,
    "pairs": pairs_f1,
    "multidoc": exact_match,
    "codeqa": choice_accuracy,
}


def score(suite: str, prediction: str | None, gold: Any) -> float:
    """The suite's score of a prediction (None, a failed run, scores 0)."""
    if prediction is None:
        return 0.0
    return float(SCORERS[suite](prediction, gold))
