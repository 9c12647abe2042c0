"""Shortcut strategies over generated eval tasks, shared by tests/test_eval_shortcuts.py (which
bounds them at 8k) and benchmarks/shortcuts_bench.py (which measures them at any length):
label rules fitted on half of an oolong task's labelled lines, every pair of a pairs task's
users, and grep over multidoc documents."""

from __future__ import annotations

import collections
import itertools
import random
import re
from collections.abc import Callable
from pathlib import Path

from eval_strategies import FACTS

from evals.generators.oolong_instances import LABEL_OF_HEAD, head_of

Rows = list[tuple[str, str]]  # (instance text, label)
Rule = Callable[[str], str]
Fit = Callable[[Rows, str], Rule]  # (training rows, their most common label) -> a rule


def labelled_rows(task, base: Path) -> Rows:  # noqa: ANN001 - an evals Task
    rows = []
    for line in (base / task.labelled_path).read_text(encoding="utf-8").splitlines():
        text, label = line.rsplit(" || Label: ", 1)
        rows.append((text.split("Instance: ", 1)[1], label))
    return rows


def ngrams(n: int) -> Callable[[str], set[str]]:
    """The runs of `n` lower-cased words of a text."""
    def features(text: str) -> set[str]:
        words = re.findall(r"[a-z]+", text.lower())
        return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}
    return features


def vote(features: Callable[[str], set[str]]) -> Fit:
    """Each feature votes for the label it was seen with most, weighted by how sure it is."""
    def fit(train: Rows, common: str) -> Rule:
        votes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for text, label in train:
            for f in features(text):
                votes[f][label] += 1

        def rule(text: str) -> str:
            tally: collections.Counter = collections.Counter()
            for f in features(text):
                if votes[f]:
                    best, n = votes[f].most_common(1)[0]
                    tally[best] += n / sum(votes[f].values())
            return tally.most_common(1)[0][0] if tally else common
        return rule
    return fit


def lookup(train: Rows, common: str) -> Rule:
    """The label the asked noun had in the training half (what labelling one line per distinct
    noun, then looking the rest up, gets)."""
    table: dict[str | None, collections.Counter] = collections.defaultdict(collections.Counter)
    for text, label in train:
        table[head_of(text)][label] += 1
    return lambda text: table[head_of(text)].most_common(1)[0][0] if table[head_of(text)] else common


def fitted_accuracy(tasks, base: Path, fit: Fit) -> tuple[float, float]:  # noqa: ANN001 - evals Tasks
    """(accuracy, the majority label's share) on the other half of each task's labelled lines
    of a rule fitted on one half."""
    right = majority = total = 0
    for t in tasks:
        rows = labelled_rows(t, base)
        random.Random(0).shuffle(rows)
        half = len(rows) // 2
        common = collections.Counter(label for _, label in rows[:half]).most_common(1)[0][0]
        rule = fit(rows[:half], common)
        for text, label in rows[half:]:
            right += rule(text) == label
            majority += common == label
            total += 1
    return right / total, majority / total


def typed_noun_accuracy(tasks, base: Path, pick: int) -> float:  # noqa: ANN001 - evals Tasks
    """Labelling each line by the type of its `pick`-th typed noun (0 the first, -1 the last):
    knowing every noun's type, without reading the sentence."""
    nouns = sorted(LABEL_OF_HEAD, key=len, reverse=True)
    rx = re.compile(r"\b(" + "|".join(re.escape(n.lower()) for n in nouns) + r")\b")
    lower = {n.lower(): lab for n, lab in LABEL_OF_HEAD.items()}
    rows = [row for t in tasks for row in labelled_rows(t, base)]
    return sum(lower[rx.findall(text.lower())[pick]] == label for text, label in rows) / len(rows)


def grep_values(task, base: Path) -> list[str]:  # noqa: ANN001 - an evals Task
    """The values of the kind a multidoc task asks for, as grep finds them in its documents."""
    found: list[str] = []
    for p in sorted((base / task.context_path).iterdir()):
        found += re.findall(FACTS[task.meta["asks"]], p.read_text(encoding="utf-8").split("\n\n", 1)[1])
    return found


def every_pair(text: str) -> str:
    """An answer listing every pair of the users in a pairs context."""
    ids = sorted({int(u) for u in re.findall(r"User: (\d+)", text)})
    return ", ".join(f"({a}, {b})" for a, b in itertools.combinations(ids, 2))
