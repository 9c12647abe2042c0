"""Controller benchmarks; prints one JSON object. Not a test: nothing here is asserted.

    python benchmarks/controller_bench.py [--prompts 1000] [--latency 0.2] [--turns 40]

fan_out: one cell sends `--prompts` prompts with `llm_query_batched` to a scripted endpoint
    (in its own process) that answers each after `--latency` seconds; the cell's duration is
    the figure (floor at concurrency 64: prompts / 64 * latency).
prompt_growth: `--turns` turns that each print 20,000 characters; the prompt the root model
    receives, per turn, in folded and full history modes.
overhead: median controller time per turn besides the model's latency (trivial cells).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from scripted_server import Call, ScriptedServer, script

from rlm import RLM, read_trajectory
from rlm.events import Kind


def serve(latency: float) -> None:
    """Run a scripted endpoint in this process (the fan-out benchmark's other process)."""
    n = int(sys.argv[sys.argv.index("--prompts") + 1]) if "--prompts" in sys.argv else 1000
    root = script(f"```repl\nr = llm_query_batched(['q %d' % i for i in range({n})])\nprint(len(r), r[:2])\n```",
                  "FINAL_VAR(r)")
    with ScriptedServer({"root": root, "sub": lambda c: "answer to " + c.prompt}, latency_s=0) as server:
        sub_server = ScriptedServer({"*": lambda c: "answer to " + c.prompt}, latency_s=latency).start()
        print(server.url, sub_server.url, flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin


def fan_out(prompts: int, latency: float, runs_dir: Path) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(latency), "--prompts", str(prompts)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        root_url, sub_url = proc.stdout.readline().split()
        rlm = RLM(model="root", sub_model="sub", base_url=root_url, sub_base_url=sub_url, api_key="k", notes=False,
                  runs_dir=runs_dir)
        started = time.perf_counter()
        result = rlm.completion("x", "fan out")
        wall = time.perf_counter() - started
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    cell = next(e for e in read_trajectory(result.trajectory_path) if e["event"] == Kind.CELL)
    return {
        "prompts": prompts, "latency_s": latency, "concurrency": 64,
        "floor_s": round(prompts / 64 * latency, 2),
        "cell_s": round(cell["duration_s"], 3), "run_wall_s": round(wall, 3),
        "answers_ok": result.status == "ok" and cell["stdout"].startswith(f"{prompts} "),
    }


def prompt_growth(turns: int, runs_dir: Path, history: str) -> dict:
    replies = [f"```repl\nprint('{chr(97 + i % 26)}' * 20000)\n```" for i in range(turns)]
    with ScriptedServer({"root": script(*replies, "FINAL(done)")}) as server:
        RLM(model="root", base_url=server.url, api_key="k", runs_dir=runs_dir, notes=False, max_iterations=turns + 1,
            history=history).completion("some context", "print a lot")
        sizes = [c.chars for c in server.calls_to("root")]
    return {
        "history": history, "turns": turns,
        "first_prompt_chars": sizes[0],
        "turn_1_prompt_chars": sizes[1],  # the prompt holding the first turn's output
        f"turn_{turns}_prompt_chars": sizes[turns],
        "growth_vs_turn_1": round(sizes[turns] / sizes[1], 2),
        "growth_vs_first_prompt": round(sizes[turns] / sizes[0], 2),
    }


def overhead(turns: int, runs_dir: Path) -> dict:
    def root(call: Call) -> str:
        return "```repl\nx = 1\n```" if call.turn < turns else "FINAL(done)"

    with ScriptedServer({"root": root}) as server:
        result = RLM(model="root", base_url=server.url, api_key="k", runs_dir=runs_dir, notes=False,
                     max_iterations=turns + 1).completion("ctx", "overhead")
    calls = [e for e in read_trajectory(result.trajectory_path) if e["event"] == Kind.MODEL_CALL]
    cells = [e for e in read_trajectory(result.trajectory_path) if e["event"] == Kind.CELL]
    per_turn = [(b["t"] - a["t"] - b["latency_s"]) * 1000 for a, b in itertools.pairwise(calls)]
    return {
        "turns": turns,
        "median_ms_per_turn": round(statistics.median(per_turn), 2),
        "p90_ms_per_turn": round(sorted(per_turn)[int(len(per_turn) * 0.9)], 2),
        "median_cell_ms": round(statistics.median(c["duration_s"] for c in cells) * 1000, 2),
        "note": "per turn = time between model calls minus the model's latency (includes the cell)",
    }


def main() -> None:
    if "--serve" in sys.argv:
        serve(float(sys.argv[sys.argv.index("--serve") + 1]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--turns", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        out = {
            "fan_out": fan_out(args.prompts, args.latency, runs),
            "prompt_growth": [prompt_growth(args.turns, runs, "folded"), prompt_growth(args.turns, runs, "full")],
            "overhead": overhead(50, runs),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
