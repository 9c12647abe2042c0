"""What the host builds from kernel or model output stays within its stated bound, end to end:
RLM.completion against the scripted server, real kernels, real files. Each test asserts bytes
written (the trajectory, notes.db, scratch copies) against the bound the README states."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_env
from scripted_server import Call, ScriptedServer, script

from rlm import RLM, read_trajectory
from rlm.subcalls import SCRATCH_PREFIX
from rlm.tools import MAX_PROMPTS_PER_REQUEST
from rlm.trajectory import Trajectory
from sandbox import SandboxConfig
from sandbox.scratch import ScratchDir

MiB = 2**20
POLICIES = ["restricted", "trusted"]


def make_rlm(server: ScriptedServer, tmp_path: Path, policy: str = "restricted", **settings) -> RLM:
    settings.setdefault("notes", False)
    settings.setdefault("sandbox", SandboxConfig(policy=policy))
    return RLM(model="root", sub_model="sub", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
               preflight=False, retry_base_s=0.01, **settings)


def sizes(tmp_path: Path) -> int:
    return sum(p.stat().st_size for p in (tmp_path / "runs").glob("*.jsonl"))


def events(result, kind: str) -> list[dict]:
    return [e for e in read_trajectory(result.trajectory_path) if e["event"] == kind]


def _fails_after(code: str) -> str:
    return "```repl\n" + code + "\n```\n" + "```repl\n1/0\n```\n" * 4


# ----- the trajectory ---------------------------------------------------------------------------
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("code", [
    "FINAL('😀' * 2_000_000)",
    "answer['content'] = '😀' * 2_000_000\nanswer['ready'] = True",
], ids=["FINAL", "answer-dict"])
def test_a_ready_answer_is_recorded_once_however_many_cells_fail_after_it(tmp_path, policy, code):
    """216 bytes of reply once made the answer one record per failing cell (381 MiB)."""
    with ScriptedServer({"root": script(_fails_after(code), "FINAL(x)")}) as server:
        result = make_rlm(server, tmp_path, policy).completion("hello", "q")
    answer_bytes = 4 * 2_000_000
    assert result.answer == "😀" * 2_000_000
    assert sizes(tmp_path) <= answer_bytes + 1 * MiB  # the answer whole once, plus the rest
    assert events(result, "final")[0]["answer"] == result.answer


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("code", [
    "m = 'm' * (4 * 2**20)\nr = llm_query_batched(['hi'] * 50, model=m)",
    "m = 'm' * (4 * 2**20)\nr = [llm_query('hi ' + str(i), model=m) for i in range(20)]",
], ids=["batched", "one-by-one"])
def test_a_huge_model_name_is_recorded_capped(tmp_path, policy, code):
    """A 4 MiB model name on 50 prompts once wrote 400 MiB of trajectory."""
    with ScriptedServer({"*": lambda call: "ok" if not call.is_root else
                         script("```repl\n" + code + "\nprint(r[0][:80])\n```", "FINAL(done)")(call)}) as server:
        result = make_rlm(server, tmp_path, policy).completion("hello", "q")
    assert result.status == "ok"
    assert sizes(tmp_path) <= 1 * MiB
    assert all(len(e.get("model") or "") < 2_200 for e in events(result, "sub_call"))


def test_past_its_budget_a_trajectory_is_short_and_says_so_once(tmp_path):
    """Sub-model replies of 200,000 characters on 40 prompts: 8 MB of records under a 1 MiB budget."""
    with ScriptedServer({"root": script("```repl\nr = llm_query_batched(['q'] * 40)\nprint(len(r))\n```",
                                        "FINAL(done)"),
                         "sub": lambda call: "y" * 200_000}) as server:
        result = make_rlm(server, tmp_path, trajectory_bytes=1 * MiB).completion("hello", "q")
    assert result.status == "ok" and result.answer == "done"
    assert result.trajectory_path.stat().st_size <= 1 * MiB
    kinds = [e["event"] for e in read_trajectory(result.trajectory_path)]
    assert kinds.count("trajectory_budget") == 1
    assert kinds[-2:] == ["final", "totals"] and kinds.count("sub_call") + events(result, "final")[0].get(
        "dropped_events", 0) == 40


@pytest.mark.parametrize("policy", POLICIES)
def test_child_runs_share_the_budget_of_their_root(tmp_path, policy):
    """Four child runs, each with 20 sub-calls of 100,000 characters: 8 MB of records, one
    1 MiB budget for the root's file and its children's together."""
    def sub(call: Call) -> str:
        if call.is_root:  # a child run's own model
            return script("```repl\nr = llm_query_batched(['q'] * 20)\n```", "FINAL(child done)")(call)
        return "y" * 100_000

    with ScriptedServer({"root": script("```repl\nprint(rlm_query_batched(['a', 'b', 'c', 'd']))\n```",
                                        "FINAL(done)"), "sub": sub}) as server:
        result = make_rlm(server, tmp_path, policy, max_depth=2, trajectory_bytes=1 * MiB).completion("hi", "q")
    assert result.status == "ok" and len(result.children) == 4
    assert sizes(tmp_path) <= 1 * MiB
    assert [e["event"] for e in read_trajectory(result.trajectory_path)][-2:] == ["final", "totals"]


def test_a_lone_surrogate_in_a_reply_is_recorded_and_reads_back(tmp_path):
    """A reply's JSON may carry a lone surrogate escape; the trajectory keeps it as that escape
    (it once could not be written at all)."""
    with ScriptedServer({"root": script("```repl\nr = llm_query('q')\n```", "FINAL(done)"),
                         "sub": lambda call: "a\ud800b"}) as server:
        result = make_rlm(server, tmp_path, cache=False).completion("hello", "q")
    assert [e["reply"] for e in events(result, "sub_call")] == ["a\ud800b"]


def test_an_event_kind_nobody_listed_is_bounded_by_the_writer(tmp_path):
    """The caps live in the writer: a new kind of event, with fields nobody gave a cap, is bounded."""
    trajectory = Trajectory(tmp_path / "t.jsonl", "run", budget=1 * MiB)
    trajectory.write({"event": "brand_new", "blob": "x" * 10_000_000,
                      "nested": {"k" * 1_000_000: ["y" * 100_000] * 100}, "deep": [[[[[[[[[[["z"]]]]]]]]]]]})
    for i in range(20_000):  # a flood of small events past the budget
        trajectory.write({"event": "tick", "i": i, "text": "t" * 500})
    trajectory.write({"event": "final", "status": "ok", "answer": "the answer"})
    trajectory.close()
    assert (tmp_path / "t.jsonl").stat().st_size <= 1 * MiB
    evs = list(read_trajectory(tmp_path / "t.jsonl"))
    assert evs[0]["event"] == "brand_new" and set(evs[0]["cut"]) == {"blob", "nested", "deep"}
    assert [e["event"] for e in evs].count("trajectory_budget") == 1
    assert evs[-1]["event"] == "final" and evs[-1]["answer"] == "the answer" and evs[-1]["dropped_events"] > 0


# ----- prompts per batch and per turn ------------------------------------------------------------
@pytest.mark.parametrize("policy", POLICIES)
def test_prompts_per_batch_are_capped_and_the_error_names_the_cap(tmp_path, policy):
    """llm_query_batched(['x'] * 200_000) once took +674 MiB of host memory."""
    code = ("try:\n    llm_query_batched(['x'] * 200_000)\nexcept Exception as e:\n    print('ERR', e)\n"
            "try:\n    rlm_query_batched(['x'] * 5_000)\nexcept Exception as e:\n    print('ERR', e)\n")
    with ScriptedServer({"root": script("```repl\n" + code + "```", "FINAL(done)"),
                         "sub": lambda call: "ok"}) as server:
        result = make_rlm(server, tmp_path, policy).completion("hello", "q")
        sub_calls = len(server.calls_to("sub"))
    out = events(result, "cell")[0]["stdout"]
    assert out.count("ERR") == 2 and f"the limit is {MAX_PROMPTS_PER_REQUEST:,} prompts per batch" in out
    assert sub_calls == 0


@pytest.mark.parametrize("policy", POLICIES)
def test_prompts_per_turn_are_capped_and_the_next_turn_may_ask_again(tmp_path, policy):
    batch = f"llm_query_batched(['x'] * {MAX_PROMPTS_PER_REQUEST})"
    code = (f"n = 0\ntry:\n    for i in range(8):\n        {batch}\n        n += 1\n"
            "except Exception as e:\n    print('ERR', e)\nprint('batches', n)\n")
    with ScriptedServer({"root": script("```repl\n" + code + "```", "```repl\n" + code + "```", "FINAL(done)"),
                         "sub": lambda call: "ok"}) as server:
        # sub-calls off: the prompts are admitted, then answered with an error string, no request
        result = make_rlm(server, tmp_path, policy, sub_calls=False).completion("hello", "q")
    outs = [e["stdout"] for e in events(result, "cell")]
    assert len(outs) == 2
    for out in outs:
        assert "the limit is 10,000 prompts per turn" in out and "batches 5" in out


# ----- notes -------------------------------------------------------------------------------------
def _notes_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("notes.db*"))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("code", [
    "for i in range(5):\n    print(remember(f'fact {i}', 'why ' * (2**20)))",
    "for i in range(5):\n    print(document(f'doc {i}', f'text {i}', 'why ' * (2**20)))",
], ids=["remember", "document"])
def test_a_notes_reason_is_capped(tmp_path, policy, code):
    """Five 50 MiB reasons once made a 250 MiB notes.db (here five 4 MiB ones)."""
    with ScriptedServer({"root": script("```repl\n" + code + "\n```", "FINAL(done)")}) as server:
        result = make_rlm(server, tmp_path, policy, notes=tmp_path / "notes", notes_turn=False).completion("hi", "q")
    assert result.status == "ok"
    assert _notes_size(tmp_path / "notes") <= 1 * MiB
    assert "the reason is 4,194,304 characters and the limit is 1,000" in events(result, "cell")[0]["stdout"]


@pytest.mark.parametrize("policy", POLICIES)
def test_a_run_has_a_notes_write_budget(tmp_path, policy):
    """100 documents of 45,000 characters (each within doc_chars) once stored 4.5 MB a run."""
    code = "for i in range(100):\n    r = document(f'doc {i}', f'{i} ' + 'word ' * 9_000)\nprint(r)"
    with ScriptedServer({"root": script("```repl\n" + code + "\n```", "FINAL(done)")}) as server:
        result = make_rlm(server, tmp_path, policy, notes=tmp_path / "notes", notes_turn=False).completion("hi", "q")
    assert "of its 1,048,576-byte notes budget" in events(result, "cell")[0]["stdout"]
    assert _notes_size(tmp_path / "notes") <= 4 * MiB


# ----- sub-context scratch copies ------------------------------------------------------------------
SPARSE = """
import os
from sandbox.kernel.kernel import SandboxKernel
rt = SandboxKernel.runtime
fds = []
for i in range(2):
    fd = os.open('.', os.O_TMPFILE | os.O_RDWR, 0o600)
    os.write(fd, b'data of file %d\\n' % i)
    os.ftruncate(fd, {size})
    fds.append(fd)
