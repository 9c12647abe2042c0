"""oolong: OOLONG-synth (trec_coarse) aggregation tasks, regenerated.

Each line reads `Date: <Mon DD, YYYY> || User: <id> || Instance: <text>`. Every instance is a
question whose answer type is its latent label, one of trec_coarse's six; the label is never
written in the context, only in the labelled copy kept for checking, and no count of words
gives it away (see oolong_instances). 80% of the lines belong
to the top 20% of user ids. Questions ask for counts, most / least frequent labels,
comparisons (none decided by 2% of the lines or less, as OOLONG drops them), per-user
comparisons, counts before / after a date. (An earlier 'labels seen exactly N times' kind was
dropped: a constant answer scored 98 on it.)
"""

from __future__ import annotations

import collections
import datetime as dt
import random
from pathlib import Path
from typing import Any

from evals.generators.common import fit_tokens, place_context, rng_for
from evals.generators.oolong_instances import HEADS, instance
from evals.tasks import EvalError, Task, format_length
from evals.tokens import Tokenizer, tokenizer

LABELS = tuple(HEADS)

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
START = dt.date(2021, 1, 1)
LINE_CHARS = 290  # a line's mean length, newline included (users are counted from it)
DAYS = 1095


def format_date(d: dt.date) -> str:
    return f"{_MONTHS[d.month - 1]} {d.day:02d}, {d.year}"


