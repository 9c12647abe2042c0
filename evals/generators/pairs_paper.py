"""The 20 OOLONG-Pairs queries of the RLM paper (Appendix D.1), their text verbatim and each
condition as data, so that the gold is computed from the labelled lines by one evaluator.

Tasks 1-10 are symmetric (both users have at least one instance with label A or B; in 4, 5, 7,
9, 10 every instance of one of the two labels must also fall after / before a date, for both
users); tasks 11-20 are asymmetric (one user meets P, the other meets Q; either order)."""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass

NUM, ENT, HUM, LOC, DESC, ABBR = ("numeric value", "entity", "human being", "location",
                                  "description and abstract concept", "abbreviation")
LABEL_NOTE = ("Each of the questions can be labelled as one of the labels (the data does not provide the labels, "
              "you need to figure out the label from the semantics of the question): description and abstract "
              "concept, entity, human being, numeric value, location, abbreviation. In your answer, list all pairs "
              "in the format (user_id_1, user_id_2), separated by newlines.")
_HEAD = "In the above data, list all pairs of user IDs (no duplicate pairs, list lower ID first) "

Count = tuple[str, str, int]  # (label, ">=" or "==", n)


@dataclass(frozen=True)
class Symmetric:
    labels: tuple[str, str]
    dated: tuple[str, str, dt.date] | None = None  # (label, "after" | "before", date)


@dataclass(frozen=True)
class Asymmetric:
    one: tuple[Count, ...]
    other: tuple[Count, ...]


TASKS: dict[int, tuple[str, Symmetric | Asymmetric]] = {
    1: ("where both users have at least one instance with a numeric value or location.", Symmetric((NUM, LOC))),
    2: ("where both users have at least one instance with an entity or human being.", Symmetric((ENT, HUM))),
    3: ("where both users have at least one instance with a description and abstract concept or abbreviation.",
        Symmetric((DESC, ABBR))),
    4: ("where both users have at least one instance with a human being or location, and all instances that are a "
        "human being for both users must be after January 6, 2023.",
        Symmetric((HUM, LOC), (HUM, "after", dt.date(2023, 1, 6)))),
    5: ("where both users have at least one instance with an entity or numeric value, and all instances that are an "
        "entity for both users must be before March 15, 2023.",
        Symmetric((ENT, NUM), (ENT, "before", dt.date(2023, 3, 15)))),
    6: ("where both users have at least one instance with a location or abbreviation.", Symmetric((LOC, ABBR))),
    7: ("where both users have at least one instance with a description and abstract concept or numeric value, and "
        "all instances that are a numeric value for both users must be after February 1, 2023.",
        Symmetric((DESC, NUM), (NUM, "after", dt.date(2023, 2, 1)))),
    8: ("where both users have at least one instance with a human being or description and abstract concept.",
        Symmetric((HUM, DESC))),
    9: ("where both users have at least one instance with an entity or location, and all instances that are a "
        "location for both users must be after April 10, 2023.",
        Symmetric((ENT, LOC), (LOC, "after", dt.date(2023, 4, 10)))),
    10: ("where both users have at least one instance with a numeric value or abbreviation, and all instances that "
         "are an abbreviation for both users must be before May 20, 2023.",
         Symmetric((NUM, ABBR), (ABBR, "before", dt.date(2023, 5, 20)))),
    11: ("such that one user has at least one instance with entity and one with abbreviation, and the other user "
         "has exactly one instance with entity.",
         Asymmetric(((ENT, ">=", 1), (ABBR, ">=", 1)), ((ENT, "==", 1),))),
    12: ("such that one user has at least two instances with numeric value, and the other user has at least one "
         "instance with location and at least one instance with human being.",
         Asymmetric(((NUM, ">=", 2),), ((LOC, ">=", 1), (HUM, ">=", 1)))),
    13: ("such that one user has exactly one instance with description and abstract concept, and the other user "
         "has at least one instance with abbreviation and at least one instance with entity.",
         Asymmetric(((DESC, "==", 1),), ((ABBR, ">=", 1), (ENT, ">=", 1)))),
    14: ("such that one user has at least one instance with human being and at least one instance with numeric "
         "value, and the other user has exactly two instances with location.",
         Asymmetric(((HUM, ">=", 1), (NUM, ">=", 1)), ((LOC, "==", 2),))),
    15: ("such that one user has at least one instance with entity, at least one instance with location, and at "
         "least one instance with abbreviation, and the other user has exactly one instance with numeric value.",
         Asymmetric(((ENT, ">=", 1), (LOC, ">=", 1), (ABBR, ">=", 1)), ((NUM, "==", 1),))),
    16: ("such that one user has at least one instance with description and abstract concept and at least one "
         "instance with human being, and the other user has at least two instances with entity and exactly one "
         "instance with abbreviation.",
         Asymmetric(((DESC, ">=", 1), (HUM, ">=", 1)), ((ENT, ">=", 2), (ABBR, "==", 1)))),
    17: ("such that one user has exactly one instance with numeric value, and the other user has at least one "
         "instance with location and at least one instance with description and abstract concept.",
         Asymmetric(((NUM, "==", 1),), ((LOC, ">=", 1), (DESC, ">=", 1)))),
    18: ("such that one user has at least one instance with abbreviation and exactly one instance with human "
         "being, and the other user has at least one instance with entity and at least one instance with numeric "
         "value.",
         Asymmetric(((ABBR, ">=", 1), (HUM, "==", 1)), ((ENT, ">=", 1), (NUM, ">=", 1)))),
    19: ("such that one user has at least two instances with location and at least one instance with entity, and "
         "the other user has exactly one instance with description and abstract concept and exactly one instance "
         "with abbreviation.",
         Asymmetric(((LOC, ">=", 2), (ENT, ">=", 1)), ((DESC, "==", 1), (ABBR, "==", 1)))),
    20: ("such that one user has at least one instance with numeric value and at least one instance with human "
         "being, and the other user has at least one instance with location, at least one instance with entity, "
         "and exactly one instance with abbreviation.",
         Asymmetric(((NUM, ">=", 1), (HUM, ">=", 1)), ((LOC, ">=", 1), (ENT, ">=", 1), (ABBR, "==", 1)))),
}


