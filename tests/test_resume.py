"""Resuming runs: after SIGKILL, after a budget stop, refused when the context changed.
Real `rlm` processes, a real scripted server, the real call cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from conftest import cli_env
from scripted_server import ScriptedServer

from rlm import RLM, ContextError
from sandbox import SandboxConfig

TURNS = 40


def counting_root(call):
    """Turn t adds t (and a sub-call's answer) to a kernel variable; after TURNS turns, the
    answer is that variable: right only if every earlier turn's code ran in this kernel."""
    if "Stop:" in call.prompt:
        return "FINAL_VAR(total)"
    t = call.turn
    if t == 0:
        return "```repl\ntotal = 0\nprint('start', len(context))\n```"
    if t <= TURNS:
        return f"```repl\ntotal += {t} + int(llm_query('one: ' + context[:9]))\nprint(total)\n```"
    return "FINAL_VAR(total)"


EXPECTED = str(sum(t + 1 for t in range(1, TURNS + 1)))


def root_turns(server: ScriptedServer) -> Counter:
    return Counter(c.turn for c in server.calls_to("root"))



def kill_at_turn(server, proc: subprocess.Popen, turns: int) -> None:
    """SIGKILL `proc` once the root model has been asked `turns` times (or it ended)."""
    deadline = time.monotonic() + 120
    while len(server.calls_to("root")) < turns and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)

