"""Standard input, as `rlm query -` reads it: like a file (invalid UTF-8 as U+FFFD, the same
note), never named to the model by its spool file, kept next to the run so that the run
resumes, and removed on any exit while it is read. Real `rlm` processes fed by real pipes, a
real scripted server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_env
from scripted_server import ScriptedServer

MIB = 1 << 20
LINE = b"a line of piped text, nothing more\n"


def _leftovers(*dirs: Path) -> list[Path]:
    return [p for d in dirs if d.exists() for p in d.iterdir() if "stdin" in p.name]


def _start_spooling(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """An `rlm query -` whose standard input is a pipe this test keeps open, once 3 MiB of it
    are in its spool file."""
    env = cli_env(tmp_path / "home", TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "cli", "query", "-", "-q", "q", "-m", "root",
                             "--base-url", "http://127.0.0.1:9/v1", "--no-notes"],
                            cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_default_hangup)
    proc.stdin.write(LINE * (3 * MIB // len(LINE) + 1))
    proc.stdin.flush()
    runs = tmp_path / "home" / "runs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = list(runs.glob(".stdin-*.part")) if runs.exists() else []
        if parts and parts[0].stat().st_size >= 3 * MIB:
            return proc, runs
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no spool file grew to 3 MiB: {proc.communicate()[1].decode()[-2000:]}")


def _default_hangup() -> None:
    # a suite started under nohup hands its children SIGHUP ignored, and the CLI keeps an ignored
    # SIGHUP ignored (as nohup asks): the child must start as a terminal's would
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGHUP, -signal.SIGHUP),
                                       (signal.SIGINT, 130)])
def test_a_signal_while_spooling_leaves_no_file(tmp_path, sig, code):
    proc, runs = _start_spooling(tmp_path)
    try:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err.decode()[-2000:]
    assert "Traceback" not in err.decode()
    assert _leftovers(runs, tmp_path / "tmp") == []


def test_the_part_a_killed_reader_left_is_removed_by_the_next(tmp_path):
    proc, runs = _start_spooling(tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    assert len(list(runs.glob(".stdin-*.part"))) == 1  # SIGKILL cannot be handled
    with ScriptedServer({"root": lambda call: "FINAL(7)"}) as server:
        r = subprocess.run([sys.executable, "-m", "cli", "query", "-", "-q", "q", "-m", "root",
                            "--base-url", server.url, "--no-notes"], cwd=tmp_path, input=b"small\n",
                           env=cli_env(tmp_path / "home"), capture_output=True, timeout=120, check=False)
    assert r.returncode == 0 and r.stdout.decode().strip() == "7", r.stderr.decode()
    assert _leftovers(runs) == []  # the part, and the answered run's own spool


def test_invalid_utf8_on_stdin_is_read_as_from_a_file(tmp_path):
    data = "naïve ".encode() + b"\xff\xfe broken\n"
    (tmp_path / "same.txt").write_bytes(data)

    def root(call):
        if call.turn == 0:
            return "```repl\nprint(context.count('\\ufffd'), context.strip())\n```"
        return "FINAL(done)"

    with ScriptedServer({"root": root}) as server:
        env = cli_env(tmp_path / "home")
        base = ["-q", "q", "-m", "root", "--base-url", server.url, "--no-notes"]
        piped = subprocess.run([sys.executable, "-m", "cli", "query", "-", *base], cwd=tmp_path, input=data,
                               env=env, capture_output=True, timeout=120, check=False)
        from_file = subprocess.run([sys.executable, "-m", "cli", "query", "same.txt", *base], cwd=tmp_path,
                                   env=env, capture_output=True, timeout=120, check=False)
        calls = server.calls_to("root")
    assert piped.returncode == 0 and from_file.returncode == 0, piped.stderr.decode()
    firsts = [c.prompt for c in calls if c.turn == 0]
    seen = [c.prompt for c in calls if c.turn == 1]
    assert len(firsts) == 2 and len(seen) == 2
    note = "invalid UTF-8 bytes read as U+FFFD"
    assert note in firsts[0] and note in firsts[1]
    assert "str from standard input (" in firsts[0]
    assert all("2 naïve \ufffd\ufffd broken" in p for p in seen)


def counting_root(call):
    """Turn t adds t to a kernel variable (and counts the input's lines at turn 0); after 12
    turns the answer is both: right only if every turn's code ran over the same input."""
    if "Stop:" in call.prompt:
        return "FINAL_VAR(total)"
    if call.turn == 0:
        return "```repl\ntotal = 0\nlines = len(context.splitlines())\nprint(lines)\n```"
    if call.turn <= 12:
        return f"```repl\ntotal += {call.turn}\nprint(total)\n```"
    return "```repl\nanswer['content'] = f'{lines} {total}'\nanswer['ready'] = True\n```"


def test_a_spooled_stdin_run_resumes_and_its_spool_goes_once_it_answers(tmp_path):
    data = LINE * (2 * MIB // len(LINE))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = tmp_path / "home" / "runs"
    with ScriptedServer({"root": counting_root}) as server:
        env = cli_env(tmp_path / "home")
        base = ["-m", "root", "--base-url", server.url, "--no-notes", "--json"]
        stopped = subprocess.run([sys.executable, "-m", "cli", "query", "-", "-q", "count", "--max-iterations", "5",
                                  *base], cwd=tmp_path, input=data, env=env, capture_output=True, timeout=120,
                                 check=False)
        assert stopped.returncode == 3, stopped.stderr.decode()
        run_id = json.loads(stopped.stdout)["run_id"]
        (spool,) = _leftovers(runs)  # kept: the run can be resumed, and the user is told where
        assert f"the piped input is kept for `rlm runs resume`: {spool}" in stopped.stderr.decode()
        r = subprocess.run([sys.executable, "-m", "cli", "runs", "resume", run_id, "--max-iterations", "60", "--json",
                            "--base-url", server.url], cwd=elsewhere, env=env, capture_output=True, timeout=120,
                           check=False)
        prompts = [c.prompt + c.system for c in server.calls_to("root")]
    assert r.returncode == 0, r.stderr.decode()
    result = json.loads(r.stdout)
    assert result["answer"] == f"{len(data.splitlines())} {sum(range(1, 13))}"
    assert result["resumed_from"] == run_id and result["replayed_turns"] == 5
    assert _leftovers(runs) == []  # answered: nothing will resume it
    assert all(spool.name not in p and str(runs) not in p for p in prompts)
    assert any("from standard input (2.0 MiB)" in p for p in prompts)


def test_a_stdin_run_ended_by_sigterm_keeps_its_input_and_resumes(tmp_path):
    data = LINE * 1000
    runs = tmp_path / "home" / "runs"
    with ScriptedServer({"root": counting_root}, latency_s=0.05) as server:
        env = cli_env(tmp_path / "home")
        (tmp_path / "piped.txt").write_bytes(data)
        with open(tmp_path / "piped.txt", "rb") as stdin:  # rlm query - < piped.txt
            proc = subprocess.Popen([sys.executable, "-m", "cli", "query", "-", "-q", "count", "-m", "root",
                                     "--base-url", server.url, "--no-notes"], cwd=tmp_path, env=env,
                                    stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while len(server.calls_to("root")) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.terminate()
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGTERM
        assert len(_leftovers(runs)) == 1  # the run can be resumed: its input stays
        (run_id,) = [p.stem for p in runs.glob("*.jsonl")]
        r = subprocess.run([sys.executable, "-m", "cli", "runs", "resume", run_id, "--json", "--base-url", server.url],
                           cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["answer"] == f"1000 {sum(range(1, 13))}"
    assert _leftovers(runs) == []


def test_a_fifo_is_called_by_its_path_and_leaves_nothing_behind(tmp_path):
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = LINE * (2 * MIB // len(LINE))

    def writer() -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    threading.Thread(target=writer, daemon=True).start()
    runs = tmp_path / "home" / "runs"
    with ScriptedServer({"root": counting_root}) as server:
        r = subprocess.run([sys.executable, "-m", "cli", "query", "pipe", "-q", "count", "-m", "root",
                            "--base-url", server.url, "--no-notes", "--json"], cwd=tmp_path,
                           env=cli_env(tmp_path / "home", TMPDIR=str(tmp_path)), capture_output=True, timeout=120,
                           check=False)
        first = next(c.prompt for c in server.calls_to("root") if c.turn == 0)
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["answer"] == f"{len(data.splitlines())} {sum(range(1, 13))}"
    assert "str from pipe (2.0 MiB)" in first and "stdin-" not in first
    assert _leftovers(runs, tmp_path) == []


def test_piped_input_with_no_place_to_keep_it_says_so_in_one_line(tmp_path):
    (tmp_path / "afile").write_text("a file where a directory is asked for\n")
    r = subprocess.run([sys.executable, "-m", "cli", "query", "-", "-q", "q", "-m", "root", "--base-url",
                        "http://127.0.0.1:9/v1", "--runs-dir", "afile/sub"], cwd=tmp_path, input=b"text\n",
                       env=cli_env(tmp_path / "home"), capture_output=True, timeout=120, check=False)
    lines = r.stderr.decode().strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, lines
    assert "cannot write the piped input in afile/sub: afile is a file, not a directory (give --runs-dir DIR)" in lines[0]


def test_never_ending_input_stops_before_it_fills_the_disk(tmp_path, monkeypatch):
    # `yes | rlm query -` grew its spool until the disk was full
    import itertools

    from rlm import stdin_spool
    from rlm.errors import ContextError

    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    monkeypatch.setattr(stdin_spool, "FREE_FLOOR_BYTES", free - (16 << 20))  # 16 MiB of room here

    class Endless:
        def read(self, n: int) -> bytes:
            return next(chunks)

    chunks = itertools.chain(itertools.repeat(b"y\n" * (1 << 20), 64), itertools.repeat(b""))  # 128 MiB, then ends
    with pytest.raises(ContextError, match="standard input stopped after") as caught:
        stdin_spool.spool_stdin(Endless(), tmp_path)
    assert "--runs-dir" in str(caught.value)
    assert _leftovers(tmp_path) == []
