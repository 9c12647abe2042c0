"""The local model's server ends with the process that started it, however that ends: a run
killed outright (SIGKILL) or stopped by SIGTERM (which skips `finally`) left a 4 GB llama.cpp
server behind. The server runs `rlm.local_model.LIFELINE` first; here it runs a small HTTP
server in its place (the same lifeline, no model needed), started the way LocalServer starts it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

STARTER = textwrap.dedent("""
    import subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    from rlm.local_model import LIFELINE
    server = subprocess.Popen([sys.executable, "-c", LIFELINE, "http.server", "0", "--bind", "127.0.0.1"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    print(server.pid, flush=True)
    time.sleep(600)
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_server_ends_when_the_process_that_started_it_is_killed(tmp_path, how):
    starter = tmp_path / "starter.py"
    starter.write_text(STARTER)
    repo = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, str(starter), repo], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        time.sleep(1.0)
        assert _alive(pid)
        proc.send_signal(how)
        proc.wait(10)
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the server outlived the process that started it"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
