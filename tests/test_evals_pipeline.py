"""generate -> run -> report, end to end against the scripted model server, with scripted
strategies that solve small instances through the real sandbox (a broken harness fails)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env
from eval_strategies import reader, root
from scripted_server import ScriptedServer

from evals import MethodSettings, generate, make_report, read_tasks, run_eval
from evals.runner import done_pairs


@pytest.fixture(scope="module")
def server():
    with ScriptedServer({"root": root, "reader": reader}) as s:
        yield s


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    d = tmp_path_factory.mktemp("tasks")
    generate("sniah", 3000, 2, 0, d, variant="multiquery")
    generate("sniah", 20_480, 1, 0, d, variant="single_2")
    generate("oolong", 1500, 2, 0, d, variant="count")
    return d


def settings(server, tmp: Path, model: str = "root") -> MethodSettings:
    return MethodSettings.of(model=model, sub_model="reader", base_url=server.url, api_key="k",
                             runs_dir=tmp / "runs", window_tokens=4000, top_k=2, chunk_chars=2000)


def test_rlm_solves_the_tasks_through_the_sandbox_and_the_run_resumes(server, tasks, tmp_path):
    results = tmp_path / "results.jsonl"
    rows = run_eval(tasks, ["rlm", "rlm-nosub"], settings(server, tmp_path), results, workers=2)
    assert len(rows) == 10 and len(done_pairs(results)) == 10
    by = {(r["task_id"], r["method"]): r for r in rows}
    for t in read_tasks(tasks):
        r = by[(t.id, "rlm")]
        assert r["status"] == "ok" and r["score"] == 100.0, r
        assert Path(r["trajectory_path"]).exists() and r["tokens"] > 0
        nosub = by[(t.id, "rlm-nosub")]
        # without sub-calls the oolong strategy cannot label instances
        assert nosub["score"] == (100.0 if t.suite == "sniah" else nosub["score"])
        if t.suite == "oolong":
            assert nosub["score"] < 100.0
    # a re-run skips every finished pair; a new method runs only its own pairs
    assert run_eval(tasks, ["rlm", "rlm-nosub"], settings(server, tmp_path), results, workers=2) == []
    lines_before = len(results.read_text().splitlines())
    more = run_eval(tasks, ["direct"], settings(server, tmp_path, model="reader"), results, workers=1)
    assert len(more) == 5 and len(results.read_text().splitlines()) == lines_before + 5


def test_baselines_truncate_and_retrieve(server, tasks, tmp_path):
    results = tmp_path / "results.jsonl"
    rows = run_eval(tasks, ["direct", "retrieval", "summary"], settings(server, tmp_path, model="reader"),
                    results, workers=2)
    by = {(r["task_id"], r["method"]): r for r in rows}
    big = next(t for t in read_tasks(tasks) if t.length == 20_480)
    # the window is 4,000 tokens: direct sees the head only (recorded); retrieval finds the needle chunk
    assert by[(big.id, "direct")]["truncated"] is True
    assert by[(big.id, "retrieval")]["score"] == 100.0
    assert by[(big.id, "summary")]["score"] == 100.0 and by[(big.id, "summary")]["tokens"] > by[(big.id, "direct")]["tokens"]
    small = [t for t in read_tasks(tasks) if t.length == 1500]
    assert all(by[(t.id, "direct")]["score"] == 100.0 and not by[(t.id, "direct")]["truncated"] for t in small)


def test_report_writes_markdown_and_png(server, tasks, tmp_path):
    results = tmp_path / "results.jsonl"
    run_eval(tasks, ["rlm"], settings(server, tmp_path), results, workers=2)
    run_eval(tasks, ["direct"], settings(server, tmp_path, model="reader"), results, workers=2)
    md, pngs = make_report(results, tmp_path / "report")
    text = md.read_text()
    if not ("| sniah | 20k | direct | 1 |" in text and "| oolong | 1500 | rlm | 2 | 100.0 | 100.0-100.0 |" in text):
        pytest.fail("report.md:\n" + text)
    assert [p.name for p in pngs] == ["score_vs_length.png", "cost_vs_length.png"]
    for p in pngs:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert {s["method"] for s in summary} == {"rlm", "direct"}


def test_eval_cli_end_to_end(server, tmp_path):
    env = cli_env(tmp_path / "home")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", "eval", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    listed = cli("list")
    assert listed.returncode == 0 and all(s in listed.stdout for s in ("sniah", "oolong", "pairs", "multidoc", "codeqa"))
    assert "(default)" in listed.stdout  # the variants a suite cycles through when none is asked for
    gen = cli("generate", "sniah", "--length", "2k", "--n", "2", "--seed", "0", "-o", "tasks", "--variant", "single_1")
    assert gen.returncode == 0 and "wrote 2 tasks to" in gen.stderr, gen.stderr
    run = cli("run", "tasks", "--method", "rlm,direct", "--model", "root", "--sub-model", "reader",
              "--base-url", server.url, "--workers", "2", "-o", "results.jsonl")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["method"] for r in rows} == {"rlm", "direct"}
    assert all(r["score"] == 100.0 for r in rows if r["method"] == "rlm")
    rep = cli("report", "results.jsonl", "-o", "report")
    assert rep.returncode == 0, rep.stderr
    assert (tmp_path / "report" / "report.md").exists() and (tmp_path / "report" / "score_vs_length.png").exists()
    assert "summary.json" in rep.stderr.replace("\n", "")  # every file written is named
    md = (tmp_path / "report" / "report.md").read_text()  # the scripted root cites the needle; direct cannot
    assert "| sniah | 2k | rlm | 2 | 100.0 | 100.0-100.0 | 1.00 | 1.00 |" in md, md
    assert "| - | - |" in next(line for line in md.splitlines() if "| direct |" in line), md
    empty = cli("run", "tasks", "--method", "direct,,rlm", "--model", "root", "--base-url", server.url)
    assert empty.returncode == 1 and "empty method name" in empty.stderr, empty.stderr
    narrow = cli("run", "tasks", "--method", "direct", "--model", "root", "--base-url", server.url, "--window", "100")
    assert narrow.returncode == 1 and "too small" in narrow.stderr, narrow.stderr
    zero = cli("run", "tasks", "--method", "direct", "--model", "root", "--base-url", server.url, "--window", "0")
    assert zero.returncode == 1 and "at least 1,024 tokens" in zero.stderr, zero.stderr
    stream = cli("stream", "tasks", "--n", "2", "--model", "root", "--sub-model", "reader", "--base-url", server.url,
                 "-o", "stream.jsonl")
    assert stream.returncode == 0, stream.stderr
    assert "# Continual-learning stream" in stream.stdout and len((tmp_path / "stream.jsonl").read_text().splitlines()) == 4
    bad = cli("generate", "nosuch", "--length", "2k", "-o", "x")
    assert bad.returncode == 1 and "unknown suite" in bad.stderr
    bad_len = cli("generate", "sniah", "--length", "lots", "-o", "x")
    assert bad_len.returncode == 1 and "not a length" in bad_len.stderr


def test_continual_learning_stream_with_and_without_notes(tmp_path):
    from evals.stream import build_stream, run_stream, stream_report

    d = tmp_path / "tasks"
    generate("sniah", 1500, 4, 0, d, variant="single_1")
    generate("oolong", 1500, 3, 0, d, variant="count")
    stream = build_stream(read_tasks(d), 40, seed=3)
    relations = [rel for _, rel in stream]
    assert relations[0] == "first" and relations.count("similar") > relations.count("dissimilar") > 0
    assert all(b.suite == a.suite for (a, _), (b, rel) in zip(stream, stream[1:], strict=False) if rel == "similar")
    assert all(b.suite != a.suite for (a, _), (b, rel) in zip(stream, stream[1:], strict=False) if rel == "dissimilar")

    def learner(call):
        if "leave notes for future runs" in call.prompt:
            return "```repl\nremember('Needles read: special magic number for KEY is: VALUE.', 'it worked')\n```"
        return root(call)

    with ScriptedServer({"root": learner, "reader": reader}) as server:
        rows = run_stream(d, 4, settings(server, tmp_path), tmp_path / "stream.jsonl", seed=3)
    assert len(rows) == 8 and {r["mode"] for r in rows} == {"notes", "no-notes"}
    with_notes = [r for r in rows if r["mode"] == "notes"]
    assert with_notes[0]["memory_tokens"] == 0 and all(r["memory_tokens"] > 0 for r in with_notes[1:])
    assert all(r["memory_tokens"] == 0 for r in rows if r["mode"] == "no-notes")
    assert all(r["score"] == 100.0 for r in rows)
    report = stream_report(rows)
    assert "| 2 |" in report and "Mean gain +0.00 points over 4 steps" in report
    # the scripted models have no price: their cost is unknown, not $0
    assert all(r["cost_usd"] is None for r in rows) and "$0.0000" not in report
    assert "| unpriced | unpriced |" in report and "mean cost change unknown (a model is unpriced)" in report


def test_runner_on_a_local_ray_cluster(server, tasks, tmp_path):
    pytest.importorskip("ray", reason="the test extra installs ray; without it this path cannot run")
    results = tmp_path / "results.jsonl"
    rows = run_eval(tasks, ["rlm", "direct"], settings(server, tmp_path), results, ray_address="local")
    assert len(rows) == 10 and all(r["status"] == "ok" for r in rows)
    assert all(r["score"] == 100.0 for r in rows if r["method"] == "rlm")
    assert len(done_pairs(results)) == 10


def test_eval_settings_are_one_rlm_config_and_bad_input_is_an_rlm_error(tmp_path):
    from evals import EvalError, parse_length
    from rlm import ConfigError, RLMError

    s = MethodSettings.of(model="m", api_key="sk-secret-123", max_iterations=5, window_tokens=8000)
    assert (s.rlm.model, s.rlm.max_iterations, s.rlm.notes, s.window_tokens) == ("m", 5, False, 8000)
    assert s.as_dict()["rlm"]["api_key"] == "set" and "sk-secret-123" not in str(s.as_dict())
    with pytest.raises(ConfigError, match="did you mean max_depth"):
        MethodSettings.of(model="m", max_dept=2)
    with pytest.raises(EvalError, match="not a length") as info:
        parse_length("lots")
    assert isinstance(info.value, RLMError)
    from evals.methods import _room

    assert _room(MethodSettings.of(model="m", window_tokens=4000), "q?", 4096) >= 1900  # not the 256 floor
    # a window below 1k ran silently at a 256-token floor; an empty method name was dropped
    with pytest.raises(EvalError, match="too small"):
        MethodSettings.of(model="m", window_tokens=100)
    from evals.methods import check_methods

    for bad in (["direct", "", "rlm"], [], ["direct", "rlm", "direct"]):
        with pytest.raises(EvalError, match="method"):
            check_methods(bad)


def test_failed_pairs_are_retried_the_run_fails_and_other_settings_are_kept_apart(tmp_path):
    from scripted_server import Fault

    env = cli_env(tmp_path / "home")
    broken = {"on": True}

    def flaky_reader(call):  # the endpoint is down (a 503 that is not retried for long) until it is not
        return Fault(503, '{"error": {"message": "down for maintenance"}}') if broken["on"] else reader(call)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", "eval", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    assert cli("generate", "sniah", "--length", "2k", "--n", "2", "--seed", "0", "-o", "tasks").returncode == 0
    (tmp_path / "rlm.toml").write_text("max_retries = 1\nretry_base_s = 0.01\n")  # the baselines honour it too
    with ScriptedServer({"reader": flaky_reader}) as server:
        common = ("--method", "direct", "--model", "reader", "-w", "1", "-o", "results.jsonl", "--base-url", server.url)
        down = cli("run", "tasks", *common)
        assert down.returncode == 1 and "2 of 2 failed" in down.stderr and "retries them" in down.stderr, down.stderr
        kept = cli("run", "tasks", *common, "--keep-failed")
        assert kept.returncode == 0 and "0 new results" in kept.stderr
        broken["on"] = False
        up = cli("run", "tasks", *common)
        assert up.returncode == 0 and "2 new results" in up.stderr, up.stderr
        again = cli("run", "tasks", *common)
        assert again.returncode == 0 and "0 new results" in again.stderr
        wide = cli("run", "tasks", *common, "--window", "64k")  # other settings: a result of their own
        assert wide.returncode == 0 and "2 new results" in wide.stderr, wide.stderr
    rep = cli("report", "results.jsonl", "-o", "report")
    assert rep.returncode == 0, rep.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    # the failures were replaced by their retry; the two windows are two labelled methods
    assert sorted((s["method"], s["n"], s["failures"]) for s in summary) == [
        ("direct (window_tokens=128000)", 2, 0), ("direct (window_tokens=65536)", 2, 0)]


def test_reports_cannot_mislead(tmp_path):
    """Intervals stay inside 0-100, an unpriced model's cost reads 'unpriced' (not $0) and is
    left out of the cost plot with a note, and methods with equal results stay visible."""
    from evals.report import aggregate, markdown, plots, score_interval

    assert score_interval([100.0, 100.0, 0.0]) == (pytest.approx(66.67, abs=0.01), 0.0, 100.0)
    rows = []
    for method, priced in (("rlm", True), ("direct", False), ("summary", True)):
        for i, score in enumerate([100.0, 100.0, 100.0, 0.0]):
            rows.append({"task_id": f"t{i}", "suite": "sniah", "length": 8192, "method": method, "score": score,
                         "status": "ok", "tokens": 1000, "cost_usd": 0.01 if priced else 0.0, "priced": priced,
                         "settings_id": "a", "settings": {"model": "m"}})
    stats = aggregate(rows)
    by = {s["method"]: s for s in stats}
    assert by["rlm"]["ci_high"] == 100.0 and by["rlm"]["score"] + by["rlm"]["ci95"] > 100.0
    assert by["direct"]["unpriced"] and not by["rlm"]["unpriced"]
    text = markdown(stats)
    assert "| sniah | 8k | direct | 4 | 75.0 | 0.0-100.0 | - | - | unpriced | unpriced |" in text
    assert "$0.0000" not in text

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn: list = []
    real_errorbar = matplotlib.axes.Axes.errorbar

    def spy(self, x, y, *args, **kwargs):
        drawn.append((self.get_ylabel() or "?", tuple(x), kwargs.get("marker"), kwargs.get("linestyle"),
                      kwargs.get("label")))
        return real_errorbar(self, x, y, *args, **kwargs)

    texts: list[str] = []
    real_text = matplotlib.axes.Axes.text

    def spy_text(self, x, y, s, *args, **kwargs):
        texts.append(s)
        return real_text(self, x, y, s, *args, **kwargs)

    matplotlib.axes.Axes.errorbar = spy
    matplotlib.axes.Axes.text = spy_text
    try:
        paths = plots(stats, tmp_path)
    finally:
        matplotlib.axes.Axes.errorbar = real_errorbar
        matplotlib.axes.Axes.text = real_text
        plt.close("all")
    assert [p.name for p in paths] == ["score_vs_length.png", "cost_vs_length.png"]
    score_lines = [d for d in drawn if d[4] in ("rlm", "direct", "summary")][:3]
    assert len({d[1] for d in score_lines}) == 3  # equal scores, three x positions
    assert len({(d[2], d[3]) for d in score_lines}) == 3  # three markers / line styles
    assert sum(1 for d in drawn if d[4] == "direct") == 1  # drawn for score, left out of cost
    assert any("unpriced" in t and "direct" in t for t in texts)

    from evals.report import html_report

    page = html_report(stats, rows, [], tmp_path, "r").read_text(encoding="utf-8")
    tasks_table = page.split("<h2>Tasks", 1)[1]
    assert tasks_table.count("unpriced") == 4 and "$0.0000" not in tasks_table  # direct's four rows
    assert tasks_table.count("$0.0100") == 8


def test_summary_compacts_with_the_sub_model_and_answers_with_the_model(tmp_path):
    """The paper's summary agent: a smaller model keeps the running notes, the model answers."""
    calls: dict[str, int] = {"big": 0, "small": 0}

    def big(call) -> str:
        calls["big"] += 1
        assert "Rewrite your notes" not in call.prompt
        return "Answer: 1"

    def small(call) -> str:
        calls["small"] += 1
        assert "Rewrite your notes" in call.prompt
        return "notes"

    tasks = generate("sniah", 8192, 1, 0, tmp_path / "t", variant="single_1")
    with ScriptedServer({"big": big, "small": small}) as srv:
        s = MethodSettings.of(model="big", sub_model="small", base_url=srv.url, api_key="k",
                              runs_dir=tmp_path / "runs", window_tokens=3000)
        (row,) = run_eval(tasks, ["summary"], s, tmp_path / "results.jsonl", workers=1)
    assert row["status"] == "ok" and calls["big"] == 1 and calls["small"] >= 3
    assert row["settings"]["sub_model"] == "small"


