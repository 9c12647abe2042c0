"""The wall budget (`max_wall_s`, `--max-wall`) bounds everything a run waits on: the endpoint
checks before it, each model call and its retries, the last call and the notes turn after a
stop. Exercised against real servers on 127.0.0.1 that accept and then never answer."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import REPO, cli_env
from stalling_server import StallingServer

from rlm import RLM

HANG_LIMIT_S = 40  # far above the budgets under test, far below the 120 s a request may take


def test_a_hung_chat_ends_the_run_within_seconds_of_its_wall_budget(tmp_path):
    # the call timed out at the wall, then the last call after the stop took up to 120 s more
    with StallingServer() as server:
        rlm = RLM(model="m", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                  max_wall_s=3.0, retry_base_s=0.01, notes=False)
        done: list = []
        thread = threading.Thread(target=lambda: done.append(rlm.completion("hello", "what?")), daemon=True)
        thread.start()
        thread.join(HANG_LIMIT_S)
        assert done, f"the run outlived its 3 s wall budget by more than {HANG_LIMIT_S} s"
    result = done[0]
    assert result.status == "max_wall_time" and result.answer is None
    assert server.chat_requests >= 1


@pytest.mark.parametrize("hang_get", [False, True], ids=["chat-hangs", "everything-hangs"])
def test_rlm_query_max_wall_ends_against_a_server_that_never_answers(tmp_path, hang_get):
    # the preflight (15 s) and the window probe (5 s per request) were outside the budget; with
    # nothing answering, the run must end long before the preflight's own 15 s
    corpus = tmp_path / "a.txt"
    corpus.write_text("hello\n")
    with StallingServer(stall_get=hang_get) as server:
        proc = subprocess.run(
            [sys.executable, str(REPO / "cli.py"), "query", str(corpus), "-q", "what?", "--model", "m",
             "--base-url", server.url, "--max-wall", "3", "--no-notes"],
            capture_output=True, text=True, timeout=12 if hang_get else HANG_LIMIT_S, cwd=tmp_path,
            env=cli_env(tmp_path / "home"))
    assert proc.returncode != 0
    if hang_get:
        assert "cannot reach the model endpoint" in proc.stderr and "timed out" in proc.stderr
    else:
        assert "max_wall_time" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_notes_turn_is_skipped_when_the_wall_budget_is_spent(tmp_path):
    with StallingServer() as server:
        rlm = RLM(model="m", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                  max_wall_s=2.0, retry_base_s=0.01, notes=tmp_path / "notes")
        done: list = []
        thread = threading.Thread(target=lambda: done.append(rlm.completion("hello", "what?")), daemon=True)
        thread.start()
        thread.join(HANG_LIMIT_S)
        assert done, "the notes turn after a wall stop waited on a hung server"
    assert done[0].status == "max_wall_time"
    assert Path(tmp_path / "notes").exists()