def question(task: int) -> str:
    """Task `task`'s text as the paper gives it."""
    return f"{_HEAD}{TASKS[task][0]} {LABEL_NOTE}"


def gold(task: int, records: list[dict]) -> list[list[int]]:
    """The sorted [low, high] pairs that meet task `task`'s condition on labelled `records`."""
    by_user: dict[int, list[dict]] = collections.defaultdict(list)
    for r in records:
        by_user[r["user"]].append(r)
    counts = {u: collections.Counter(r["label"] for r in rs) for u, rs in by_user.items()}
    cond = TASKS[task][1]
    users = sorted(by_user)
    if isinstance(cond, Symmetric):
        ok = [u for u in users if _symmetric_ok(cond, by_user[u], counts[u])]
        return [[a, b] for i, a in enumerate(ok) for b in ok[i + 1:]]
    one = {u for u in users if _meets(cond.one, counts[u])}
    other = {u for u in users if _meets(cond.other, counts[u])}
    found = {(min(a, b), max(a, b)) for a in one for b in other if a != b}
    return [list(p) for p in sorted(found)]


def _symmetric_ok(cond: Symmetric, rows: list[dict], count: collections.Counter) -> bool:
    if not any(count[label] for label in cond.labels):
        return False
    if cond.dated is None:
        return True
    label, side, when = cond.dated
    dates = [r["date"] for r in rows if r["label"] == label]
    return all(d > when for d in dates) if side == "after" else all(d < when for d in dates)


def _meets(counts_needed: tuple[Count, ...], count: collections.Counter) -> bool:
    return all(count[label] >= n if op == ">=" else count[label] == n for label, op, n in counts_needed)