try:
    print(rt.host_call('rlm_query', {{'prompts': ['q', 'q'], 'contexts': [{{'__rlm_fd__': 0}}, {{'__rlm_fd__': 1}}],
                                     'model': None, 'batched': True}}, send_fds=fds)[0])
except Exception as e:
    print('ERR', e)
"""


def _scratch_bytes(root: Path) -> int:
    """Bytes the host's sub-context scratch copies under `root` occupy on disk now."""
    return sum(p.stat().st_blocks * 512 for d in root.glob(SCRATCH_PREFIX + "*") for p in d.rglob("*"))


@pytest.mark.parametrize("size", [2**30 - 1, 2**29], ids=["1GiB", "512MiB"])
def test_sparse_sub_contexts_are_copied_by_what_they_hold(tmp_path, size):
    """[trusted] two 1 GiB sparse files once made the host write 2 GiB to its temp directory."""
    work = tmp_path / "work"
    work.mkdir()
    seen: list[int] = []

    def sub(call: Call) -> str:
        seen.append(_scratch_bytes(work))  # while the copies exist
        return "ok"

    with ScriptedServer({"root": script("```repl\n" + SPARSE.format(size=size) + "```", "FINAL(done)"),
                         "sub": sub}) as server:
        rlm = make_rlm(server, tmp_path, "trusted", sandbox=SandboxConfig(policy="trusted", work_root=work))
        result = rlm.completion("hello", "q")
    assert result.status == "ok"
    assert seen and max(seen) <= 1 * MiB
    assert not list(work.glob(SCRATCH_PREFIX + "*"))


