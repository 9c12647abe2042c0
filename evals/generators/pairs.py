"""pairs: OOLONG-Pairs (the RLM paper's appendix D.1): list every pair of users meeting a
condition over the latent labels, on the same lines as oolong. Gold: sorted [low, high] pairs.

Variants: `paper` (the default) asks the paper's 20 queries verbatim, task (index mod 20) + 1,
over users with a few lines each (pairs_paper.py); `mixed` and its kinds ask our own selective
conditions (at most 30% of the users qualify), which no answer that skips the labels can game."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import random
from pathlib import Path

from evals.generators import oolong, pairs_paper
from evals.generators.common import place_context
from evals.tasks import EvalError, Task, format_length
from evals.tokens import Tokenizer, tokenizer

KINDS = ("both_any", "both_before", "asymmetric")


def _by_user(records: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = collections.defaultdict(list)
    for r in records:
        out[r["user"]].append(r)
    return out


# a condition holds for at most this share of the users, and for at least 2 of them: at most
# ~9% of all pairs are gold when both users meet it, ~18% for the asymmetric kind (one set
# each), so listing every pair scores an F1 of at most about 0.3 (0.12 on average, measured)
MAX_USER_SHARE = 0.3
# users are about equally busy (oolong's 80/20 skew let "pair the busiest users" score 46 F1,
# since count thresholds favour whoever writes most)
HEAVY = 0.2


def _threshold(counts: dict[int, int], users: int) -> int | None:
    """The least k >= 1 such that 2 <= #(users with count >= k) <= MAX_USER_SHARE * users."""
    for k in range(1, max(counts.values(), default=0) + 1):
        n = sum(c >= k for c in counts.values())
        if n <= MAX_USER_SHARE * users:
            return k if n >= 2 else None
    return None


def _instances(k: int, what: str) -> str:
    return f"at least {k} instance{'s' if k > 1 else ''} that should be labelled {what}"


def make_question(rng: random.Random, records: list[dict], kind: str
                  ) -> tuple[str, list[list[int]], dict] | None:
    """A condition of `kind`, its gold pairs (never empty) and what it used; None when these
    records hold no selective condition of that kind (draw again)."""
    users = _by_user(records)
    ids = sorted(users)
    if kind == "both_any":
        a, b = rng.sample(oolong.LABELS, 2)
        k = _threshold({u: sum(r["label"] in (a, b) for r in users[u]) for u in ids}, len(ids))
        if k is None:
            return None
        ok = {u for u in ids if sum(r["label"] in (a, b) for r in users[u]) >= k}
        pairs = [[x, y] for x, y in itertools.combinations(sorted(ok), 2)]
        q = "both users have " + _instances(k, f"'{a}' or '{b}' (the two labels together)")
        return q, pairs, {"labels": [a, b], "at_least": k}
    if kind == "both_before":
        lab = rng.choice(oolong.LABELS)
        for _ in range(20):
            when = oolong.START + dt.timedelta(days=rng.randrange(30, oolong.DAYS - 30))
            ok = {u for u in ids
                  if any(r["label"] == lab for r in users[u])
                  and all(r["date"] < when for r in users[u] if r["label"] == lab)}
            if 2 <= len(ok) <= MAX_USER_SHARE * len(ids):
                pairs = [[x, y] for x, y in itertools.combinations(sorted(ok), 2)]
                q = (f"both users have at least one instance that should be labelled '{lab}', and all of their "
                     f"'{lab}' instances are dated before {oolong.format_date(when)}")
                return q, pairs, {"labels": [lab], "date": when.isoformat()}
        return None
    a, b = rng.sample(oolong.LABELS, 2)
    count = collections.Counter((r["user"], r["label"]) for r in records)
    ka = _threshold({u: count[(u, a)] for u in ids}, len(ids))
    kb = _threshold({u: count[(u, b)] for u in ids}, len(ids))
    if ka is None or kb is None:
        return None
    p = {u for u in ids if count[(u, a)] >= ka}
    q_ = {u for u in ids if count[(u, b)] >= kb}
    found: set[tuple[int, int]] = {(min(x, y), max(x, y)) for x in p for y in q_ if x != y}
    if not found:
        return None
    q = f"one of the two users has {_instances(ka, repr(a))} and the other has {_instances(kb, repr(b))}"
    return q, [list(t) for t in sorted(found)], {"labels": [a, b], "at_least": [ka, kb]}


def generate(variant: str, length: int, index: int, seed: int, out_dir: Path,
             tok: Tokenizer | None = None) -> Task:
    tok = tok or tokenizer()
    if variant == "paper":
        return _paper_task(length, index, seed, out_dir, tok)
    if variant not in ("mixed", *KINDS):
        raise EvalError(f"unknown pairs variant {variant!r}; known: paper, mixed, {', '.join(KINDS)}")
    # 20 to 200 users: enough that a condition can be selective, few enough that the answer
    # (it grows with the square of the users) stays a list a model can write
    rng, records, tokens = oolong.sized_records(f"pairs/{variant}", length, index, seed, tok,
                                                users_per_line=15, min_users=20, max_users=200, heavy_share=HEAVY)
    made = None
    for _ in range(30):
        kind = rng.choice(KINDS) if variant == "mixed" else variant
        made = make_question(rng, records, kind)
        if made:
            break
    if made is None:
        raise EvalError(f"pairs: {length} tokens hold too few users for a {variant} condition; ask for more")
    condition, gold, info = made
    question = (oolong.PREAMBLE + f"List every pair of user ids such that {condition}. Write each pair as "
                "(lower id, higher id); end your answer with a line 'Answer: (id1, id2), (id3, id4), ...' "
                "or 'Answer: none'.")
    task = Task(id=f"pairs-{variant}-{format_length(length)}-s{seed}-{index:04d}", suite="pairs",
                variant=variant, length=length, chars=0, tokens=tokens, tokenizer=tok.name,
                question=question, gold=gold,
                meta={"kind": kind, **info, "lines": len(records), "users": len({r['user'] for r in records})})
    oolong.write_labelled(task, records, out_dir)
    return place_context(task, oolong.render(records), out_dir)


def _paper_task(length: int, index: int, seed: int, out_dir: Path, tok: Tokenizer) -> Task:
    number = index % len(pairs_paper.TASKS) + 1
    # about two lines a user (with four, the paper's symmetric queries held for most users and
    # listing every pair scored F1 60-80 on them), as many users as that makes up to 400 (the
    # gold of a symmetric query grows with the square of the users)
    # an empty gold would let "none" score 100: draw the lines again (short contexts hold few users)
    for attempt in range(20):
        name = "pairs/paper" + (f"/{attempt}" if attempt else "")
        _, records, tokens = oolong.sized_records(name, length, index, seed, tok, users_per_line=2,
                                                  min_users=8, max_users=400, heavy_share=HEAVY)
        gold = pairs_paper.gold(number, records)
        if gold:
            break
    else:
        raise EvalError(f"pairs: no pair of users meets query {number} in {length} tokens; ask for more")
    question = ("The context lists instances, one per line, as `Date: ... || User: ... || Instance: ...`. "
                + pairs_paper.question(number))
    task = Task(id=f"pairs-paper-{format_length(length)}-s{seed}-{index:04d}", suite="pairs", variant="paper",
                length=length, chars=0, tokens=tokens, tokenizer=tok.name, question=question,
                gold=gold,
                meta={"kind": f"task{number:02d}", "lines": len(records), "users": len({r['user'] for r in records})})
    oolong.write_labelled(task, records, out_dir)
    return place_context(task, oolong.render(records), out_dir)
