"""What the `rlm` command says when the world around a run is wrong: a place to write that is a
file, a damaged cache, a directory given for a file, an endpoint URL without /v1, a taken port,
no editor, a model without a price. Each is one line in the command's own words (never a
traceback, never the Python API's spelling), with the exit code cli.py documents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env
from scripted_server import ScriptedServer


def rlm(*args: str, cwd: Path, env: dict | None = None, stdin: bytes | None = b"",
        timeout: float = 180) -> subprocess.CompletedProcess:
    full_env = cli_env(cwd / "home", key="test-key", COLUMNS="200")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, input=stdin, capture_output=True,
                          check=False, timeout=timeout, env=full_env)


def one_error_line(r: subprocess.CompletedProcess, code: int = 1) -> str:
    """The command failed with `code` and said so in one line starting 'error: '."""
    err = r.stderr.decode()
    assert r.returncode == code, (r.returncode, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: "), err
    return err.strip()


def run_error_line(r: subprocess.CompletedProcess) -> str:
    """A run that failed (exit 1): its summary line, then one error line, the one returned."""
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err, (r.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("error: "), err
    return lines[-1]


@pytest.fixture
def server():
    def root(call) -> str:  # noqa: ANN001 - a scripted_server.Call
        return ["```repl\nsize = str(len(context))\nprint(size)\n```", "FINAL_VAR(size)"][min(call.turn, 1)]

    with ScriptedServer({"root": root}) as s:
        yield s


@pytest.fixture
def files(tmp_path):
    (tmp_path / "a.txt").write_text("hello world\n")
    (tmp_path / "afile").write_text("a file, where a directory is asked for\n")
    return tmp_path


@pytest.mark.parametrize("args, env, said", [
    (["--runs-dir", "afile"], {}, "afile is a file, not a directory (give --runs-dir DIR"),
    (["--runs-dir", "afile/sub"], {}, "afile is a file, not a directory (give --runs-dir DIR"),
    (["--notes", "afile/sub"], {}, "afile is a file, not a directory"),
    ([], {"RLM_HOME": "afile/home"}, "afile is a file, not a directory"),
    (["--no-notes"], {"RLM_HOME": "afile/home"}, "(give --no-cache, or set RLM_HOME)"),
    (["--no-notes", "--no-cache"], {"RLM_HOME": "afile/home"}, "set RLM_HOME"),
])
def test_a_query_whose_places_to_write_cannot_be_made_says_so_in_one_line(server, files, args, env, said):
    env = {k: str(files / v) for k, v in env.items()}
    r = rlm("query", "a.txt", "-q", "how long?", "-m", "root", "--base-url", server.url, *args, cwd=files, env=env)
    assert said in one_error_line(r)
    assert server.calls_to("root") == []


@pytest.mark.parametrize("args, said", [
    (["eval", "generate", "sniah", "-l", "8k", "-n", "1", "-o", "afile"], "cannot write tasks in afile: afile is a file"),
    (["runs", "list", "--runs-dir", "afile"], "afile is a file, not a directory"),
    (["runs", "export", "nothing", "--runs-dir", "afile"], "afile is a file, not a directory"),
    (["notes", "import", "-", "--notes", "afile/sub"], "afile is a file, not a directory"),
    (["notes", "import", "."], "cannot read .: . is a directory, not a file"),
    (["config", "show", "--config", "."], "is a directory with no rlm.toml in it"),
    (["cache", "stats", "--config", "."], "is a directory with no rlm.toml in it"),
])
def test_other_commands_given_a_file_for_a_directory_say_so_in_one_line(files, args, said):
    r = rlm(*args, cwd=files, stdin=b"{}")
    assert said in one_error_line(r)


def test_config_given_a_directory_reads_its_rlm_toml(server, files):
    (files / "project").mkdir()
    (files / "project" / "rlm.toml").write_text(f'model = "root"\nbase_url = "{server.url}"\nmax_iterations = 7\n')
    r = rlm("query", "a.txt", "-q", "how long?", "--config", "project", "--no-notes", "--json", cwd=files)
    assert r.returncode == 0, r.stderr.decode()
    data = json.loads(r.stdout)
    start = json.loads(Path(data["trajectory_path"]).read_text().splitlines()[0])
    assert data["answer"] == "12" and start["config"]["max_iterations"] == 7


def test_a_damaged_call_cache_is_moved_aside_and_the_run_goes_on(server, files):
    home = files / "home"
    home.mkdir()
    damaged = b"this is no SQLite database " * 200
    (home / "cache.db").write_bytes(damaged)
    r = rlm("query", "a.txt", "-q", "how long?", "-m", "root", "--base-url", server.url, "--no-notes", cwd=files)
    err = r.stderr.decode()
    assert r.returncode == 0 and r.stdout.decode() == "12\n", err
    warned = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "call cache" in warned[0] and "moved to" in warned[0], err
    assert "cache=False" not in err
    aside = [p for p in home.iterdir() if p.name.startswith("cache.db.unreadable-")]
    assert [p.read_bytes() for p in aside] == [damaged]  # kept for a look, not deleted
    again = rlm("query", "a.txt", "-q", "how long?", "-m", "root", "--base-url", server.url, "--no-notes", cwd=files)
    assert again.returncode == 0 and "warning" not in again.stderr.decode()
    stats = json.loads(rlm("cache", "stats", "--json", cwd=files).stdout)
    assert stats["entries"] >= 2 and stats["hits"] >= 2  # the new cache answered the second run


def test_a_call_cache_that_cannot_be_opened_names_the_cli_option(server, files):
    (files / "home").mkdir()
    (files / "home" / "cache.db").mkdir()  # a directory where the file should be: not damage, no move
    r = rlm("query", "a.txt", "-q", "how long?", "-m", "root", "--base-url", server.url, "--no-notes", cwd=files)
    line = one_error_line(r)
    assert "cannot open the call cache" in line and "--no-cache" in line and "cache=False" not in line


def test_a_base_url_without_v1_is_told_to_add_it_with_the_url_tried(server, files):
    bare = server.url.removesuffix("/v1")
    r = rlm("query", "a.txt", "-q", "how long?", "-m", "root", "--base-url", bare, "--no-notes", "--no-cache",
            cwd=files)
    line = run_error_line(r)
    assert f"POST {bare}/chat/completions" in line and f"the base URL probably needs /v1: {bare}/v1" in line, line
    # with /v1, a 404 of the server's own (an unknown model) keeps its words and names the URL, no /v1 advice
    r = rlm("query", "a.txt", "-q", "how long?", "-m", "nomodel", "--base-url", server.url, "--no-notes",
            "--no-cache", cwd=files)
    line = run_error_line(r)
    assert "HTTP 404: model nomodel does not exist" in line and f"POST {server.url}/chat/completions" in line
    assert "needs /v1" not in line and "Error code" not in line


def test_mcp_on_a_taken_port_is_an_error_not_a_budget_stop(files):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = rlm("mcp", "--root", ".", "--http", "--port", str(port), "-m", "root", "--base-url",
                "http://127.0.0.1:9/v1", cwd=files, timeout=60)
    line = one_error_line(r, code=1)  # 3 is the budget's code (cli.py's docstring)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line, line


def test_a_second_ctrl_c_while_the_sandbox_closes_says_why_and_leaves_nothing(tmp_path):
    import signal
    import time

    from scripted_server import script

    (tmp_path / "a.txt").write_text("abc\n")
    scratch = tmp_path / "tmp"  # where the sandbox makes its work directory
    scratch.mkdir()
    with ScriptedServer({"root": script("```repl\nwhile True:\n    pass\n```")}) as server:
        env = cli_env(tmp_path / "home", TMPDIR=str(scratch))
        proc = subprocess.Popen([sys.executable, "-m", "cli", "query", "a.txt", "-q", "q?", "-m", "root",
                                 "--base-url", server.url, "--no-notes"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not server.calls_to("root"):
                time.sleep(0.1)
            time.sleep(1.5)  # the cell is spinning
            proc.send_signal(signal.SIGINT)
            time.sleep(0.1)  # the run is stopping: its sandbox is closing
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
            proc.wait()
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 130 and "Traceback" not in err.decode(), err
    assert lines[-1].startswith("error: interrupted"), err
    assert not any(line.rstrip().endswith(("failed:", "failed: ")) for line in lines), err
    assert any("interrupted again while its sandbox was closing" in line for line in lines), err
    assert list(scratch.iterdir()) == []  # the close went on to the end: no work directory left
    assert str(scratch) not in Path("/proc/mounts").read_text()  # nor a mount


@pytest.fixture
def a_note(tmp_path) -> Path:
    from rlm.notes import NotesStore

    with NotesStore(tmp_path / "store") as store:
        store.remember("Dates are day-first.", run_id="r1")
    return tmp_path / "store"


def _on_a_terminal(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, stdin=follower, capture_output=True,
                              timeout=60, check=False, env=env)
    finally:
        os.close(leader)
        os.close(follower)


def test_notes_edit_with_no_terminal_refuses_at_once_instead_of_starting_an_editor(tmp_path, a_note):
    env = {k: v for k, v in cli_env(tmp_path / "home").items() if k not in ("EDITOR", "VISUAL")}
    r = subprocess.run([sys.executable, "-m", "cli", "notes", "edit", "1", "--notes", str(a_note)], cwd=tmp_path,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False, env=env)
    line = one_error_line(r, code=2)
    assert "not a terminal" in line and "--text" in line
    # on a terminal, with no editor set and none on PATH: one line, not a shell's 'not found'
    r = _on_a_terminal(["notes", "edit", "1", "--notes", str(a_note)], tmp_path, {**env, "PATH": str(tmp_path)})
    line = one_error_line(r)
    assert "no editor found" in line and "$EDITOR" in line
    # the editor the user set is the one used
    r = _on_a_terminal(["notes", "edit", "1", "--notes", str(a_note)], tmp_path,
                       {**env, "EDITOR": "sed -i s/day-first/month-first/"})
    assert r.returncode == 0, r.stderr.decode()
    from rlm.notes import NotesStore

    with NotesStore(a_note) as store:
        assert [e.text for e in store.entries("memory")] == ["Dates are month-first."]


def test_an_unpriced_model_costs_unpriced_not_zero_in_every_view(server, files):
    r = rlm("query", "a.txt", "-q", "how long?", "-m", "root", "--base-url", server.url, "--no-notes", "--json",
            cwd=files)
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["answer"] == "12", r.stderr.decode()
    assert data["cost_usd"] is None and data["usage"]["total"]["cost_usd"] is None
    assert data["usage"]["total"]["unpriced_calls"] == data["usage"]["total"]["calls"] == 2
    r = rlm("query", "a.txt", "-q", "how long now?", "-m", "root", "--base-url", server.url, "--no-notes",
            cwd=files)
    summary = r.stderr.decode().strip().splitlines()[-1]
    assert " · unpriced · " in summary and "$" not in summary, summary
    listed = rlm("runs", "list", cwd=files).stdout.decode()
    assert listed.count("unpriced") == 2 and "$0.0000" not in listed, listed
    assert [x["cost_usd"] for x in json.loads(rlm("runs", "list", "--json", cwd=files).stdout)] == [None, None]
    shown = rlm("runs", "show", data["run_id"], cwd=files).stdout.decode()
    assert "tokens · unpriced" in shown and "$0.0000" not in shown
    page = files / "page.html"
    assert rlm("runs", "view", data["run_id"], "-o", str(page), cwd=files).returncode == 0
    html = page.read_text()
    assert '"cost_usd":"unpriced"' in html and '"unpriced":true' in html and '"cost_usd":0.0' not in html
    # -o DIR: the page goes in it under the run's name (it was 'cannot write DIR: Is a directory: DIR.tmp')
    (files / "pages").mkdir()
    assert rlm("runs", "view", data["run_id"], "-o", "pages", cwd=files).returncode == 0
    assert [p.name for p in (files / "pages").iterdir()] == [Path(data["trajectory_path"]).stem + ".html"]


def test_the_live_status_and_a_mixed_run_say_what_is_unpriced(tmp_path):
    from scripted_server import script

    from rlm import RLM
    from rlm.frontends.display import status_line, summary_line

    root = script("```repl\nn = llm_query('count the words')\nprint(n)\n```", "FINAL_VAR(n)")
    with ScriptedServer({"root": root, "sub": lambda call: "7"}) as server:
        lines: list[str] = []
        rlm_ = RLM(model="root", sub_model="sub", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                   notes=False, cache=False, prices={"root": {"input": 1.0, "output": 2.0}})
        result = rlm_.completion("some words here", "how many?",
                                 on_event=lambda event, status: lines.append(status_line(status).plain))
    assert result.answer == "7" and result.cost_usd > 0 and not result.priced
    assert result.as_dict()["cost_usd"] is None
    by_model = result.as_dict()["usage"]["by_model"]
    assert by_model["root"]["cost_usd"] > 0 and by_model["sub"]["cost_usd"] is None
    assert f"${result.cost_usd:.4f} + unpriced" in summary_line(result)
    assert "+ unpriced" in lines[-1] and "$0.0000" not in lines[-1], lines[-1]
    with ScriptedServer({"root": root, "sub": lambda call: "7"}) as server:  # all priced: a number, as before
        priced = RLM(model="root", sub_model="sub", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                     notes=False, cache=False, prices={"root": (1.0, 2.0), "sub": (1.0, 2.0)}).completion(
            "some words here", "how many?")
    assert priced.priced and priced.as_dict()["cost_usd"] == round(priced.cost_usd, 6) > 0
    assert "unpriced" not in summary_line(priced)
