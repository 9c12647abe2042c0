"""pairs: OOLONG-Pairs (the RLM paper's appendix D.1): list every pair of users meeting a
condition over the latent labels, on the same lines as oolong. Gold: sorted [low, high] pairs."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import random
from pathlib import Path

from evals.generators import oolong
from evals.generators.common import place_context
from evals.tasks import EvalError, Task, format_length
from evals.tokens import Tokenizer, tokenizer

KINDS = ("both_any", "both_before", "asymmetric")


def _by_user(records: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = collections.defaultdict(list)
    for r in records:
        out[r["user"]].append(r)
    return out


def make_question(rng: random.Random, records: list[dict], kind: str) -> tuple[str, list[list[int]], dict]:
    users = _by_user(records)
    ids = sorted(users)
    if kind == "both_any":
        a, b = rng.sample(oolong.LABELS, 2)
        ok = {u for u in ids if any(r["label"] in (a, b) for r in users[u])}
        pairs = [[x, y] for x, y in itertools.combinations(sorted(ok), 2)]
        q = f"both users have at least one instance that should be labelled '{a}' or '{b}'"
        return q, pairs, {"labels": [a, b]}
    if kind == "both_before":
        lab = rng.choice(oolong.LABELS)
        when = oolong.START + dt.timedelta(days=rng.randrange(300, oolong.DAYS - 100))
        ok = {u for u in ids
              if any(r["label"] == lab for r in users[u])
              and all(r["date"] < when for r in users[u] if r["label"] == lab)}
        pairs = [[x, y] for x, y in itertools.combinations(sorted(ok), 2)]
        q = (f"both users have at least one instance that should be labelled '{lab}', and all of their "
             f"'{lab}' instances are dated before {oolong.format_date(when)}")
        return q, pairs, {"labels": [lab], "date": when.isoformat()}
    a, b = rng.sample(oolong.LABELS, 2)
    count = collections.Counter((r["user"], r["label"]) for r in records)
    p = {u for u in ids if count[(u, a)] >= 2}
    q_ = {u for u in ids if count[(u, b)] >= 1}
    found: set[tuple[int, int]] = {(min(x, y), max(x, y)) for x in p for y in q_ if x != y}
    q = (f"one of the two users has at least two instances that should be labelled '{a}' and the other "
         f"has at least one instance that should be labelled '{b}'")
    return q, [list(t) for t in sorted(found)], {"labels": [a, b]}


def generate(variant: str, length: int, index: int, seed: int, out_dir: Path,
             tok: Tokenizer | None = None) -> Task:
    tok = tok or tokenizer()
    if variant not in ("mixed", *KINDS):
        raise EvalError(f"unknown pairs variant {variant!r}; known: mixed, {', '.join(KINDS)}")
    # fewer, busier users than oolong: the answer grows with the square of the users
    rng, records, tokens = oolong.sized_records(f"pairs/{variant}", length, index, seed, tok, users_per_line=60)
    kind = rng.choice(KINDS) if variant == "mixed" else variant
    condition, gold, info = make_question(rng, records, kind)
    question = (oolong.PREAMBLE + f"List every pair of user ids such that {condition}. Write each pair as "
                "(lower id, higher id); end your answer with a line 'Answer: (id1, id2), (id3, id4), ...' "
                "or 'Answer: none'.")
    task = Task(id=f"pairs-{variant}-{format_length(length)}-s{seed}-{index:04d}", suite="pairs",
                variant=variant, length=length, chars=0, tokens=tokens, tokenizer=tok.name,
                question=question, gold=gold,
                meta={"kind": kind, **info, "lines": len(records), "users": len({r['user'] for r in records})})
    oolong.write_labelled(task, records, out_dir)
    return place_context(task, oolong.render(records), out_dir)