def test_report_takes_a_tasks_directory_and_refuses_what_is_not_results(server, tasks, tmp_path):
    from evals import EvalError

    run_eval(tasks, ["direct"], settings(server, tmp_path, model="reader"), tasks / "results.jsonl", workers=1)
    md, _ = make_report(tasks, tmp_path / "r1")  # the directory `rlm eval run` was given: its results.jsonl
    assert "| sniah |" in md.read_text()
    (tasks / "results.jsonl").unlink()
    with pytest.raises(EvalError, match="not a results file"):  # it was a KeyError traceback
        make_report(next(tasks.glob("tasks-*.jsonl")), tmp_path / "r2")
    with pytest.raises(EvalError, match="no such results file"):  # it was IsADirectoryError
        make_report(tmp_path / "nothing-here", tmp_path / "r3")


def test_eval_runs_do_not_use_the_call_cache():
    s = MethodSettings.of(model="m", api_key="k")
    assert s.rlm.cache is False and s.rlm.cache_path is None


def test_a_torn_last_line_does_not_swallow_the_next_result(server, tasks, tmp_path):
    """A run killed mid-write leaves a line without its newline; the next run's first row
    used to be appended to it, and both were lost to the reader."""
    results = tmp_path / "results.jsonl"
    results.write_text('{"task_id": "gone", "method": "direct", "sco', encoding="utf-8")
    rows = run_eval(tasks, ["direct"], settings(server, tmp_path, model="reader"), results, workers=1, limit=1)
    assert len(rows) == 1
    assert len(done_pairs(results)) == 1  # the new row reads back; the torn one stays one bad line
    assert results.read_text(encoding="utf-8").splitlines()[0] == '{"task_id": "gone", "method": "direct", "sco'


