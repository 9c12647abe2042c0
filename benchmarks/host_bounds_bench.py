"""What the host builds from model output under the amplification routes; prints one JSON object.
Not a test: nothing here is asserted (tests/test_host_bounds.py asserts the byte bounds).

    python benchmarks/host_bounds_bench.py [--routes final,model_name,...] [--dir /var/tmp]

Each route is one RLM.completion in a fresh process (its peak RSS is that run's), against a
scripted endpoint in another process, with a real kernel. Per route: the host's peak memory
growth during the run (VmHWM minus the RSS before it), the bytes written (trajectory files,
notes.db with its WAL, the peak of the sub-context scratch copies) and the bound each should
stay within.

    final         FINAL('😀' * 10**7) then four failing blocks (the answer is 40 MB)
    model_name    a 4 MiB model= name on 50 llm_query_batched prompts
    batch_200k    llm_query_batched(['x'] * 200_000) (refused: over the per-batch cap)
    batch_max     five batches of 2,000 prompts in one turn (the per-turn cap), the sub-model
                  answering after 50 ms: host memory per queued prompt is the peak growth / 2,000
    notes_reason  five remember() calls with 50 MiB reasons
    notes_docs    100 documents of 45,000 characters (each within doc_chars)
    sparse        [trusted] two 1 GiB sparse files sent as rlm_query sub-contexts
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from scripted_server import Call, ScriptedServer, script

from rlm import RLM
from rlm.notes.session import NotesSettings
from rlm.subcalls import MAX_PROMPTS_PER_TURN
from rlm.tools import MAX_PROMPTS_PER_REQUEST
from rlm.trajectory import DEFAULT_BUDGET_BYTES
from sandbox import SandboxConfig

MiB = 2**20
FAILS = "```repl\n1/0\n```\n" * 4
SPARSE = """
import os
from sandbox.kernel.kernel import SandboxKernel
fds = []
for i in range(2):
    fd = os.open('.', os.O_TMPFILE | os.O_RDWR, 0o600)
    os.write(fd, b'data of file %d\\n' % i)
    os.ftruncate(fd, 2**30 - 1)
    fds.append(fd)
print(SandboxKernel.runtime.host_call('rlm_query', {'prompts': ['q', 'q'], 'model': None, 'batched': True,
      'contexts': [{'__rlm_fd__': 0}, {'__rlm_fd__': 1}]}, send_fds=fds)[0])
"""
BATCH = f"llm_query_batched(['x %d' % i for i in range({MAX_PROMPTS_PER_REQUEST})])"
CODE = {
    "final": "```repl\nFINAL('😀' * 10**7)\n```\n" + FAILS,
    "model_name": ("```repl\nm = 'm' * (4 * 2**20)\n"
                   "r = llm_query_batched(['hi %d' % i for i in range(50)], model=m)\n```"),
    "batch_200k": "```repl\nr = llm_query_batched(['x'] * 200_000)\n```",
    "batch_max": "```repl\nfor k in range(5):\n    r = " + BATCH + "\nprint(len(r))\n```",
    "notes_reason": "```repl\nfor i in range(5):\n    print(remember('fact %d' % i, 'w' * (50 * 2**20)))\n```",
    "notes_docs": ("```repl\nfor i in range(100):\n"
                   "    r = document('doc %d' % i, '%d ' % i + 'word ' * 9_000)\nprint(r)\n```"),
    "sparse": "```repl\n" + SPARSE + "```",
}
TRUSTED = {"sparse"}
NOTES = {"notes_reason", "notes_docs"}


def _scratch_bytes(root: Path) -> int:
    return sum(p.stat().st_blocks * 512 for d in root.glob("rlm-subctx-*") for p in d.rglob("*") if p.is_file())


def serve(route: str, work: Path) -> None:
    """The scripted endpoint (this benchmark's other process): prints its URL, serves until stdin closes."""
    peak = work / "scratch_peak"

    def sub(call: Call) -> str:
        if route == "sparse":
            peak.write_text(str(max(_scratch_bytes(work), int(peak.read_text() or 0) if peak.exists() else 0)))
        if route == "batch_max":
            time.sleep(0.05)
        return "ok"

    def root(call: Call) -> str:
        return script(CODE[route], "FINAL(done)")(call) if call.is_root else sub(call)

    with ScriptedServer({"root": root, "sub": sub, "*": sub}) as server:
        print(server.url, flush=True)
        sys.stdin.read()


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def one(route: str, work: Path) -> dict:
    """One route in this process; returns its figures."""
    proc = subprocess.Popen([sys.executable, __file__, "--serve", route, "--dir", str(work)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        policy = "trusted" if route in TRUSTED else "restricted"
        rlm = RLM(model="root", sub_model="sub", base_url=url, api_key="k", runs_dir=work / "runs",
                  preflight=False, cache=False, notes=(work / "notes") if route in NOTES else False,
                  notes_turn=False, sandbox=SandboxConfig(policy=policy, work_root=work))
        before = _status("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak resident set size
        started = time.perf_counter()
        result = rlm.completion("hello", "q")
        wall = time.perf_counter() - started
        peak = _status("VmHWM") - before
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    traj = sum(p.stat().st_size for p in (work / "runs").glob("*.jsonl"))
    notes = sum(p.stat().st_size for p in (work / "notes").glob("notes.db*")) if route in NOTES else 0
    scratch = int((work / "scratch_peak").read_text()) if (work / "scratch_peak").exists() else 0
    out = {"route": route, "policy": policy, "status": result.status, "wall_s": round(wall, 2),
           "host_peak_rss_growth_mib": round(peak / MiB, 1), "trajectory_mib": round(traj / MiB, 3),
           "trajectory_bound_mib": DEFAULT_BUDGET_BYTES / MiB}
    if route in NOTES:
        out.update(notes_db_mib=round(notes / MiB, 3),
                   notes_write_budget_mib=NotesSettings(work).max_write_bytes / MiB)
    if route == "sparse":
        out.update(scratch_peak_bytes=scratch, scratch_bound_bytes=SandboxConfig().disk_quota_bytes,
                   apparent_bytes_sent=2 * (2**30 - 1))
    if route == "batch_max":
        out.update(prompts=MAX_PROMPTS_PER_TURN, in_flight_max=MAX_PROMPTS_PER_REQUEST,
                   host_bytes_per_queued_prompt=round(peak / MAX_PROMPTS_PER_REQUEST))
    if route == "batch_200k":
        out["sub_calls"] = result.sub_calls
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", default=",".join(CODE), help="comma-separated routes (default: all)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where runs, notes and scratch go")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, Path(args.dir))
        return
    if args.one:
        print(json.dumps(one(args.one, Path(args.dir))))
        return
    results = []
    for route in args.routes.split(","):
        work = Path(tempfile.mkdtemp(prefix=f"host-bounds-{route}-", dir=args.dir))
        try:
            done = subprocess.run([sys.executable, __file__, "--one", route, "--dir", str(work)],
                                  capture_output=True, text=True, timeout=600)
            if done.returncode:
                results.append({"route": route, "error": done.stderr[-2000:]})
            else:
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "routes": results}, indent=1))


if __name__ == "__main__":
    main()
