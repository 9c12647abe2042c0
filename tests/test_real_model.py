"""A real model in the loop, end to end: `model="local"` starts the embedded model's server
(Qwen2.5-Coder-1.5B-Instruct on llama.cpp, rlm/local_model.py), the model writes code that runs
in the sandbox over a real context, and the server is stopped after the run.

Skips, saying why, when the model is not prepared (`python -m rlm.local_model prepare`; `.ci/run`
prepares it beside the other tests and this test waits for that, bounded). What it asserts is
the loop, not the answer of a 1.5B model: its code ran in the kernel, its calls were counted
with the server's real token counts, the server got none of the host's keys and is gone after.
Whether it answered right is printed (the bench measures answers: benchmarks/real_model/)."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from rlm import RLM, local_model, read_trajectory

pytestmark = pytest.mark.real_model

# .ci/run starts the preparation in the background; waiting for it longer would hide a hang
PREPARE_WAIT_S = float(os.environ.get("RLM_REAL_MODEL_WAIT_S", "1200"))


def _wait_for_preparation() -> str | None:
    """None when the model is ready; else why not (after waiting for a preparation under way)."""
    root = local_model.cache_dir()
    lock = root / ".lock"
    deadline = time.monotonic() + PREPARE_WAIT_S
    if lock.exists():
        with open(lock, "a+") as f:
            while time.monotonic() < deadline:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(f, fcntl.LOCK_UN)
                    break
                except BlockingIOError:
                    time.sleep(2)
            else:
                return f"the local model was still being prepared after {PREPARE_WAIT_S:g} s"
    if not local_model.is_prepared(root):
        failed = root / local_model.FAILED_NOTE
        why = failed.read_text()[:300] if failed.exists() else "run `python -m rlm.local_model prepare`"
        return f"the local model is not prepared in {root}: {why}"
    return None


@pytest.fixture(scope="module")
def prepared() -> None:
    why = _wait_for_preparation()
    if why:
        pytest.skip(why)


def _servers() -> dict[int, str]:
    """The local model's server processes: pid -> their environment."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            if b"llama_cpp.server" in cmd and str(local_model.model_path()).encode() in cmd:
                found[int(entry.name)] = (entry / "environ").read_bytes().decode("utf-8", "replace")
        except (OSError, ValueError):
            continue
    return found


@pytest.mark.timeout(900)
def test_the_local_model_answers_through_the_loop(prepared, tmp_path: Path, planted_api_key: str):
    lines = [f"2026-11-{d % 28 + 1:02d} {'ERROR' if d % 7 == 3 else 'INFO'} worker-{d % 5} job {d} done"
             for d in range(400)]
    context = "\n".join(lines)
    gold = sum(" ERROR " in line for line in lines)
    before = set(_servers())
    seen_env: list[str] = []

    def watch(event: dict, _status: object) -> None:
        if event.get("event") == "cell" and not seen_env:  # the server is up while cells run
            seen_env.extend(env for pid, env in _servers().items() if pid not in before)

    rlm = RLM(model="local", max_iterations=6, notes=False, cache=False, runs_dir=tmp_path / "runs",
              model_kwargs={"temperature": 0, "seed": 1})
    result = rlm.completion(context, "How many lines contain ERROR? Answer with the number only.",
                            on_event=watch)
    events = list(read_trajectory(result.trajectory_path))
    calls = [e for e in events if e["event"] == "model_call" and "reply" in e]
    cells = [e for e in events if e["event"] == "cell"]
    start = next(e for e in events if e["event"] == "run_start")
    print(json.dumps({"answer": result.answer, "gold": gold, "correct": (result.answer or "").strip() == str(gold),
                      "status": result.status, "turns": result.iterations, "wall_s": round(result.wall_s, 1)}))

    assert result.status in ("ok", "max_iterations"), result.error
    assert start["model"] == local_model.MODEL_NAME
    assert calls and all(c["prompt_tokens"] > 0 and not c["usage_estimated"] for c in calls)
    assert cells, "the model's code never ran"
    assert seen_env and planted_api_key not in seen_env[0] and "OPENAI_API_KEY" not in seen_env[0]
    assert not set(_servers()) - before, "the local server outlived its run"