_KILLED_RUN = """
import sys
from rlm import RLM
from sandbox import SandboxConfig
RLM(model="root", sub_model="sub", base_url=sys.argv[1], api_key="k", preflight=False, notes=False,
    sandbox=SandboxConfig(policy="trusted", work_root=sys.argv[2])).completion("hello", "q")
"""


def test_scratch_left_by_a_killed_run_is_removed_at_the_next_start(tmp_path):
    """A SIGKILL while a child's sub-context copy exists left `rlm-subctx-*` forever."""
    work = tmp_path / "work"
    work.mkdir()
    code = "big = 'x' * 5_000_000\nprint(rlm_query('q', context=big))"  # a file: over 4,000,000

    def sub(call: Call) -> str:
        time.sleep(60)  # the controller is killed while this call waits
        return "ok"

    with ScriptedServer({"root": script("```repl\n" + code + "\n```", "FINAL(done)"), "sub": sub}) as server:
        proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, server.url, str(work)],
                                env=cli_env(tmp_path / "home"), start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not server.calls_to("sub") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.calls_to("sub"), "the killed run never reached its sub-call"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for d in work.glob("rlm-sandbox-*"):  # the killed run's work directory stays mounted
                subprocess.run(["umount", "-l", str(d)], capture_output=True)
    left = list(work.glob(SCRATCH_PREFIX + "*"))
    assert left, "the route no longer leaves scratch behind; this test needs another way in"
    with ScratchDir(SCRATCH_PREFIX, work) as live:  # a live run's scratch: never removed
        with ScriptedServer({"root": script("FINAL(done)")}) as server:
            make_rlm(server, tmp_path, sandbox=SandboxConfig(work_root=work)).completion("hello", "q")
        assert list(work.glob(SCRATCH_PREFIX + "*")) == [live.path]
