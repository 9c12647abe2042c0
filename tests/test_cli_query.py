"""`rlm query` end to end, as a user runs it: a real process, a real scripted server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env
from scripted_server import Call, ScriptedServer, script


def rlm(*args: str, cwd: Path, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = cli_env(cwd / "home", key="test-key", COLUMNS="200")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, input=stdin, capture_output=True, check=False,
                          timeout=180, env=full_env)


COUNT_DOCS = "```repl\nprint(len(docs), sorted(d.path for d in docs))\nn = str(len(docs))\n```\nFINAL_VAR(n)"


@pytest.fixture
def server():
    def root(call: Call) -> str:
        if "Stop:" in call.prompt:
            return "FINAL(partial)"
        if "budget" in call.messages[1]["content"]:
            return "```repl\nprint(1)\n```"
        if "docs" in call.system:
            return COUNT_DOCS
        return ["```repl\nsize = str(len(context))\nprint(size)\n```", "FINAL_VAR(size)"][min(call.turn, 1)]

    with ScriptedServer({"root": root}) as s:
        yield s


def test_query_json_end_to_end(server, tmp_path):
    (tmp_path / "a.txt").write_text("hello world\n")
    r = rlm("query", "a.txt", "-q", "how long?", "--model", "root", "--base-url", server.url, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["answer"] == "12" and data["status"] == "ok" and data["iterations"] == 2
    # two turns plus the notes turn at the end, whose cost counts in the run's usage
    assert data["usage"]["by_model"]["root"]["calls"] == 3 and data["cost_usd"] is None  # unpriced: unknown, not $0
    path = Path(data["trajectory_path"])
    assert path.parent == tmp_path / "home" / "runs" and data["run_id"] in path.name
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert events[-1]["event"] == "totals"
    assert [e["turn"] for e in events if e["event"] == "model_call"] == [1, 2, "notes"]
    # the notes live in the user's directory, one store per corpus, never beside the files
    assert not (tmp_path / ".rlm").exists()
    assert len(list((tmp_path / "home" / "notes").glob("a.txt-*/notes.db"))) == 1


def test_query_reads_stdin_and_prints_the_answer(server, tmp_path):
    r = rlm("query", "-", "-q", "how long?", "-m", "root", "--base-url", server.url, cwd=tmp_path,
            stdin="äbc\n".encode())
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "4\n"
    assert "ok · 2 turns" in r.stderr.decode()


def test_query_expands_globs_into_documents(server, tmp_path):
    for name in ("x.md", "y.md", "z.txt"):
        (tmp_path / name).write_text(f"file {name}\n")
    r = rlm("query", "*.md", "-q", "how many docs?", "-m", "root", "--base-url", server.url, "-v", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "2"
    assert "sorted(d.path for d in docs)" in r.stderr.decode()  # --verbose shows the code


def test_budget_stop_exits_3_with_the_partial_answer(server, tmp_path):
    (tmp_path / "a.txt").write_text("abc\n")
    r = rlm("query", "a.txt", "-q", "budget test", "-m", "root", "--base-url", server.url,
            "--max-iterations", "2", cwd=tmp_path)
    assert r.returncode == 3
    assert r.stdout.decode() == "partial\n"
    assert "stopped by the max_iterations budget (partial answer above)" in r.stderr.decode()


@pytest.mark.parametrize("setup, args, message", [
    (None, ["missing.txt"], "no such file or directory: missing.txt"),
    (lambda p: (p / "b.bin").write_bytes(b"\x00\x01abc"), ["b.bin"], "looks like a binary file"),
    (lambda p: (p / "e.txt").write_text(""), ["e.txt"], "is empty"),
    (None, ["*.nothing"], "no files match"),
])
def test_bad_input_exits_1_with_one_line(server, tmp_path, setup, args, message):
    if setup:
        setup(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    r = rlm("query", *args, "-q", "q?", "-m", "root", "--base-url", server.url, cwd=tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 1 and message in err and len(err.strip().splitlines()) == 1, err
    assert server.calls_to("root") == []
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_missing_model_and_unreachable_endpoint(tmp_path):
    (tmp_path / "a.txt").write_text("abc\n")
    r = rlm("query", "a.txt", "-q", "q?", "--base-url", "http://127.0.0.1:9/v1", cwd=tmp_path)
    assert r.returncode == 1 and "no model given" in r.stderr.decode()
    r = rlm("query", "a.txt", "-q", "q?", "-m", "x", "--base-url", "http://127.0.0.1:9/v1", cwd=tmp_path)
    assert r.returncode == 1 and "cannot reach the model endpoint" in r.stderr.decode()


def test_settings_from_environment_and_rlm_toml(server, tmp_path):
    (tmp_path / "a.txt").write_text("abc\n")
    (tmp_path / "home").mkdir()  # the user's own file sets the endpoint; the project's lowers a budget
    (tmp_path / "home" / "rlm.toml").write_text(f'model = "root"\nbase_url = "{server.url}"\n')
    (tmp_path / "rlm.toml").write_text("max_iterations = 5\n")
    r = rlm("query", "a.txt", "-q", "q?", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    start = json.loads(Path(json.loads(r.stdout)["trajectory_path"]).read_text().splitlines()[0])
    assert start["event"] == "run_start" and start["config"]["max_iterations"] == 5
    (tmp_path / "home" / "rlm.toml").unlink()
    (tmp_path / "rlm.toml").write_text('model = "nope"\nunknown_setting = 1\n')
    r = rlm("query", "a.txt", "-q", "q?", cwd=tmp_path, env={"RLM_MODEL": "root", "OPENAI_BASE_URL": server.url})
    assert r.returncode == 1 and "unknown settings ['unknown_setting']" in r.stderr.decode()


def test_help_explains_itself_with_examples(tmp_path):
    top = rlm("--help", cwd=tmp_path).stdout.decode()
    sub = rlm("query", "--help", cwd=tmp_path).stdout.decode()
    assert "rlm query logs/" in top and "Examples" in sub and "--max-cost" in sub and "OPENAI_API_KEY" in sub


def test_files_and_directories_together(server, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "one.txt").write_text("1\n")
    (tmp_path / "d" / "two.txt").write_text("2\n")
    (tmp_path / "top.txt").write_text("3\n")
    r = rlm("query", "d", "top.txt", "-q", "how many docs?", "-m", "root", "--base-url", server.url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "3"


def test_ctrl_c_stops_the_run_and_names_the_trajectory(tmp_path):
    import signal
    import time

    from rlm import read_trajectory

    forever = "```repl\nwhile True:\n    pass\n```"
    (tmp_path / "a.txt").write_text("abc\n")
    with ScriptedServer({"root": script(forever)}) as server:
        env = cli_env(tmp_path / "home")
        proc = subprocess.Popen([sys.executable, "-m", "cli", "query", "a.txt", "-q", "q?", "-m", "root",
                                 "--base-url", server.url], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not server.calls_to("root"):
            time.sleep(0.1)
        time.sleep(1.5)  # the cell is spinning
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        finally:  # a hung process must not outlive the test and trip the next one
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    line = err.decode().strip().splitlines()[-1]
    assert "interrupted; trajectory" in line
    path = Path(line.rsplit(" ", 1)[1])
    final = next(e for e in read_trajectory(path) if e["event"] == "final")
    assert final["status"] == "cancelled"


def test_error_messages_keep_their_brackets_on_one_line(tmp_path):
    (tmp_path / "a.txt").write_text("abc\n")
    r = rlm("query", "a.txt", "-q", "q?", "-m", "my-local-model", "--base-url", "http://127.0.0.1:9/v1",
            "--max-cost", "1", cwd=tmp_path)
    err = r.stderr.decode().strip()
    assert r.returncode == 1 and len(err.splitlines()) == 1
    assert '[prices."my-local-model"] in rlm.toml' in err


def test_runs_list_and_show(server, tmp_path):
    (tmp_path / "a.txt").write_text("hello world\n")
    r = rlm("query", "a.txt", "-q", "how long?", "-m", "root", "--base-url", server.url, "--json",
            "--no-notes", cwd=tmp_path)
    run_id = json.loads(r.stdout)["run_id"]
    listed = json.loads(rlm("runs", "list", "--json", cwd=tmp_path).stdout)
    assert [(x["run_id"], x["status"], x["iterations"], x["query"], x["answer"]) for x in listed] == [
        (run_id, "ok", 2, "how long?", "12")]
    for given in (run_id, run_id[-8:], run_id[:15]):  # the whole id, its end, its start
        shown = rlm("runs", "show", given, cwd=tmp_path)
        out = shown.stdout.decode()
        assert shown.returncode == 0 and "size = str(len(context))" in out and "status ok · 2 turns" in out
    for bad in ("../../etc/passwd", "", "zzzz"):
        missing = rlm("runs", "show", bad, cwd=tmp_path)
        assert missing.returncode == 1 and "no run" in missing.stderr.decode()
    # at 80 columns each run is one line that fits; the question is cut with an ellipsis
    rlm("query", "a.txt", "-q", "how long is this file, counted in characters, and what does it say " * 3, "-m",
        "root", "--base-url", server.url, "--no-notes", cwd=tmp_path)
    table = rlm("runs", "list", cwd=tmp_path, env={"COLUMNS": "80"}).stdout.decode().splitlines()
    assert len(table) == 4 and all(len(line) <= 80 for line in table), table
    assert run_id in table[-1] and "how long?" in table[-1] and table[-2].rstrip().endswith("…")


def test_input_errors_with_json_print_an_error_object_and_speak_the_cli_s_words(tmp_path):
    missing = rlm("query", "nope.txt", "-q", "q?", "-m", "root", "--json", cwd=tmp_path)
    assert missing.returncode == 1
    assert json.loads(missing.stdout) == {"status": "error", "error": "no such file or directory: nope.txt",
                                          "exit_code": 1}
    (tmp_path / "a.txt").write_text("abc\n")
    nomodel = rlm("query", "a.txt", "-q", "q?", cwd=tmp_path)
    err = nomodel.stderr.decode()
    assert nomodel.returncode == 1 and "--model NAME" in err and "model=" not in err, err


def test_reading_stdin_from_a_terminal_is_refused_at_once(tmp_path):
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "cli", "query", "-", "-q", "q?", "-m", "root"], cwd=tmp_path,
                           stdin=follower, capture_output=True, timeout=60, check=False,
                           env=cli_env(tmp_path / "home", COLUMNS="200"))
    finally:
        os.close(leader)
        os.close(follower)
    assert r.returncode == 2 and "standard input" in r.stderr.decode() and "pipe" in r.stderr.decode()
