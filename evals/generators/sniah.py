"""sniah: RULER's needle-in-a-haystack tasks (scripts/data/synthetic/niah.py), regenerated.

Needles read "One of the special magic {numbers|uuids} for {key} is: {value}."; keys are
adjective-noun pairs, numbers have 7 digits, uuids are uuid4. Haystacks: `noise` (five
sentences repeated), `essay` (prose from the standard library's docstrings and
language reference, its paragraphs shuffled anew on each pass, so that past its ~190K tokens
no long stretch repeats), `needle` (needles with other keys). Each needle goes at a depth
drawn from 40 evenly spaced percentages, at a sentence boundary. The context holds 97-100%
of its length in tokens (`fit_tokens`).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from pathlib import Path

from evals.generators.common import (
    ADJECTIVES,
    NOUNS,
    fit_tokens,
    make_key,
    make_number,
    make_uuid,
    place_context,
    rng_for,
)
from evals.tasks import EvalError, Task, format_length, gold_span
from evals.textsource import essay_text
from evals.tokens import Tokenizer, tokenizer

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
DEPTHS = [round(i * 100 / 39, 4) for i in range(40)]  # 40 evenly spaced percentages, 0 to 100


@dataclass(frozen=True)
class Variant:
    haystack: str  # noise | essay | needle
    key_kind: str  # words | uuids
    value_kind: str  # numbers | uuids
    keys: int = 1  # needles with the asked key(s)
    values: int = 1  # values per asked key
    queries: int = 1  # keys asked about
    distractors: int = 0  # needles with other keys (essay haystacks)


VARIANTS: dict[str, Variant] = {
    "single_1": Variant("noise", "words", "numbers"),
    "single_2": Variant("essay", "words", "numbers"),
    "single_3": Variant("essay", "words", "uuids"),
    "multikey_1": Variant("essay", "words", "numbers", distractors=3),
    "multikey_2": Variant("needle", "words", "numbers"),
    "multikey_3": Variant("needle", "uuids", "uuids"),
    "multivalue": Variant("essay", "words", "numbers", values=4),
    "multiquery": Variant("essay", "words", "numbers", queries=4),
}


def needle(key: str, value: str, value_kind: str) -> str:
    return f"One of the special magic {value_kind} for {key} is: {value}."


def question(keys: list[str], value_kind: str, answers: int) -> str:
    noun = value_kind if answers > 1 else value_kind[:-1]
    about = ", ".join(keys[:-1]) + f" and {keys[-1]}" if len(keys) > 1 else keys[0]
    if answers > 1:
        return f"What are all the special magic {noun} for {about} mentioned in the provided text?"
    return f"What is the special magic {noun} for {about} mentioned in the provided text?"


def _key(rng: random.Random, kind: str, taken: set[str]) -> str:
    if kind == "uuids":
        k = make_uuid(rng)
        taken.add(k)
        return k
    return make_key(rng, taken)


def _value(rng: random.Random, kind: str) -> str:
    return make_uuid(rng) if kind == "uuids" else make_number(rng)


def _haystack(kind: str, size: int, rng: random.Random, v: Variant, taken: set[str]) -> str:
    if size <= 0:
        return ""
    if kind == "noise":
        return (NOISE * (size // len(NOISE) + 1))[:size]
    if kind == "essay":
        # the paragraphs in a new order on each pass: past the prose's length (about 200K
        # tokens) paragraphs come again, never the same long stretch of text
        paragraphs = essay_text().split("\n")
        parts, total = [], 0
        while total < size:
            order = paragraphs[:]
            rng.shuffle(order)
            for para in order:
                parts.append(para)
                total += len(para) + 1
                if total >= size:
                    break
        return "\n".join(parts)[:size]
    # needle haystack: sentences that look exactly like the needle, with other keys (which may
    # repeat among themselves, never equal an asked key)
    parts, total = [], 0
    getrandbits, choice = rng.getrandbits, rng.choice
    while total < size:
        if v.key_kind == "uuids":
            key = str(uuid.UUID(int=getrandbits(128), version=4))
        else:
            key = f"{choice(ADJECTIVES)}-{choice(NOUNS)}"
            if key in taken:
                continue
        value = (str(uuid.UUID(int=getrandbits(128), version=4)) if v.value_kind == "uuids"
                 else str(1_000_000 + getrandbits(32) % 9_000_000))
        s = f"One of the special magic {v.value_kind} for {key} is: {value}. "
        parts.append(s)
        total += len(s)
    return "".join(parts)[:size]


def _boundary(text: str, pos: int) -> int:
    """The start of the sentence at or before `pos` (just after '. ' or a newline)."""
    if pos <= 0:
        return 0
    cut = max(text.rfind(". ", 0, pos), text.rfind("\n", 0, pos))
    return 0 if cut < 0 else cut + (2 if text.startswith(". ", cut) else 1)


def generate(variant: str, length: int, index: int, seed: int, out_dir: Path,
             tok: Tokenizer | None = None) -> Task:
    tok = tok or tokenizer()
    if variant not in VARIANTS:
        raise EvalError(f"unknown sniah variant {variant!r}; known: {', '.join(VARIANTS)}")
    v = VARIANTS[variant]

    def build(total: int) -> tuple[tuple[str, list[str], list[str], list[str], list[float], list[str], list[int]],
                                   int]:
        rng = rng_for(f"sniah/{variant}", seed, index, length)
        taken: set[str] = set()
        asked = [_key(rng, v.key_kind, taken) for _ in range(max(v.keys, v.queries))]
        planted: list[str] = []  # needle texts
        gold: list[str] = []
        for key in asked:
            for _ in range(v.values):
                value = _value(rng, v.value_kind)
                planted.append(needle(key, value, v.value_kind))
                gold.append(value)
        distractors = [needle(_key(rng, v.key_kind, taken), _value(rng, v.value_kind), v.value_kind)
                       for _ in range(v.distractors)]
        inserts = planted + distractors
        needed = sum(len(n) + 1 for n in inserts)
        hay = _haystack(v.haystack, max(0, total - needed), rng, v, taken)
        depths = [rng.choice(DEPTHS) for _ in inserts]
        # insert from the deepest point up, so earlier offsets stay valid
        order = sorted(range(len(inserts)), key=lambda i: depths[i], reverse=True)
        text = hay
        starts = [0] * len(inserts)  # where each insert is in the text, kept right as others go in
        for n, i in enumerate(order):
            at = _boundary(text, int(len(hay) * depths[i] / 100))
            text = text[:at] + inserts[i] + " " + text[at:]
            for j in order[:n]:
                if starts[j] >= at:
                    starts[j] += len(inserts[i]) + 1
            starts[i] = at
        return (text, asked, planted, gold, depths, distractors, starts[: len(planted)]), tok.count(text)

    needles_alone = build(0)[1]
    if needles_alone > length:
        raise EvalError(f"sniah {variant} needs at least {needles_alone} tokens ({tok.name})")
    (text, asked, planted, gold, depths, distractors, starts), tokens = fit_tokens(build, length, tok)
    task_id = f"sniah-{variant}-{format_length(length)}-s{seed}-{index:04d}"
    task = Task(
        id=task_id, suite="sniah", variant=variant, length=length, chars=len(text), tokens=tokens,
        tokenizer=tok.name,
        question=question(asked[: v.queries] if v.queries > 1 else asked[:1], v.value_kind, len(gold)),
        gold=gold,
        # the asked needles, where they were placed (the distractors are no evidence)
        gold_evidence=[gold_span(None, text, at, n) for at, n in zip(starts, planted, strict=True)],
        meta={"needles": planted, "positions": starts,
              "depths": depths[: len(planted)], "haystack": v.haystack, "distractors": distractors},
    )
    return place_context(task, text, out_dir)
