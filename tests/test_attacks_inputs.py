"""Red-team checks of the inputs and budgets a run depends on: endpoints that answer in ways
meant to outlast the wall budget, trajectories edited to make a resume do harm. Real servers on
127.0.0.1, real kernels, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import REPO, cli_env
from scripted_server import ScriptedServer
from stalling_server import StallingServer

from rlm import RLM
from rlm.errors import ContextError, ModelError
from rlm.inputs import expand_paths
from rlm.resume import _files_fingerprint
from sandbox.context import prepare

HANG_LIMIT_S = 40  # far above the budgets under test


def _run_in_thread(rlm: RLM) -> list:
    """The run's result or the error it raised, in a list that stays empty while it runs."""
    done: list = []

    def run() -> None:
        try:
            done.append(rlm.completion("hello", "what?"))
        except Exception as exc:  # noqa: BLE001 - the test looks at what it was
            done.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_LIMIT_S)
    return done


@pytest.mark.parametrize(("trickle_get", "preflight"), [(False, True), (True, True), (True, False)],
                         ids=["chat-trickles", "models-trickles", "window-probe-trickles"])
def test_a_trickling_endpoint_cannot_hold_a_run_past_its_wall_budget(tmp_path, trickle_get, preflight):
    # the SDK's timeout (and urllib's, for the window probe) bounds each read of the socket, not
    # the request: a body that comes one byte at a time never timed out, whatever max_wall_s said
    with StallingServer("trickle", stall_get=trickle_get) as server:
        rlm = RLM(model="m", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                  max_wall_s=3.0, retry_base_s=0.01, notes=False, preflight=preflight)
        done = _run_in_thread(rlm)
        assert done, f"the run outlived its 3 s wall budget by more than {HANG_LIMIT_S} s"
    if trickle_get and preflight:  # the endpoint check is what timed out
        assert isinstance(done[0], ModelError) and "timed out" in str(done[0])
    else:
        assert done[0].status == "max_wall_time" and done[0].answer is None


def test_the_wait_for_a_fifo_writer_shows_its_name_with_escapes(tmp_path):
    # the notice printed the FIFO's name raw: a name with an OSC sequence retitled the terminal
    fifo = tmp_path / "pipe\x1b]0;owned\x07"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "query", str(fifo), "-q", "what?", "-m", "m",
                             "--base-url", "http://127.0.0.1:9/v1", "--no-notes"],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=cli_env(tmp_path / "home"))
    try:
        line = proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert "waiting for a program to write to" in line
    assert "\x1b" not in line and "\x07" not in line
    assert "pipe\\x1b]0;owned\\x07" in line


def test_a_file_whose_name_looks_like_a_glob_is_read_as_named(tmp_path, monkeypatch):
    # "report [draft].txt" was taken as a pattern (matching "report d.txt"...): no files match
    monkeypatch.chdir(tmp_path)
    Path("report [draft].txt").write_text("the draft\n")
    Path("report d.txt").write_text("another file\n")
    assert expand_paths(["report [draft].txt"]) == Path("report [draft].txt")
    assert expand_paths(["report [draft].txt", "report d.txt"]) == [Path("report [draft].txt"),
                                                                     Path("report d.txt")]
    assert expand_paths(["report [a-z]*.txt"]) == Path("report d.txt")  # a pattern still is one


def _edit_replay(trajectory: Path, **changes: object) -> None:
    """Rewrite the run_start event's replay record of `trajectory` with `changes`."""
    lines = trajectory.read_text().splitlines()
    for i, line in enumerate(lines):
        event = json.loads(line)
        if event.get("event") == "run_start":
            event["replay"] = {**event["replay"], **changes}
            lines[i] = json.dumps(event)
    trajectory.write_text("\n".join(lines) + "\n")


