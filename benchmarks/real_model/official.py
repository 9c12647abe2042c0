"""The official RLM library (`rlms` 0.1.3, the paper authors' implementation) as the real-model
bench's anchor, run through the same endpoint as our methods.

Its import name is `rlm`, like this project's, so it lives in a virtual environment of its own
(`ensure_env`, cached under `$XDG_CACHE_HOME/rlm/official-rlms-0.1.3`) and each task runs in a
subprocess there (`official_runner.py`, which merges consecutive same-role messages: llama.cpp
refuses the two assistant messages in a row that the library sends after a reply with no code).
The library gets the context as one string (a folder's files joined with `==> path <==`
headers, as `Task.context_text` gives it) and the question as its root prompt. It finishes when
a cell sets `answer["ready"] = True` (0.1.3 has no FINAL markers); when its turns run out it asks
once more for an answer, and that answer comes back with status "max_iterations", as ours does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evals.methods import Outcome
from evals.tasks import Task

PACKAGE = "rlms==0.1.3"
RUNNER = Path(__file__).with_name("official_runner.py")


def env_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rlm" / "official-rlms-0.1.3"


def ensure_env(target: Path | None = None) -> Path:
    """The python of a virtual environment with the official library (made once, atomically)."""
    target = target or env_dir()
    python = target / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import rlm.core.rlm"], capture_output=True,
                                          check=False).returncode == 0:
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".official-", dir=target.parent))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, capture_output=True)
        done = subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "-q", PACKAGE],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pip install {PACKAGE} failed: {done.stderr.strip()[-500:]}")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python


def run_official(task: Task, base: Path, *, base_url: str, model: str, api_key: str, max_iterations: int,
                 timeout_s: float, log_dir: Path | None = None) -> Outcome:
    """Solve `task` with the official library; failures come back as a status. With `log_dir`,
    the library's own JSON-lines log of the run is kept there."""
    started = time.monotonic()
    try:
        python = ensure_env()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return Outcome(None, "unavailable", error=str(exc))
    with tempfile.TemporaryDirectory(prefix="rlm-official-") as tmp:
        work = Path(tmp)
        (work / "context.txt").write_text(task.context_text(base), encoding="utf-8")
        job = {"context_file": str(work / "context.txt"), "question": task.question, "model": model,
               "base_url": base_url, "api_key": api_key, "max_iterations": max_iterations,
               "out": str(work / "out.json"), "log_dir": None if log_dir is None else str(log_dir)}
        (work / "job.json").write_text(json.dumps(job), encoding="utf-8")
        # the library's local REPL runs model code in its own process: run it from the work dir,
        # with none of this project on its path
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OPENAI_API_KEY")}
        with open(work / "stderr.txt", "wb") as err:
            proc = subprocess.Popen([str(python), str(RUNNER), str(work / "job.json")], cwd=work, env=env,
                                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return Outcome(None, "max_wall_time", wall_s=time.monotonic() - started,
                           error=f"the official library ran past {timeout_s:g} s")
        out_file = work / "out.json"
        if not out_file.exists():
            tail = (work / "stderr.txt").read_text(errors="replace")[-800:]
            return Outcome(None, "error", wall_s=time.monotonic() - started, error=f"the runner wrote nothing: {tail}")
        out = json.loads(out_file.read_text(encoding="utf-8"))
    if out.get("answer") is None or out.get("error"):
        status = "error"
    else:
        status = "max_iterations" if out.get("ran_out") else "ok"
    return Outcome(out.get("answer"), status, int(out.get("input_tokens") or 0), int(out.get("output_tokens") or 0),
                   wall_s=time.monotonic() - started, error=out.get("error"), turns=out.get("iterations"))
