"""The real-model bench's runner (benchmarks/real_model/run.py) end to end: the command against a
scripted OpenAI-protocol server, rlm through the real sandbox and direct, rows written and
scored, a second run skipping what is done, the table."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli_env
from scripted_server import Call, ScriptedServer

from benchmarks.real_model.run import summarise, table

COUNTING, NEEDLE = "realmodel-counting-01-s0", "realmodel-needle-01-s0"


def model(call: Call) -> str:
    """The RLM root writes code that solves either task in the sandbox; as the direct baseline
    it answers a needle it can see in its prompt, and gives up on counting."""
    text = "\n".join(str(m.get("content")) for m in call.messages)
    service = re.search(r"come from the (\w+) service", text)
    account = re.search(r"issued for the account ([\w-]+)\?", text)
    if not call.is_root:
        found = account and re.search(rf"recovery code (\S+) for account {re.escape(account[1])}\n", text)
        return f"The code is {found[1]}." if found else "I cannot count that many lines by reading them."
    if call.turn > 0:
        return "FINAL_VAR(out)"
    if service:
        return ("```repl\nimport re\n"
                f"out = str(len(re.findall(r'^\\S+ ERROR +\\[{service[1]}\\]', context, re.M)))\nprint(out)\n```")
    assert account, text[:2000]
    return ("```repl\nimport re\n"
            f"out = re.search(r'recovery code (\\S+) for account {account[1]}$', context, re.M).group(1)\nprint(out)\n```")


def bench(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks.real_model.run", *args], cwd=REPO, text=True,
                          capture_output=True, env=cli_env(home), timeout=600)


@pytest.fixture(scope="module")
def server():
    with ScriptedServer({"qwen-test": model}) as s:
        yield s


def test_the_runner_writes_scored_rows_resumes_and_tabulates(server, tmp_path):
    out = tmp_path / "bench" / "results.jsonl"
    args = ["--base-url", server.url, "--model", "qwen-test", "--api-key", "k", "--methods", "rlm,direct",
            "--only", f"{COUNTING},{NEEDLE}", "--out", str(out), "--max-iterations", "4"]
    first = bench(*args, home=tmp_path / "home")
    assert first.returncode == 0, first.stderr[-3000:]
    assert (tmp_path / "bench" / "tasks" / "tasks.jsonl").exists()  # generated beside --out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["task_id"], r["method"]) for r in rows] == [(COUNTING, "rlm"), (COUNTING, "direct"),
                                                           (NEEDLE, "rlm"), (NEEDLE, "direct")]
    by = {(r["task_id"], r["method"]): r for r in rows}
    for r in rows:
        assert r["label"] == "before" and r["status"] == "ok" and r["kind"] in ("counting", "needle"), r
        assert r["trajectory_path"] and Path(r["trajectory_path"]).exists()
        assert r["prompt_tokens"] > 0 and r["completion_tokens"] > 0 and r["wall_s"] > 0
        assert isinstance(r["failure_modes"], list) and r["error"] is None
    # rlm computed both answers in the sandbox; direct gave up on counting
    assert by[(COUNTING, "rlm")]["correct"] and by[(NEEDLE, "rlm")]["correct"]
    assert str(by[(COUNTING, "rlm")]["answer"]) == str(by[(COUNTING, "rlm")]["gold"])
    assert by[(NEEDLE, "rlm")]["answer"] == by[(NEEDLE, "rlm")]["gold"]
    assert not by[(COUNTING, "direct")]["correct"]
    assert by[(NEEDLE, "direct")]["correct"] == (by[(NEEDLE, "direct")]["gold"] in by[(NEEDLE, "direct")]["answer"])
    # 3 turns: a count printed with none of its lines in view is questioned once, then given again
    assert by[(COUNTING, "rlm")]["turns"] == 3 and by[(COUNTING, "direct")]["turns"] is None
    summary = json.loads(first.stdout)
    assert summary["rlm/before"]["n"] == 2 and summary["rlm/before"]["correct"] == 2
    assert summary["rlm/before"]["accuracy"] == 1.0
    assert summary["direct/before"]["by_kind"]["counting"] == {"n": 1, "correct": 0}
    assert "[4/4]" in first.stderr

    calls = len(server.calls)
    again = bench(*args, home=tmp_path / "home")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 to run, 4 already in" in again.stderr
    assert len(out.read_text().splitlines()) == 4 and len(server.calls) == calls
    assert json.loads(again.stdout) == summary

    # another label is another set of pairs; --limit and --kinds choose the tasks
    after = bench(*args, "--label", "after", "--kinds", "needle", "--methods", "direct", home=tmp_path / "home")
    assert after.returncode == 0, after.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["task_id"], r["method"], r["label"]) for r in rows[4:]] == [(NEEDLE, "direct", "after")]

    shown = bench("--table", str(out), home=tmp_path / "home")
    assert shown.returncode == 0, shown.stderr
    assert "| rlm | before | 2/2 | 100% |" in shown.stdout
    assert "| direct | after | " in shown.stdout and "| counting | - | 0/1 | 1/1 |" in shown.stdout


@pytest.mark.skipif(importlib.util.find_spec("benchmarks.real_model.official") is not None,
                    reason="the official baseline is there: its own tests run it")
def test_a_missing_official_baseline_is_unavailable_and_retried(server, tmp_path):
    out = tmp_path / "results.jsonl"
    args = ["--base-url", server.url, "--model", "qwen-test", "--methods", "official", "--only", NEEDLE,
            "--out", str(out), "--tasks-dir", str(tmp_path / "tasks")]
    for _ in range(2):
        done = bench(*args, home=tmp_path / "home")
        assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["unavailable", "unavailable"] and not any(r["correct"] for r in rows)
    assert summarise(rows)["official/before"]["n"] == 0  # not counted as a wrong answer


def test_bad_selections_are_refused(server, tmp_path):
    common = ["--base-url", server.url, "--model", "qwen-test", "--out", str(tmp_path / "r.jsonl"),
              "--tasks-dir", str(tmp_path / "tasks")]
    for extra, message in ((["--methods", "rlm,magic"], "unknown method magic"),
                           (["--kinds", "haiku"], "no such kind: haiku"),
                           (["--only", "realmodel-nope"], "no such task: realmodel-nope")):
        done = bench(*common, *extra, home=tmp_path / "home")
        assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "--base-url and --model" in bench("--model", "m", home=tmp_path / "home").stderr
    local = bench("--local", "--base-url", server.url, home=tmp_path / "home")
    assert local.returncode == 2 and "--local runs its own server" in local.stderr
    assert table([]).startswith("| method |")
