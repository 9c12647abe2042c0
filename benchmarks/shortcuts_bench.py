"""How well shortcut strategies score on generated eval tasks; prints one JSON object. Not a
test: nothing here is asserted (tests/test_eval_shortcuts.py asserts the bounds at 8k).

    python benchmarks/shortcuts_bench.py [--lengths 8k,128k] [--tasks 20]

oolong: accuracy on held-out lines of word-count rules fitted on half of each task's labelled
    lines (words, word pairs, word triples; each feature votes for the label it was seen with
    most), of "the type of the first / last typed noun", and of a lookup of the asked noun's
    label in the fitted half (what a model that labels one line per distinct noun, then looks
    the rest up, would get), beside the majority label's share.
pairs: F1 of listing every pair of users, per paper query (1-20), and its mean.
multidoc: score of answering the first / the most frequent value of the asked kind grep finds.
codeqa: score of a grep per option, by question kind.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from shortcut_strategies import Fit, every_pair, fitted_accuracy, grep_values, lookup, ngrams, typed_noun_accuracy, vote

from evals import generate, parse_length, read_tasks
from evals.scorers import score


def oolong(length: int, n: int, base: Path) -> dict:
    tasks = read_tasks(generate("oolong", length, n, 11, base))

    def fitted(fit: Fit) -> dict:
        accuracy, majority = fitted_accuracy(tasks, base, fit)
        return {"accuracy": round(accuracy, 3), "majority": round(majority, 3)}

    out = {name: fitted(vote(ngrams(k))) for name, k in (("words", 1), ("word pairs", 2), ("word triples", 3))}
    out["asked noun looked up"] = fitted(lookup)
    out["first typed noun"] = round(typed_noun_accuracy(tasks, base, 0), 3)
    out["last typed noun"] = round(typed_noun_accuracy(tasks, base, -1), 3)
    out["lines"] = sum(t.meta["lines"] for t in tasks)
    return out


def pairs(length: int, base: Path) -> dict:
    tasks = read_tasks(generate("pairs", length, 20, 11, base))
    f1 = {}
    for t in tasks:
        f1[t.meta["kind"]] = round(score("pairs", every_pair(t.context_text(base)), t.gold), 1)
    return {"every pair F1": f1, "mean": round(statistics.mean(f1.values()), 1)}


def multidoc(length: int, n: int, base: Path) -> dict:
    tasks = read_tasks(generate("multidoc", length, n, 11, base))
    firsts, commons = [], []
    for t in tasks:
        found = grep_values(t, base)
        firsts.append(score("multidoc", found[0], t.gold))
        commons.append(score("multidoc", collections.Counter(found).most_common(1)[0][0], t.gold))
    return {"first found": round(statistics.mean(firsts), 1), "most frequent": round(statistics.mean(commons), 1)}


def codeqa(length: int, n: int, base: Path) -> dict:
    tasks = read_tasks(generate("codeqa", length, n, 11, base))
    by: dict[str, list[float]] = collections.defaultdict(list)
    for t in tasks:
        root, opts, q, kind = base / t.context_path, t.meta["options"], t.question, t.meta["kind"]
        if kind == "defines":
            name = re.search(r"function `(\w+)`", q).group(1)
            hits = [i for i, o in enumerate(opts) if re.search(rf"^def {name}\(", (root / o).read_text(), re.M)]
        elif kind == "default":
            m = re.search(r"In `(.+?)`, what is the default value of parameter `(\w+)`", q)
            text = (root / m.group(1)).read_text()
            hits = [i for i, o in enumerate(opts) if re.search(re.escape(m.group(2)) + r"\s*=\s*" + re.escape(o), text)]
        elif kind == "calls":
            callee = re.search(r"calls `(\w+)`", q).group(1)
            hits = [i for i, o in enumerate(opts) if callee + "(" in (root / o.split(":")[0]).read_text()]
        else:
            base_name = re.search(r"list `(\w+)`", q).group(1)
            count = sum(len(re.findall(rf"^class \w+\([^)]*\b{base_name}\b", p.read_text(errors="replace"), re.M))
                        for p in root.rglob("*.py"))
            hits = [i for i, o in enumerate(opts) if o == str(count)]
        by[kind].append(score("codeqa", f"The correct answer is ({'ABCD'[hits[0]]})", t.gold) if hits else 0.0)
    return {kind: {"tasks": len(v), "grep score": round(statistics.mean(v), 1)} for kind, v in sorted(by.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="8k,128k", help="comma-separated task lengths (default: 8k,128k)")
    parser.add_argument("--tasks", type=int, default=20,
                        help="oolong and multidoc tasks at 8k, fewer as the length grows (codeqa: six times as "
                             "many; pairs: always the paper's 20 queries)")
    args = parser.parse_args()
    out: dict = {}
    for text in args.lengths.split(","):
        length = parse_length(text)
        few = max(2, args.tasks * 8192 // length)  # fewer tasks as they grow
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            out[text] = {"oolong": oolong(length, few, base / "o"), "pairs": pairs(length, base / "p"),
                         "multidoc": multidoc(length, few, base / "m"), "codeqa": codeqa(length, 6 * few, base / "c")}
        print(json.dumps({text: out[text]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
