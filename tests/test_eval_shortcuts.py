"""Shortcut strategies must not score: answers that need no reading of the context (constants,
"all pairs", "none", an option position, a rule on the options' values, a keyword classifier)
are run on generated tasks through the suites' own scorers and must stay near chance.

Where a suite still rewards a shortcut, the test is a strict xfail naming it: it fails the
day the suite is fixed, so that the marker is dropped."""

from __future__ import annotations

import collections
import itertools
import re
import statistics

import pytest
from shortcut_strategies import (
    every_pair,
    fitted_accuracy,
    grep_values,
    labelled_rows,
    ngrams,
    typed_noun_accuracy,
    vote,
)

from evals import generate, read_tasks
from evals.scorers import score as suite_score


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """suite -> (tasks, base directory): 30 tasks a suite at 8k, seed 11."""
    out = {}
    for suite in ("sniah", "pairs", "codeqa", "oolong"):
        base = tmp_path_factory.mktemp(suite)
        # pairs: our selective conditions (the paper's own queries are measured below)
        variant = "mixed" if suite == "pairs" else None
        out[suite] = (read_tasks(generate(suite, 8192, 30, 11, base, variant)), base)
    return out


def _text(task, base) -> str:
    ctx = task.load_context(base)
    return ctx if isinstance(ctx, str) else ctx.read_text(encoding="utf-8")


def score(task, answer: str) -> float:
    return suite_score(task.suite, answer, task.gold)


def _mean(task_scores: list[float]) -> float:
    return statistics.mean(task_scores)


# ----- pairs -------------------------------------------------------------------------------
def test_pairs_listing_every_pair_scores_low(made):
    tasks, base = made["pairs"]
    scores = []
    for t in tasks:
        every = every_pair(_text(t, base))
        scores.append(score(t, f"Answer: {every}"))
    # a condition holds for at most 30% of the users: at most ~18% of the pairs are gold (F1 <= 30)
    assert _mean(scores) <= 15 and max(scores) <= 30, scores


@pytest.mark.parametrize("answer", ["Answer: none", "I could not tell.", "Answer: (1, 2)", ""])
def test_pairs_constant_answers_score_nothing(made, answer):
    tasks, _ = made["pairs"]
    assert all(t.gold for t in tasks)  # never an empty gold, which "none" or giving up would match
    assert max(score(t, answer) for t in tasks) == 0.0