def make_records(rng: random.Random, total_chars: int, *, users_per_line: int = 25, min_users: int = 6,
                 max_users: int | None = None, heavy_share: float = 0.8) -> list[dict]:
    """Records (date, user, text, label) whose lines fill at most `total_chars` characters, from
    about one user per `users_per_line` lines (within min_users and max_users); `heavy_share`
    of the lines come from a fifth of the users."""
    records: list[dict] = []
    size = 0
    est_lines = max(8, total_chars // LINE_CHARS)
    n_users = max(min_users, est_lines // users_per_line)
    n_users = min(n_users, max_users) if max_users else n_users
    users = sorted(rng.sample(range(10_000, 99_999), n_users))
    heavy = rng.sample(users, max(1, n_users // 5))  # anywhere among the ids, not the lowest
    label_weights = [rng.uniform(0.5, 2.0) for _ in LABELS]
    while True:
        user = rng.choice(heavy) if rng.random() < heavy_share else rng.choice(users)
        label = rng.choices(LABELS, label_weights)[0]
        date = START + dt.timedelta(days=rng.randrange(DAYS))
        rec = {"date": date, "user": user, "text": instance(rng, label), "label": label}
        add = len(line(rec)) + 1
        if size + add > total_chars and records:
            return records
        records.append(rec)
        size += add


def line(rec: dict, labelled: bool = False) -> str:
    s = f"Date: {format_date(rec['date'])} || User: {rec['user']} || Instance: {rec['text']}"
    return s + f" || Label: {rec['label']}" if labelled else s


def render(records: list[dict], labelled: bool = False) -> str:
    return "\n".join(line(r, labelled) for r in records) + "\n"


PREAMBLE = (
    "The context lists instances, one per line, as `Date: ... || User: ... || Instance: ...`. Each "
    "instance is a question that can be classified by the type of its answer into exactly one of these "
    "labels: " + ", ".join(LABELS) + ". The labels are not written in the context: you must infer "
    "them from the instances. "
)


def _counts(records: list[dict]) -> collections.Counter:
    return collections.Counter(r["label"] for r in records)


KINDS = ("count", "most", "least", "second", "compare", "user_compare", "before", "after")
MARGIN = 0.02  # OOLONG drops comparisons decided by 2% of the lines or less


def make_question(rng: random.Random, records: list[dict], kind: str | None = None) -> tuple[str, str, object]:
    """(kind, question, gold) for one of the OOLONG question types. A count's gold is an int
    (partial credit), every other gold a str (exact match, as OOLONG scores a label or a user)."""
    counts = _counts(records)
    ranked = sorted(LABELS, key=lambda lab: (-counts[lab], lab))
    margin = MARGIN * len(records)
    kind = kind or rng.choice(KINDS)

    def clear(a: str, b: str) -> bool:
        return abs(counts[a] - counts[b]) > margin

    if kind == "count":
        lab = rng.choice(LABELS)
        return kind, f"How many instances should be labelled '{lab}'? Give a number.", counts[lab]
    if kind in ("most", "least", "second"):
        if kind == "most" and clear(ranked[0], ranked[1]):
            return kind, "Which label is the most common? Give the label.", ranked[0]
        if kind == "least" and clear(ranked[-1], ranked[-2]):
            return kind, "Which label is the least common? Give the label.", ranked[-1]
        if kind == "second" and clear(ranked[0], ranked[1]) and clear(ranked[1], ranked[2]):
            return kind, "Which label is the second most common? Give the label.", ranked[1]
        return make_question(rng, records, "count")
    if kind == "compare":
        pairs = [(a, b) for a in LABELS for b in LABELS if a != b and (counts[a] == counts[b] or clear(a, b))]
        if not pairs:
            return make_question(rng, records, "count")
        a, b = rng.choice(pairs)
        rel = ("more common than" if counts[a] > counts[b] else "less common than" if counts[a] < counts[b]
               else "same frequency as")
        q = (f"Is the label '{a}' more common than, less common than, or the same frequency as the label "
             f"'{b}'? Answer with one of: more common than, less common than, same frequency as.")
        return kind, q, rel
    if kind == "user_compare":
        lab = rng.choice(LABELS)
        per_user = collections.Counter(r["user"] for r in records if r["label"] == lab)
        users = sorted({r["user"] for r in records})
        for _ in range(50):
            ua, ub = sorted(rng.sample(users, 2))
            if per_user[ua] != per_user[ub]:
                winner = ua if per_user[ua] > per_user[ub] else ub
                return kind, (f"Which of the users {ua} and {ub} has more instances that should be labelled "
                              f"'{lab}'? Give the user id."), str(winner)
        return make_question(rng, records, "count")
    when = START + dt.timedelta(days=rng.randrange(60, DAYS - 60))
    lab = rng.choice(LABELS)
    if kind == "before":
        gold = sum(1 for r in records if r["label"] == lab and r["date"] < when)
        question = f"How many instances dated before {format_date(when)} should be labelled '{lab}'? Give a number."
        return kind, question, gold
    gold = sum(1 for r in records if r["label"] == lab and r["date"] > when)
    return kind, f"How many instances dated after {format_date(when)} should be labelled '{lab}'? Give a number.", gold


def write_labelled(task: Task, records: list[dict], out_dir: Path) -> None:
    rel = Path("contexts") / f"{task.id}.labelled.txt"
    (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (out_dir / rel).write_text(render(records, labelled=True), encoding="utf-8")
    task.labelled_path = str(rel)


def sized_records(name: str, length: int, index: int, seed: int, tok: Tokenizer,
                  **users: Any) -> tuple[random.Random, list[dict], int]:
    """Records whose rendered lines hold 97-100% of `length` tokens, the random source they
    were drawn from (to draw the question next) and their token count."""
    def build(chars: int) -> tuple[tuple[random.Random, list[dict]], int]:
        rng = rng_for(name, seed, index, length)
        records = make_records(rng, chars, **users)
        return (rng, records), tok.count(render(records))

    (rng, records), tokens = fit_tokens(build, length, tok)
    return rng, records, tokens


def generate(variant: str, length: int, index: int, seed: int, out_dir: Path,
             tok: Tokenizer | None = None) -> Task:
    tok = tok or tokenizer()
    if variant not in ("mixed", *KINDS):
        raise EvalError(f"unknown oolong variant {variant!r}; known: mixed, {', '.join(KINDS)}")
    rng, records, tokens = sized_records(f"oolong/{variant}", length, index, seed, tok)
    kind, q, gold = make_question(rng, records, None if variant == "mixed" else variant)
    task = Task(id=f"oolong-{variant}-{format_length(length)}-s{seed}-{index:04d}", suite="oolong",
                variant=variant, length=length, chars=0, tokens=tokens, tokenizer=tok.name,
                question=PREAMBLE + q + " End your answer with a line 'Answer: <value>'.",
                gold=gold, meta={"kind": kind, "lines": len(records), "users": len({r['user'] for r in records})})
    write_labelled(task, records, out_dir)
    return place_context(task, render(records), out_dir)
