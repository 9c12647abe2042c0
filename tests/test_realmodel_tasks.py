"""The real-model bench's tasks (benchmarks/real_model/tasks.py): deterministic, sized as promised,
and every gold recomputed here from the written context with a parser of its own; the scorer on
right, wrong and dumped answers."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from benchmarks.real_model.tasks import generate, score
from evals.tasks import Task, read_tasks

KINDS = {"counting", "needle", "aggregation", "prose_fact", "cause", "documents", "two_step"}


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, list[Task]]:
    out = tmp_path_factory.mktemp("realmodel")
    return out, generate(out, seed=0)


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def test_the_same_seed_gives_the_same_tasks_and_another_seed_others(made, tmp_path):
    out, tasks = made
    again = generate(tmp_path / "again", seed=0)
    assert [t.to_json() for t in again] == [t.to_json() for t in tasks]
    assert _tree_digest(tmp_path / "again") == _tree_digest(out)
    other = generate(tmp_path / "other", seed=1)
    assert [t.id for t in other] == [t.id.replace("-s0", "-s1") for t in tasks]
    assert sum(a.gold != b.gold for a, b in zip(tasks, other, strict=True)) >= 20
    assert read_tasks(out / "tasks.jsonl") == tasks


def test_kinds_sizes_and_forms(made):
    out, tasks = made
    assert len(tasks) >= 24 and len({t.id for t in tasks}) == len(tasks)
    kinds = Counter(t.meta["kind"] for t in tasks)
    assert set(kinds) == KINDS and min(kinds.values()) >= 3
    sizes = [t.chars for t in tasks]
    assert all(100_000 <= n <= 1_000_000 for n in sizes), sizes
    assert sum(120_000 <= n <= 400_000 for n in sizes) >= len(sizes) * 2 // 3
    assert 1 <= sum(n >= 850_000 for n in sizes) <= 5
    for t in tasks:
        assert t.suite == "realmodel" and t.context is None and t.context_path
        assert len(t.context_text(out)) >= t.chars  # a folder's text has the file headers too
        assert re.search(r"Answer with .+\.$", t.question), t.question
        assert len(str(t.gold)) <= 40
        if t.meta["kind"] == "documents":
            files = [p for p in (out / t.context_path).rglob("*") if p.is_file()]
            assert 20 <= len(files) <= 200 and len(files) == t.meta["files"]
            assert sum(len(p.read_text()) for p in files) == t.chars


# ----- an independent reading of the contexts -------------------------------------------------------

APPLOG = re.compile(r"^(?P<ts>\S+) (?P<level>[A-Z]+) +\[(?P<service>[\w-]+)\] host=(?P<host>\S+) req=(?P<req>\w+) "
                    r"latency_ms=(?P<latency_ms>\d+) (?P<msg>.*)$")
ACCESS = re.compile(r'^(?P<ip>[\d.]+) - - \[(?P<ts>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" '
                    r'(?P<status>\d{3}) (?P<bytes>\d+) "-" "(?P<agent>[^"]*)"$')


def _records(text: str, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    lines = text.splitlines()
    if fmt == "jsonl":
        return [json.loads(line) for line in lines]
    pattern = {"applog": APPLOG, "access": ACCESS}[fmt]
    out = []
    for line in lines:
        m = pattern.match(line)
        assert m, line
        out.append(m.groupdict())
    return out


def _holds(rec: dict[str, Any], where: list[list[Any]]) -> bool:
    checks = {"eq": lambda v, x: str(v) == str(x), "prefix": lambda v, x: str(v).startswith(x),
              "contains": lambda v, x: x in str(v), "ge": lambda v, x: float(v) >= x,
              "between": lambda v, x: x[0] <= float(v) <= x[1]}
    return all(checks[op](rec[name], value) for name, op, value in where)


def _recompute(t: Task, text: str) -> Any:
    meta = t.meta
    recs = _records(text, meta["format"])
    if t.meta["kind"] == "counting":
        return sum(_holds(r, meta["where"]) for r in recs)
    if t.meta["kind"] == "aggregation":
        values = [Decimal(str(r[meta["field"]])) for r in recs if _holds(r, meta["where"])]
        assert len(values) >= 2
        if meta["op"] == "sum":
            return sum(values)
        if meta["op"] == "max":
            return max(values)
        return (sum(values) / len(values)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    # two_step: exactly one record answers the first step; its linked field selects the second
    (first,) = [r for r in recs if _holds(r, meta["first"])]
    assert first[meta["link"]] == meta["via"]
    return sum(r[meta["link"]] == meta["via"] and _holds(r, meta["then"]) for r in recs)


def test_counted_golds_match_a_recount_of_the_context(made):
    out, tasks = made
    checked = 0
    for t in tasks:
        if t.meta["kind"] in ("counting", "aggregation", "two_step"):
            text = (out / t.context_path).read_text()
            assert Decimal(str(_recompute(t, text))) == Decimal(str(t.gold)), t.id
            assert t.gold > 0, t.id
            checked += 1
    assert checked == 12


def test_stated_golds_are_stated_once_where_the_meta_says(made):
    out, tasks = made
    for t in tasks:
        kind, meta = t.meta["kind"], t.meta
        if kind in ("needle", "prose_fact"):
            text = (out / t.context_path).read_text()
            assert text.count(meta["evidence"]) == 1, t.id
            assert str(t.gold) in meta["evidence"]
            assert text.count(meta["key"]) == 1, t.id
            assert meta["key"].strip() in meta["evidence"]
            if kind == "needle":
                assert text.count(str(t.gold)) == 1, t.id
        elif kind == "cause":
            text = (out / t.context_path).read_text()
            assert text.count(meta["key"]) == 1, t.id
            block = text[text.index(meta["key"]):].split("\n\n")[0]
            assert meta["evidence"] in block and meta["cause"] in meta["evidence"]
            assert score(t.gold, t) and score(meta["cause"], t)
            # the other incidents of the same service, or the same day, name other causes
            service, date = meta["key"].strip().split(" outage on ")
            near = 0
            for block in text.split("\n\n"):
                head, _, body = block.partition("\n")
                m = re.fullmatch(r"Incident INC-\d+: (\S+) outage on (.+)", head)
                if m and (m[1], m[2]) != (service, date) and (m[1] == service or m[2] == date):
                    near += 1
                    stated = [s for s in body.split(". ") if "ruled out" not in s]
                    assert not any(meta["cause"] in s for s in stated), block
            assert near >= 5, t.id
        elif kind == "documents":
            root = out / t.context_path
            holders = [p for p in root.rglob("*") if p.is_file() and meta["key"] in p.read_text()]
            assert holders == [root / meta["file"]], t.id
            assert meta["evidence"] in holders[0].read_text() and str(t.gold) in meta["evidence"]


def test_every_gold_scores_and_a_dump_of_the_context_does_not(made):
    out, tasks = made
    for t in tasks:
        assert score(str(t.gold), t), t.id
        assert score(f"The answer is {t.gold}.", t), t.id
        assert not score(None, t) and not score("", t)
        if t.meta["answer"] != "number":
            text = t.context_text(out)
            start = text.index(t.meta["evidence"]) if t.meta.get("evidence", "") in text else 0
            assert not score(text[max(0, start - 2000):start + 2000], t), t.id


# ----- the scorer ----------------------------------------------------------------------------------------

def _task(gold: Any, **meta: Any) -> Task:
    return Task(id="t", suite="realmodel", variant="v", length=1, chars=1, question="q", gold=gold, meta=meta)


def test_numbers_are_the_answers_last_number():
    t = _task(1234, answer="number")
    for right in ["1234", "1,234", "The total is 1234.", "1234.0", "**1234**", "I counted 12 groups: 1,234"]:
        assert score(right, t), right
    for wrong in ["1235", "1234 of 1300 lines", "12345", "one thousand", "12.34", "v1234"]:
        assert not score(wrong, t), wrong
    price = _task(199.8, answer="number")
    assert score("199.80", price) and score("$199.8", price) and not score("199", price)
    assert score("1,024", _task(1024)) and not score("1024", _task(1023))  # no meta: a number gold is a number


def test_codes_and_names_need_the_whole_token_sequence_in_a_short_answer():
    code = _task("RC-5Z4F-UVTC", answer="text")
    assert score("RC-5Z4F-UVTC", code) and score("The code is `rc-5z4f-uvtc`.", code)
    assert not score("RC-5Z4F", code) and not score("RC-5Z4F-UVTCX", code) and not score("XRC-5Z4F-UVTC", code)
    assert not score("codes: " + "RC-1111-2222 " * 30 + "RC-5Z4F-UVTC", code)  # over 300 characters
    name = _task("Quentin Lindqvist", answer="text")
    assert score("quentin lindqvist", name) and score("Founded by Quentin Lindqvist.", name)
    assert not score("Lindqvist", name) and not score("Quentin Lindqvistson", name)


def test_causes_need_every_keyword():
    t = _task("expired TLS certificate", answer="keywords", keywords=[["expired", "expiry"], ["cert"]])
    assert score("An expired TLS certificate", t) and score("the cert had expired", t)
    assert score("certificate expiry on the load balancer", t)
    assert not score("a TLS certificate problem", t) and not score("expired API key", t)
    assert not score("It was an expired certificate. " + "Other notes. " * 30, t)  # a dump
    rate = _task("rate limiting", answer="keywords", keywords=[["rate limit"]])
    assert score("Rate-limiting by the email provider", rate) and not score("the rate of errors", rate)