def test_a_run_killed_at_turn_20_of_40_resumes_and_asks_each_turn_once(tmp_path):
    (tmp_path / "data.txt").write_text("some data\n" * 100)
    with ScriptedServer({"root": counting_root, "sub": lambda call: "1"}, latency_s=0.01) as server:
        env = cli_env(tmp_path / "home", key="test-key")
        base = ["-m", "root", "--sub-model", "sub", "--base-url", server.url, "--max-iterations", "60", "--no-notes"]
        proc = subprocess.Popen([sys.executable, "-m", "cli", "query", "data.txt", "-q", "sum it", *base],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_at_turn(server, proc, 20)
        seen_before = len(server.calls_to("root"))
        assert 20 <= seen_before < TURNS, seen_before
        runs = sorted((tmp_path / "home" / "runs").glob("*.jsonl"))
        assert len(runs) == 1
        run_id = runs[0].stem
        resume = [sys.executable, "-m", "cli", "runs", "resume", run_id[-8:], "--max-iterations", "60", "--json"]
        # the endpoint comes from the resumer, never from the trajectory alone (an edited one could
        # send the key and the text anywhere): not named, the resume is refused before any request
        asked = len(server.calls)
        r = subprocess.run(resume, cwd=tmp_path, env=env, capture_output=True, timeout=300, check=False)
        assert r.returncode == 1 and f"give --base-url {server.url}" in r.stdout.decode(), r
        assert len(server.calls) == asked
        r = subprocess.run([*resume, "--base-url", server.url], cwd=tmp_path, env=env, capture_output=True,
                           timeout=300, check=False)
        assert r.returncode == 0, r.stderr.decode()
        result = json.loads(r.stdout)
        turns = root_turns(server)
    assert result["answer"] == EXPECTED and result["status"] == "ok"
    assert result["resumed_from"] == run_id and result["replayed_turns"] >= 19
    # every turn went to the endpoint once, apart from the one in flight when the first run died
    assert set(turns) == set(range(TURNS + 2)), sorted(turns)
    assert sum(turns.values()) <= TURNS + 3 and sum(1 for n in turns.values() if n > 1) <= 1, turns


def test_a_budget_stop_resumes_with_a_raised_budget(tmp_path):
    with ScriptedServer({"root": counting_root, "sub": lambda call: "1"}) as server:
        settings = dict(model="root", sub_model="sub", base_url=server.url, api_key="k", notes=False,
                        runs_dir=tmp_path / "runs")
        stopped = RLM(max_iterations=10, **settings).completion("x" * 50, "sum it")
        assert stopped.status == "max_iterations"
        before = root_turns(server)
        resumed = RLM(max_iterations=60, **settings).resume(stopped.run_id)
        after = root_turns(server)
    assert resumed.answer == EXPECTED and resumed.status == "ok"
    assert resumed.resumed_from == stopped.run_id and resumed.replayed_turns == 10
    assert all(after[t] == before[t] for t in range(10)), "a completed turn was asked again"


def test_a_changed_context_is_refused(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("version one\n")
    with ScriptedServer({"root": counting_root, "sub": lambda call: "1"}) as server:
        settings = dict(model="root", sub_model="sub", base_url=server.url, api_key="k", notes=False,
                        runs_dir=tmp_path / "runs")
        stopped = RLM(max_iterations=3, **settings).completion(data, "sum it")
        data.write_text("version two, longer\n")
        with pytest.raises(ContextError, match="changed since it ran"):
            RLM(**settings).resume(stopped.run_id)
        text_run = RLM(max_iterations=3, **settings).completion("in memory", "sum it")
        (tmp_path / "runs" / f"{text_run.run_id}.context").write_text("tampered")
        with pytest.raises(ContextError, match="not the one it ran on"):
            RLM(**settings).resume(text_run.run_id)
        with pytest.raises(ContextError, match="no run"):
            RLM(**settings).resume("nope")


def _events(runs_dir, run_id, kind):
    return [e for e in map(json.loads, (runs_dir / f"{run_id}.jsonl").read_text().splitlines())
            if e.get("event") == kind]


def test_a_resume_elsewhere_keeps_the_runs_budgets_and_notes_store(tmp_path):
    """Killed at turn 20 of a run started with --max-iterations 60 and --notes mynotes (one
    memory), resumed from another directory with no options: it goes on to its answer (the
    default 30 turns would stop it first), with the run's store and its memory, and writes no
    store where the resume ran."""
    from rlm.notes import NotesStore

    (tmp_path / "data.txt").write_text("some data\n" * 100)
    with NotesStore(tmp_path / "mynotes") as store:
        store.remember("The data repeats one line.", "seeded by the test")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = tmp_path / "home" / "runs"
    with ScriptedServer({"root": counting_root, "sub": lambda call: "1"}, latency_s=0.01) as server:
        env = cli_env(tmp_path / "home", key="test-key")
        proc = subprocess.Popen([sys.executable, "-m", "cli", "query", "data.txt", "-q", "sum it", "-m", "root",
                                 "--sub-model", "sub", "--base-url", server.url, "--max-iterations", "60",
                                 "--notes", "mynotes", "--no-notes-turn"],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_at_turn(server, proc, 20)
        (run_id,) = [p.stem for p in runs.glob("*.jsonl")]
        r = subprocess.run([sys.executable, "-m", "cli", "runs", "resume", run_id, "--json"], cwd=elsewhere,
                           env={**env, "OPENAI_BASE_URL": server.url}, capture_output=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr.decode()
    result = json.loads(r.stdout)
    assert result["answer"] == EXPECTED and result["status"] == "ok" and result["resumed_from"] == run_id
    (start,) = _events(runs, result["run_id"], "run_start")
    assert start["config"]["max_iterations"] == 60
    (loaded,) = _events(runs, result["run_id"], "notes_loaded")
    assert loaded["directory"] == str(tmp_path / "mynotes") and loaded["memories"] == 1
    assert not list(elsewhere.rglob("notes.db")) and not (tmp_path / "home" / "notes").exists()


def test_a_resume_keeps_every_budget_the_run_had_and_an_explicit_one_wins(tmp_path):
    with ScriptedServer({"root": counting_root, "sub": lambda call: "1"}) as server:
        settings = dict(model="root", sub_model="sub", base_url=server.url, api_key="k", notes=False,
                        runs_dir=tmp_path / "runs")
        reads = SandboxConfig(hidden_files=True, ignore_files=False, output_limit_chars=5000)
        stopped = RLM(max_iterations=10, max_sub_calls=14, max_tokens=10**7, max_wall_s=900, max_depth=2,
                      request_timeout_s=77.0, sandbox=reads, **settings).completion("x" * 50, "sum it")
        assert stopped.status == "max_iterations"
        resumed = RLM(max_iterations=60, max_tokens=5 * 10**6, **settings).resume(stopped.run_id)
    (start,) = _events(tmp_path / "runs", resumed.run_id, "run_start")
    config = start["config"]
    assert (config["max_sub_calls"], config["max_wall_s"], config["max_depth"], config["request_timeout_s"]) == (
        14, 900, 2, 77.0)
    assert (config["max_iterations"], config["max_tokens"]) == (60, 5 * 10**6)  # given to the resumer
    sandbox = config["sandbox"]  # what decides the files read and what a cell shows
    assert (sandbox["hidden_files"], sandbox["ignore_files"], sandbox["output_limit_chars"]) == (True, False, 5000)
    # the sub-call budget it was started with stops it again (the default has none)
    assert resumed.status == "max_sub_calls" and resumed.replayed_turns == 10


def test_a_trajectory_cannot_loosen_the_isolation_of_its_resume(tmp_path):
    with ScriptedServer({"root": counting_root, "sub": lambda call: "1"}) as server:
        settings = dict(model="root", sub_model="sub", base_url=server.url, api_key="k", notes=False,
                        runs_dir=tmp_path / "runs")
        stopped = RLM(max_iterations=3, **settings).completion("x" * 50, "sum it")
        path = tmp_path / "runs" / f"{stopped.run_id}.jsonl"
        events = [json.loads(line) for line in path.read_text().splitlines()]
        events[0]["config"]["sandbox"].update(policy="trusted", seccomp=False, landlock=False,
                                              network_isolation=False, memory_limit_bytes=1 << 40)
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        resumed = RLM(max_iterations=4, **settings).resume(stopped.run_id)
    (start,) = _events(tmp_path / "runs", resumed.run_id, "run_start")
    sandbox = start["config"]["sandbox"]
    assert (sandbox["policy"], sandbox["seccomp"], sandbox["landlock"], sandbox["network_isolation"],
            sandbox["memory_limit_bytes"]) == ("restricted", True, True, True, None)


def test_a_resume_never_takes_named_models_from_the_trajectory():
    """Named models carry endpoints: a trajectory (edited, or shared) that names one must not
    send the resumer's requests and key there; a plain list of names is taken as before."""
    from rlm.config import RLMConfig
    from rlm.resume import ResumePlan, resumed_settings

    resumer = RLMConfig(model="root", base_url="http://127.0.0.1:1/v1", api_key="k",
                        models={"judge": {"model": "o3"}})
    evil = {"model": "root", "base_url": "http://127.0.0.1:1/v1",
            "models": {"judge": {"model": "o3", "base_url": "http://evil.example/v1"}}}
    out = resumed_settings(ResumePlan("q", "ctx", evil, "r1", []), resumer, given=())
    assert "models" not in out  # the resumer's own named models stay
    listed = resumed_settings(ResumePlan("q", "ctx", {**evil, "models": ["cheap"]}, "r1", []), resumer, given=())
    assert listed["models"] == ["cheap"]


def test_credentials_in_an_endpoint_url_are_not_written_and_the_resume_still_uses_them():
    from rlm.config import RLMConfig
    from rlm.resume import ResumePlan, resumed_settings

    url = "https://alice:s3cret-key@models.example:8443/v1"
    config = RLMConfig(model="root", base_url=url, api_key="k", models={"j": {"base_url": url}})
    public = json.dumps(config.public_dict())
    assert "s3cret-key" not in public and "https://***@models.example:8443/v1" in public
    out = resumed_settings(ResumePlan("q", "ctx", config.public_dict(), "r1", []), config, given=())
    assert out["base_url"] == url  # the resumer's own, checked against the recorded one
