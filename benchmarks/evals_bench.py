"""Eval benchmarks; prints one JSON object. Not a test: nothing here is asserted.

    python benchmarks/evals_bench.py [--length 16m] [--tasks 20]

generation: seconds to generate one sniah task of `--length` tokens (noise and essay
    haystacks, and the needle haystack), context written to a file.
runner: wall seconds per (task, method) pair for `--tasks` small sniah tasks against a
    scripted endpoint with no latency: `direct` (one model call: the runner's own overhead)
    and `rlm` (a sandbox started per task), one worker and two.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from eval_strategies import reader, root
from scripted_server import ScriptedServer

from evals import MethodSettings, generate, parse_length, run_eval
from evals.textsource import essay_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", default="16m")
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    tokens = parse_length(args.length)
    out: dict = {"generation": {}, "runner": {}}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        essay_text()
        out["generation"]["essay_corpus_parse_s"] = round(time.perf_counter() - t0, 2)
        for variant in ("single_1", "single_2", "multikey_2"):
            t0 = time.perf_counter()
            generate("sniah", tokens, 1, 0, Path(tmp) / variant, variant=variant)
            out["generation"][f"sniah_{variant}_{args.length}_s"] = round(time.perf_counter() - t0, 2)
        tasks = Path(tmp) / "small"
        generate("sniah", 2000, args.tasks, 0, tasks, variant="single_1")
        with ScriptedServer({"root": root, "reader": reader}) as server:
            for method, model in (("direct", "reader"), ("rlm", "root")):
                for workers in (1, 2):
                    s = MethodSettings.of(model=model, sub_model="reader", base_url=server.url, api_key="k",
                                          runs_dir=Path(tmp) / "runs")
                    results = Path(tmp) / f"results-{method}-{workers}.jsonl"
                    t0 = time.perf_counter()
                    rows = run_eval(tasks, [method], s, results, workers=workers)
                    wall = time.perf_counter() - t0
                    out["runner"][f"{method}_workers{workers}_s_per_task"] = round(wall / len(rows), 3)
                    out["runner"][f"{method}_workers{workers}_mean_score"] = sum(r["score"] for r in rows) / len(rows)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