def test_pairs_heaviest_users_shortcut_scores_low(made):
    """Pairing the busiest fifth of the users (they hold most lines, so they meet most
    conditions) is not the answer either."""
    tasks, base = made["pairs"]
    scores = []
    for t in tasks:
        busy = collections.Counter(int(u) for u in re.findall(r"User: (\d+)", _text(t, base)))
        top = sorted(u for u, _ in busy.most_common(max(2, len(busy) // 5)))
        scores.append(score(t, "Answer: " + ", ".join(f"({a}, {b})" for a, b in itertools.combinations(top, 2))))
    assert _mean(scores) <= 40, scores


@pytest.mark.xfail(strict=True, reason="a property of the source: the paper's symmetric OOLONG-Pairs queries "
                   "(tasks 1-10: 'both users have at least one instance with ...') hold for many users, so "
                   "listing every pair scores F1 21-52 on them (21 over all 20 at 8k); `--variant mixed` is the "
                   "variant no such answer games")
def test_pairs_paper_queries_resist_listing_every_pair(tmp_path):
    tasks = read_tasks(generate("pairs", 8192, 20, 11, tmp_path))
    scores = []
    for t in tasks:
        scores.append(score(t, every_pair(_text(t, tmp_path))))
    assert _mean(scores) <= 15, scores


# ----- codeqa ------------------------------------------------------------------------------
def test_codeqa_option_positions_and_value_ranks_are_near_chance():
    tasks = []
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        tasks = read_tasks(generate("codeqa", 8192, 80, 11, Path(d)))
        positions = collections.Counter(t.gold for t in tasks)
        # the most frequent letter, chosen after seeing all the golds, is still near 1 in 4
        assert max(positions.values()) / len(tasks) <= 0.4, positions
        for letter in "ABCD":
            assert _mean([score(t, f"The correct answer is ({letter})") for t in tasks]) <= 40
        numeric = [t for t in tasks if t.meta["kind"] == "subclasses"]
        assert len(numeric) >= 10
        for rank in range(4):  # "the k-th smallest number offered" for each k
            picks = []
            for t in numeric:
                ordered = sorted(range(4), key=lambda i: int(t.meta["options"][i]))
                picks.append(score(t, f"The correct answer is ({'ABCD'[ordered[rank]]})"))
            assert _mean(picks) <= 50, (rank, picks)


# ----- sniah -------------------------------------------------------------------------------
def test_sniah_default_is_the_papers_single_needle_and_constants_score_nothing(made):
    tasks, _ = made["sniah"]
    assert {t.variant for t in tasks} == {"single_1", "single_2", "single_3"}
    assert all(len(t.gold) == 1 for t in tasks)
    for answer in ("1234567", "The special magic number is 1000000.", ""):
        assert max(score(t, answer) for t in tasks) == 0.0


# ----- oolong ------------------------------------------------------------------------------
@pytest.mark.parametrize("answer", ["Answer: 1", "Answer: 3", "Answer: 50", "Answer: numeric value",
                                    "Answer: description and abstract concept", "Answer: more common than",
                                    "Answer: less common than", "Answer: same frequency as"])
def test_oolong_constant_answers_score_low(made, answer):
    tasks, _ = made["oolong"]
    assert _mean([score(t, answer) for t in tasks]) <= 20
    # the two-way questions stay near their chance (a third to a half), not near 100
    two_way = [t for t in tasks if t.meta["kind"] in ("compare", "user_compare")]
    assert not two_way or _mean([score(t, answer) for t in two_way]) <= 70


# ----- oolong: labels need the instance's meaning -----------------------------------------
@pytest.mark.parametrize("n", [1, 2], ids=["words", "word-pairs"])
def test_oolong_labels_are_not_keyword_decodable(made, n):
    tasks, base = made["oolong"]
    accuracy, majority = fitted_accuracy(tasks, base, vote(ngrams(n)))
    assert accuracy <= majority + 0.1, (accuracy, majority)


def test_oolong_label_rule_per_noun_is_near_chance(made):
    """Knowing every noun's type is not enough without the sentence: labelling a line by the
    type of the first (or of the last) typed noun in it."""
    tasks, base = made["oolong"]
    for pick in (0, -1):
        accuracy = typed_noun_accuracy(tasks, base, pick)
        assert accuracy <= 0.35, (pick, accuracy)


def test_oolong_every_instance_reads_as_its_label(made):
    """The other side: a reader that finds the noun asked for labels every line right."""
    from evals.generators.oolong_instances import LABEL_OF_HEAD, head_of

    tasks, base = made["oolong"]
    for t in tasks:
        for text, label in labelled_rows(t, base):
            assert LABEL_OF_HEAD[head_of(text)] == label


def test_multidoc_grep_for_any_value_of_the_asked_kind_scores_low(tmp_path):
    """Answering with the value of the asked kind (a year, a school, a profession, a city) that
    the documents mention most, or the first one found, without following the chain."""
    tasks = read_tasks(generate("multidoc", 8192, 40, 11, tmp_path))
    assert len({t.meta["asks"] for t in tasks}) == 5
    firsts, commons = [], []
    for t in tasks:
        found = grep_values(t, tmp_path)
        firsts.append(score(t, found[0]))
        commons.append(score(t, collections.Counter(found).most_common(1)[0][0]))
    assert _mean(firsts) <= 20 and _mean(commons) <= 20, (firsts, commons)


def test_multidoc_the_only_founder_document_is_not_a_shortcut(tmp_path):
    """Founders of other companies have documents too: the asked fact of a founder's document
    that is not the outdated company's founder (the chain's was once the only other one:
    100 without reading the question) scores low."""
    from eval_strategies import FACTS

    tasks = read_tasks(generate("multidoc", 8192, 40, 11, tmp_path))
    picks = []
    for t in tasks:
        docs = [p.read_text(encoding="utf-8") for p in sorted((tmp_path / t.context_path).iterdir())]
        founders = [x for x in docs if re.search(r"^person: (.+)\n\n\1 founded ", x)]
        moved = {re.search(r"founded by (.+?)\.", x).group(1) for x in docs if "(outdated" in x}
        pick = next(x for x in founders if re.match(r"person: (.+)\n", x).group(1) not in moved)
        m = re.search(FACTS[t.meta["asks"]], pick.split("\n\n", 1)[1])
        picks.append(score(t, m.group(1) if m else ""))
    assert _mean(picks) <= 20, picks
