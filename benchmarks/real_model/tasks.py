"""The real-model bench's tasks and scorer.

`generate(out_dir, seed)` writes 28 tasks (suite "realmodel"; four each of seven kinds, in
meta["kind"]) to out_dir/tasks.jsonl, their contexts under out_dir/contexts/: one text file each,
or a folder of files for "documents". Contexts run from 120k to 400k characters, three of them
near 1M. The same seed gives the same tasks, byte for byte.

`score(answer, task)`: a number gold is matched by the answer's last number; a code or a name
by its normalised tokens appearing in a row in an answer under 300 characters; a cause by every
keyword of meta["keywords"] (each a list of alternatives) in an answer under 300 characters.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from benchmarks.real_model import records, writing
from benchmarks.real_model.records import Made
from evals.generators.common import place_context
from evals.tasks import Task, write_tasks

SUITE = "realmodel"
MAX_TEXT_ANSWER = 300  # a longer answer to a code / name / cause question is a dump, not an answer

Builder = Callable[[random.Random, int], Made]
# kind: (builders, context sizes in characters), one task per pair
KINDS: dict[str, tuple[list[Builder], list[int]]] = {
    "counting": ([records.count_errors, records.count_5xx, records.count_slow, records.count_404],
                 [140_000, 230_000, 360_000, 960_000]),
    "needle": ([records.needle_recovery, records.needle_gate, records.needle_device, records.needle_shipment],
               [150_000, 260_000, 390_000, 980_000]),
    "aggregation": ([records.agg_refunded, records.agg_max_price, records.agg_mean_latency, records.agg_units_month],
                    [130_000, 240_000, 330_000, 900_000]),
    "prose_fact": ([writing.fact_laboratory, writing.fact_ship, writing.fact_founder, writing.fact_bridge],
                   [120_000, 200_000, 300_000, 390_000]),
    "cause": ([writing.cause] * 4, [130_000, 210_000, 280_000, 380_000]),
    "documents": ([writing.docs_products, writing.docs_meetings, writing.docs_contracts, writing.docs_people],
                  [120_000, 180_000, 260_000, 350_000]),
    "two_step": ([records.two_step_audit, records.two_step_tickets, records.two_step_checksum, records.two_step_orders],
                 [150_000, 220_000, 320_000, 390_000]),
}


def generate(out_dir: Path, seed: int = 0) -> list[Task]:
    """Write the bench's tasks and contexts under `out_dir` (see the module docstring)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = []
    for kind, (builders, sizes) in KINDS.items():
        for n, (build, size) in enumerate(zip(builders, sizes, strict=True)):
            rng = random.Random(f"{SUITE}:{seed}:{kind}:{n}")
            chars = int(size * rng.uniform(0.96, 1.02))
            tasks.append(_task(build(rng, chars), f"{SUITE}-{kind}-{n + 1:02d}-s{seed}", kind, build.__name__, out_dir))
    write_tasks(tasks, out_dir / "tasks.jsonl")
    return tasks


def _task(made: Made, task_id: str, kind: str, variant: str, out_dir: Path) -> Task:
    answer = made.meta.pop("answer", None) or ("number" if _is_number(made.gold) else "text")
    meta = {"kind": kind, "answer": answer, **made.meta}
    task = Task(id=task_id, suite=SUITE, variant=variant, length=0, chars=0, question=made.question,
                gold=made.gold, meta=meta)
    if made.files is not None:
        rel = Path("contexts") / task_id
        for name, body in sorted(made.files.items()):
            (out_dir / rel / name).parent.mkdir(parents=True, exist_ok=True)
            (out_dir / rel / name).write_text(body, encoding="utf-8")
        task.context_path, task.chars = str(rel), sum(map(len, made.files.values()))
        meta["files"] = len(made.files)
    else:
        assert made.text is not None
        place_context(task, made.text, out_dir)
    task.length = task.chars // 4  # a rough token count: the real one depends on the model's tokenizer
    return task


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ----- scoring ------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")


def last_number(text: str) -> Decimal | None:
    """The last number written in `text` (thousands commas allowed), or None."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    whole, frac = found[-1]
    try:
        return Decimal(whole.replace(",", "") + frac)
    except InvalidOperation:
        return None


def normalise(text: str) -> str:
    """Lower case, letters and digits only, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.sub(r"[^\w]+|_", " ", text).split())


def _has_tokens(answer: str, gold: str) -> bool:
    a, g = normalise(answer), normalise(gold)
    return bool(g) and re.search(rf"(?<!\w){re.escape(g)}(?!\w)", a) is not None


def _has_keyword(answer: str, keyword: str) -> bool:
    # a keyword may take a suffix ("rate limit" in "rate limiting"), not a prefix
    return re.search(rf"(?<!\w){re.escape(normalise(keyword))}", normalise(answer)) is not None


def score(answer: str | None, task: Task) -> bool:
    """Whether `answer` is right (see the module docstring)."""
    if answer is None:
        return False
    kind = task.meta.get("answer") or ("number" if _is_number(task.gold) else "text")
    if kind == "number":
        got = last_number(answer)
        return got is not None and got == Decimal(str(task.gold))
    if len(answer) >= MAX_TEXT_ANSWER:
        return False
    if kind == "keywords":
        keywords = task.meta.get("keywords") or [[str(task.gold)]]
        return all(any(_has_keyword(answer, k) for k in ([alts] if isinstance(alts, str) else alts))
                   for alts in keywords)
    return _has_tokens(answer, str(task.gold))