def test_a_run_whose_first_pairs_all_fail_stops(server, tasks, tmp_path):
    """A wrong model name fails every pair alike: the run stops after three failures instead of
    paying every pair's retries, keeps the failed rows (retried next run) and says why."""
    from evals.runner import GaveUp, is_failed, read_jsonl

    # (the check before the run would refuse this model: off, to reach the give-up rule)
    wrong = MethodSettings.of(model="no-such-model", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                              window_tokens=4000, preflight=False)
    results = tmp_path / "results.jsonl"
    with pytest.raises(GaveUp, match="first 3 pairs all failed.*--model") as info:
        run_eval(tasks, ["direct", "retrieval"], wrong, results, workers=1)
    assert "no-such-model" in str(info.value)
    rows = list(read_jsonl(results))
    assert len(rows) == 3 and all(is_failed(r) for r in rows), [r["status"] for r in rows]
    with pytest.raises(GaveUp):  # in worker processes too
        run_eval(tasks, ["direct", "retrieval"], wrong, tmp_path / "pool.jsonl", workers=2)
    assert len(list(read_jsonl(tmp_path / "pool.jsonl"))) == 3
    # one success among the first three: the run goes on to the end
    mixed = run_eval(tasks, ["direct"], settings(server, tmp_path, model="reader"), tmp_path / "ok.jsonl", workers=1)
    assert len(mixed) == 5


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_keeps_the_results_and_says_how_to_go_on(tmp_path, workers):
    import signal
    import time

    env = cli_env(tmp_path / "home")
    gen = subprocess.run([sys.executable, "-m", "cli", "eval", "generate", "sniah", "--length", "2k", "--n", "6",
                          "-o", "tasks"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert gen.returncode == 0, gen.stderr
    results = tmp_path / "tasks" / "results.jsonl"
    with ScriptedServer({"reader": reader}, latency_s=1.0) as server:
        cmd = [sys.executable, "-m", "cli", "eval", "run", "tasks", "--method", "direct", "--model", "reader",
               "--base-url", server.url, "-w", workers]
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not (results.exists() and results.read_text().count("\n") >= 1):
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:  # a hung process must not outlive the test
            proc.kill()
            proc.wait()
        assert proc.returncode == 130, err
        kept = len(done_pairs(results))
        assert 1 <= kept < 6
        last = err.strip().splitlines()[-1]
        assert f"interrupted: {kept} new results kept in" in last and "same command again" in last, err
        again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and f"{6 - kept} new results" in again.stderr, again.stderr
    assert len(done_pairs(results)) == 6


def test_one_task_that_always_fails_does_not_stop_the_run(tmp_path):
    """A refusal of one task's prompt (a content filter, a prompt too long for the model) fails
    every method on that task alike: that is not a dead endpoint, so the run goes on; the next
    run tries the failed pairs last."""
    from scripted_server import Fault

    from evals.runner import todo_pairs

    def picky(call):
        if "How many instances" in call.prompt:
            return Fault(400, '{"error": {"message": "this prompt was refused"}}')
        return reader(call)

    d = tmp_path / "tasks"
    generate("oolong", 1500, 1, 0, d, variant="count")
    generate("sniah", 3000, 2, 0, d, variant="multiquery")
    results = tmp_path / "results.jsonl"
    with ScriptedServer({"reader": picky}) as srv:
        s = MethodSettings.of(model="reader", base_url=srv.url, api_key="k", runs_dir=tmp_path / "runs",
                              window_tokens=4000, max_retries=0)
        methods = ["direct", "retrieval", "summary"]
        rows = run_eval(d, methods, s, results, workers=1)
        assert [r["task_id"].split("-")[0] for r in rows[:3]] == ["oolong"] * 3  # the failing task came first
        assert len(rows) == 9 and sum(r["status"] == "ok" for r in rows) == 6
        todo, finished = todo_pairs(read_tasks(d), methods, s, results)
    assert finished == 6 and len(todo) == 3
    # the next run's order: a pair never tried comes before the pairs that failed
    generate("sniah", 3000, 1, 5, d, variant="single_1")
    todo, _ = todo_pairs(read_tasks(d), methods, s, results)
    assert [t.suite for t, _ in todo] == ["sniah"] * 3 + ["oolong"] * 3


def tasks_of(server, tmp_path: Path) -> Path:
    d = tmp_path / "small"
    generate("sniah", 2048, 1, 0, d, variant="single_1")
    return d


def test_a_baseline_that_crashes_leaves_a_run_that_says_so(server, tmp_path):
    """Any failure of a baseline (here its context file is gone) is the row's error and the end
    of its run page, which the row still links to (it read "ok" and the row lost its run)."""
    from rlm import read_trajectory

    d = tmp_path / "tasks"
    (task,) = read_tasks(generate("sniah", 20_480, 1, 0, d, variant="single_2"))
    (d / task.context_path).unlink()
    (row,) = run_eval(d, ["direct"], settings(server, tmp_path, model="reader"), tmp_path / "r.jsonl", workers=1)
    assert row["status"] == "error" and "FileNotFoundError" in row["error"], row
    final = [e for e in read_trajectory(Path(row["trajectory_path"])) if e["event"] == "final"]
    assert final[0]["status"] == "error" and "FileNotFoundError" in final[0]["error"]
    # a runs directory that cannot be written: the pair still runs, without a run page
    (tmp_path / "ro").write_text("a file where the runs directory should be")
    s = MethodSettings.of(model="reader", base_url=server.url, api_key="k", runs_dir=tmp_path / "ro" / "runs",
                          window_tokens=4000)
    (ok,) = run_eval(tasks_of(server, tmp_path), ["direct"], s, tmp_path / "r2.jsonl", workers=1, limit=1)
    assert ok["status"] == "ok" and ok["trajectory_path"] is None, ok


def test_a_baseline_run_page_of_an_unpriced_model_says_unpriced_not_zero(server, tmp_path):
    from rlm import read_trajectory

    (row,) = run_eval(tasks_of(server, tmp_path), ["direct"], settings(server, tmp_path, model="reader"),
                      tmp_path / "r.jsonl", workers=1)
    events = list(read_trajectory(Path(row["trajectory_path"])))
    calls = [e for e in events if e["event"] == "model_call"]
    assert row["priced"] is False and calls and all(e["cost_usd"] is None for e in calls)
    assert [e["cost_usd"] for e in events if e["event"] == "totals"] == [None]


def read_jsonl_rows(path: Path) -> list[dict]:
    from rlm import read_jsonl

    return list(read_jsonl(path))


def test_the_run_checks_endpoints_and_models_before_any_pair(server, tasks, tmp_path):
    """A wrong --model or --sub-model, or a dead endpoint, is named before anything is spent
    (a wrong sub-model passed unseen in rlm runs: their failed sub-calls are strings the code
    reads, and every row was 'ok')."""
    import time

    from evals import EvalError

    results = tmp_path / "results.jsonl"
    base = {"base_url": server.url, "api_key": "k", "runs_dir": tmp_path / "runs", "window_tokens": 4000}
    with pytest.raises(EvalError, match=r"--model 'nope' is not a model .* serves \(it lists: reader, root\)"):
        run_eval(tasks, ["direct"], MethodSettings.of(model="nope", **base), results)
    with pytest.raises(EvalError, match="--sub-model 'nope-sub' is not a model"):
        run_eval(tasks, ["rlm"], MethodSettings.of(model="root", sub_model="nope-sub", **base), results)
    # rlm-nosub does not call the sub-model: its name is not checked
    assert len(run_eval(tasks, ["rlm-nosub"], MethodSettings.of(model="root", sub_model="nope-sub", **base),
                        results, limit=1)) == 1
    started = time.monotonic()
    dead = {**base, "base_url": "http://127.0.0.1:9/v1"}
    with pytest.raises(EvalError, match="cannot reach the model endpoint .*no pair was run"):
        run_eval(tasks, ["rlm", "direct"], MethodSettings.of(model="root", **dead), tmp_path / "dead.jsonl")
    assert time.monotonic() - started < 30 and not (tmp_path / "dead.jsonl").exists()
    assert [r["method"] for r in read_jsonl_rows(results)] == ["rlm-nosub"]
