"""Evidence precision and recall in the eval suites: gold locations placed by the generators,
scored against what a run cited, and shown in the report; scripted runs through real kernels
and the real scripted HTTP server (the rlm root cites with `cite`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eval_strategies import careless_root, reader, root
from scripted_server import ScriptedServer

from evals import MethodSettings, generate, make_report, read_tasks, run_eval
from evals.evidence import evidence_scores
from evals.tasks import Task


@pytest.fixture(scope="module")
def server():
    with ScriptedServer({"root": root, "careless": careless_root, "reader": reader}) as s:
        yield s


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    d = tmp_path_factory.mktemp("tasks")
    sniah = [generate("sniah", 3000, 1, 0, d, variant="multiquery"),  # four needles asked for
             generate("sniah", 2048, 1, 0, d, variant="single_1")]
    multidoc = [generate("multidoc", 2048, 1, 0, d, variant="hops3"),
                generate("multidoc", 2048, 1, 1, d, variant="hops2")]
    return d, sniah, multidoc


def settings(server, tmp: Path, model: str = "root") -> MethodSettings:
    return MethodSettings.of(model=model, sub_model="reader", base_url=server.url, api_key="k",
                             runs_dir=tmp / "runs", window_tokens=4000)


def test_scores_count_overlaps_in_the_same_document_and_none_is_not_zero():
    one_text = [{"document": None, "start": 100, "end": 160, "text": "x"}]
    at = {"document": "/some/file.txt", "start": 150, "end": 170, "at": [150, 170]}
    away = {"document": "/some/file.txt", "start": 160, "end": 170, "at": [160, 170]}  # touches the end only
    assert evidence_scores(one_text, [at, away]) == {"citations": 2, "evidence_precision": 0.5, "evidence_recall": 1.0}
    docs = [{"document": "a.txt", "start": 0, "end": 50, "text": "x"},
            {"document": "b.txt", "start": 0, "end": 50, "text": "y"}]
    other = {"document": "c.txt", "start": 0, "end": 10, "at": [0, 10]}
    in_a = {"document": "a.txt", "start": 40, "end": 60, "at": [5000, 5020]}
    assert evidence_scores(docs, [in_a, other]) == {"citations": 2, "evidence_precision": 0.5, "evidence_recall": 0.5}
    # a run that could cite but cited nothing: no precision, recall 0; a baseline: none of the three
    assert evidence_scores(docs, []) == {"citations": 0, "evidence_precision": None, "evidence_recall": 0.0}
    assert evidence_scores(docs, None) == {"citations": None, "evidence_precision": None, "evidence_recall": None}
    assert evidence_scores(None, [in_a]) == {"citations": 1, "evidence_precision": None, "evidence_recall": None}
    # a task written before gold locations existed still loads, with none
    old = json.loads(Task("t", "sniah", "single_1", 1024, 10, "q?", ["1"], context="x").to_json())
    del old["gold_evidence"]
    assert Task(**old).gold_evidence is None


def test_generators_place_the_gold_spans_on_the_passages_themselves(tasks):
    d, sniah, multidoc = tasks
    for t in read_tasks(d):
        assert t.gold_evidence, t.id
        ctx = t.load_context(d)
        for g in t.gold_evidence:
            if g["document"] is None:
                data = (ctx if isinstance(ctx, str) else ctx.read_text(encoding="utf-8")).encode()
            else:
                data = (ctx / g["document"]).read_bytes()
            assert data[g["start"]:g["end"]].decode() == g["text"]
        if t.suite == "sniah":
            assert [g["text"] for g in t.gold_evidence] == t.meta["needles"]
        else:  # the chain's documents: person (hops3 only), company, founder
            assert len(t.gold_evidence) == (3 if t.variant == "hops3" else 2)
            assert t.meta["chain"][3] in t.gold_evidence[-1]["text"] and "Background" not in t.gold_evidence[-1]["text"]


def test_scripted_runs_report_evidence_precision_and_recall(server, tasks, tmp_path):
    d, sniah, multidoc = tasks
    results = tmp_path / "results.jsonl"
    run_eval(d, ["rlm", "direct"], settings(server, tmp_path), results, workers=2)
    for path in sniah:  # the careless root cites a haystack sentence besides the needles
        run_eval(path, ["rlm"], settings(server, tmp_path, model="careless"), results, workers=2)
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    by = {(r["task_id"], r["method"], r["model"]): r for r in rows}
    gold = {t.id: t for t in read_tasks(d)}
    for tid, t in gold.items():
        r = by[(tid, "rlm", "root")]
        assert r["score"] == 100.0 and r["citations"] == len(t.gold_evidence), r
        assert r["evidence_precision"] == 1.0 and r["evidence_recall"] == 1.0, r
        direct = by[(tid, "direct", "root")]
        assert (direct["citations"], direct["evidence_precision"], direct["evidence_recall"]) == (None, None, None)
        if t.suite == "sniah":
            careless = by[(tid, "rlm", "careless")]
            n = len(t.gold_evidence)
            assert careless["citations"] == n + 1 and careless["evidence_recall"] == 1.0
            assert careless["evidence_precision"] == round(n / (n + 1), 4) < 1.0
    # the run's citations are the Evidence the trajectory's final event carries
    hops = next(tid for tid, t in gold.items() if t.suite == "multidoc")
    events = [json.loads(x) for x in Path(by[(hops, "rlm", "root")]["trajectory_path"]).read_text().splitlines()]
    final = [e for e in events if e["event"] == "final"][-1]
    assert final["evidence"] and all("document" in e and "at" in e for e in final["evidence"])

    md, files = make_report(results, tmp_path / "report", html=True)
    text = md.read_text()
    head = "| suite | length | method | n | score | 95% interval | evidence precision | evidence recall |"
    expected = [head,
                "| multidoc | 2k | direct | 2 |",
                "| multidoc | 2k | rlm (model=root) | 2 | 100.0 | 100.0-100.0 | 1.00 | 1.00 |",
                "| sniah | 2k | rlm (model=careless) | 1 | 100.0 | 100.0-100.0 | 0.50 | 1.00 |",  # 1 of 2 right
                "| sniah | 2k | rlm (model=root) | 1 | 100.0 | 100.0-100.0 | 1.00 | 1.00 |",
                "| sniah | 2k | direct | 1 |",
                "| sniah | 3000 | rlm (model=careless) | 1 | 100.0 | 100.0-100.0 | 0.80 | 1.00 |",  # 4 of 5
                "| sniah | 3000 | rlm (model=root) | 1 | 100.0 | 100.0-100.0 | 1.00 | 1.00 |"]
    for line in expected:
        if line not in text:
            pytest.fail(f"{line!r} not in report.md:\n{text}")
    for line in text.splitlines():
        if "| direct |" in line:  # direct cannot cite: '-', not 0
            assert line.split(" | ")[6:8] == ["-", "-"], line
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert {(s["method"], s["evidence_precision"]) for s in summary if s["suite"] == "multidoc"} == {
        ("rlm (model=root)", 1.0), ("direct", None)}
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "<th class=\"num\">evidence precision</th>" in page and ">0.80</td>" in page and ">0.50</td>" in page


@pytest.mark.parametrize("kind", ["defines", "default", "subclasses", "calls"])
def test_codeqa_gold_spans_are_the_lines_that_show_the_answer(tmp_path, kind):
    from evals.generators import codeqa

    t = codeqa.generate(kind, 30_000, 0, 0, tmp_path)
    for g in t.gold_evidence:
        assert (tmp_path / t.context_path / g["document"]).read_bytes()[g["start"]:g["end"]].decode() == g["text"]
    texts = [g["text"] for g in t.gold_evidence]
    answer = t.meta["options"]["ABCD".index(t.gold)]
    name = t.question.split("`")[1] if kind != "default" else t.question.split("`")[5]
    if kind in ("defines", "default"):
        assert len(texts) == 1 and re.match(rf"(async )?def {name}\s*\(", texts[0])
        assert kind == "default" or t.gold_evidence[0]["document"] == answer
    elif kind == "subclasses":  # one class line per subclass counted
        assert len(texts) == int(answer) and all(x.startswith("class ") and name in x for x in texts)
    else:  # the calling function, whole
        module, func = answer.split(":")
        assert t.gold_evidence[0]["document"] == module and re.match(rf"(async )?def {func}\s*\(", texts[0]) and name in texts[0]