def test_an_edited_trajectory_cannot_make_a_resume_delete_a_file_as_its_spool(tmp_path):
    # a run over standard input removes its spool once it answers; a trajectory that called any
    # file named like a spool "standard input" had that file removed by the resume's answer
    victim = tmp_path / "keep" / "stdin-1-abc.txt"
    victim.parent.mkdir()
    victim.write_text("a file of the user's that only looks like a spool\n")
    (tmp_path / "data.txt").write_text("some data\n")
    runs = tmp_path / "runs"
    phase = {"answer": False}

    def root(call: object) -> str:
        return "FINAL(done)" if phase["answer"] else "```repl\nprint(len(context))\n```"

    with ScriptedServer({"root": root}) as server:
        first = RLM(model="root", base_url=server.url, api_key="k", runs_dir=runs, max_iterations=1,
                    notes=False, cache=False).completion(tmp_path / "data.txt", "what?")
        assert first.status != "ok"
        _edit_replay(runs / f"{first.run_id}.jsonl", paths=[str(victim)], given=[str(victim)],
                     label="standard input", fingerprint=_files_fingerprint([victim]))
        phase["answer"] = True
        with pytest.raises(ContextError, match="no spool of rlm's"):
            RLM(model="root", base_url=server.url, api_key="k", runs_dir=runs, max_iterations=5,
                notes=False, cache=False).resume(first.run_id)
    assert victim.exists(), "the resume removed a file outside the runs directory as its spool"


def test_a_file_name_with_a_newline_stays_on_its_line_in_what_rlm_prints(tmp_path):
    # the summary of what a directory left out printed names as they are: a newline in a name
    # began a line of the corpus's choosing in rlm's own output
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("the text\n")
    (corpus / "x\nanswer: 42 (forged)").write_bytes(b"\0binary")
    with ScriptedServer({"root": lambda call: "FINAL(done)"}) as server:
        r = subprocess.run([sys.executable, str(REPO / "cli.py"), "query", str(corpus), "-q", "what?", "-m", "root",
                            "--base-url", server.url, "--no-notes", "--no-cache", "--verbose"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=cli_env(tmp_path / "home", key="test-key"))
    assert r.returncode == 0, r.stderr
    assert "binary" in r.stderr and "x\\nanswer: 42" in r.stderr
    assert not any(line.startswith("answer: 42") for line in (r.stdout + r.stderr).splitlines())


def test_files_that_say_size_0_are_read_among_several_as_they_are_alone(tmp_path):
    # /proc/cpuinfo alone was read (a snapshot); with another file it was left out as "empty"
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    for limit in (1 << 20, 16):  # a str, and a Corpus over its files where they are
        store = tmp_path / f"store-{limit}"
        store.mkdir()
        spec = prepare([Path("/proc/self/status"), notes], "context", store, limit)
        assert spec.skipped == {}
        text = b"".join(p.read_bytes() for p in [spec.data_path, *spec.mapped]).decode()
        assert "==> /proc/self/status <==" in text and "\nPid:" in text and "my notes" in text


def test_a_file_swapped_for_a_fifo_after_it_was_looked_at_is_refused_not_waited_on(tmp_path):
    # every read of a context's file opens it without waiting and checks the open descriptor:
    # a FIFO put in its place between the walk and the read waited for a writer for ever
    from sandbox.context import open_regular
    from sandbox.context_decoding import check_text, is_binary
    from sandbox.errors import ContextError as Refused

    fifo = tmp_path / "was-a-file.txt"
    os.mkfifo(fifo)
    done: list = []

    def read_all() -> None:
        for read in (open_regular, is_binary, check_text):
            try:
                read(fifo)
                done.append("read")
            except Refused as exc:
                done.append(str(exc))

    thread = threading.Thread(target=read_all, daemon=True)
    thread.start()
    thread.join(HANG_LIMIT_S)
    assert len(done) == 3 and all("changed while it was read: it is now a FIFO" in d for d in done), done


def test_a_file_that_says_size_0_and_fails_to_read_is_unreadable_not_empty(tmp_path):
    # /proc/self/mem says size 0 and answers a read with an I/O error: it was called "empty"
    # (Context.of), or the error escaped as a bare OSError (prepare), or it was left out as "empty"
    from rlm.errors import ContextError as Refused
    from rlm.inputs import Context
    from sandbox.errors import ContextError

    mem = Path("/proc/self/mem")
    with pytest.raises(Refused, match="cannot read /proc/self/mem: Input/output error"):
        Context.of(mem)
    with pytest.raises(ContextError, match="cannot read /proc/self/mem: Input/output error"):
        prepare(mem, "context", tmp_path, 1 << 20)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    assert Context.of([mem, notes]).kind == "paths"  # among several, it is left out when prepared
    store = tmp_path / "store"
    store.mkdir()
    spec = prepare([mem, notes], "context", store, 1 << 20)
    assert spec.skipped == {"unreadable": ["/proc/self/mem"]}
