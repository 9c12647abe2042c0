"""Evidence precision and recall: the passages a run cited (`cite`, see rlm/evidence.py) against
the passages its task's answer rests on (`Task.gold_evidence`, placed by the generator).

A citation is correct when it overlaps a gold span: the same document and overlapping byte
ranges (a citation's `start` / `end` in its document's text); when the span has no document (the
context is one text) the citation's byte range in the whole context's text (`at`).

    precision = correct citations / citations        (None when the run cited nothing)
    recall    = gold spans touched by a citation / gold spans

Both are None when the task has no gold location or the method cannot cite (`direct` and the
other baselines: their outcome has no evidence list, which is not the same as none cited).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evals.tasks import GoldSpan

NONE: dict[str, Any] = {"citations": None, "evidence_precision": None, "evidence_recall": None}


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def touches(cited: dict[str, Any], span: GoldSpan) -> bool:
    """Whether one citation (an `Evidence.as_dict()`) overlaps one gold span."""
    try:
        if span.get("document") is None:
            at = cited["at"]
            return _overlaps((int(at[0]), int(at[1])), (span["start"], span["end"]))
        return (str(cited.get("document")) == span["document"]
                and _overlaps((int(cited["start"]), int(cited["end"])), (span["start"], span["end"])))
    except (KeyError, TypeError, ValueError, IndexError):  # a malformed citation is not evidence
        return False


def evidence_scores(gold: Sequence[GoldSpan] | None, cited: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
    """`citations` (how many, None when the method cannot cite), `evidence_precision` and
    `evidence_recall` (0-1, rounded to 4 places; None as the module docstring says)."""
    if cited is None:
        return dict(NONE)
    out: dict[str, Any] = {"citations": len(cited), "evidence_precision": None, "evidence_recall": None}
    if not gold:
        return out
    if cited:
        right = sum(1 for c in cited if any(touches(c, g) for g in gold))
        out["evidence_precision"] = round(right / len(cited), 4)
    touched = sum(1 for g in gold if any(touches(c, g) for c in cited))
    out["evidence_recall"] = round(touched / len(gold), 4)
    return out
