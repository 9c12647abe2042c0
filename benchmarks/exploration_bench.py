"""Repeated exploration with the call cache and resume; prints one JSON object. Not a test.

    python benchmarks/exploration_bench.py [--chunks 50] [--turns 40]

Against the scripted OpenAI-compatible server (priced as gpt-5-mini for both models):
1. the same question twice over the same corpus: endpoint calls and dollars, first vs second;
2. a different question over the same chunks: the sub-calls whose prompts repeat are hits;
3. a run of `--turns` turns killed with SIGKILL halfway, then `rlm runs resume`: how many
   times the endpoint saw each root turn, and whether the answer equals an uninterrupted run's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from scripted_server import Call, ScriptedServer  # noqa: E402

from rlm import RLM  # noqa: E402

PRICE = {"input": 0.25, "output": 2.0}


def explorer(question_tag: str, chunks: int):  # noqa: ANN201 - a scripted root model
    def root(call: Call) -> str:
        if call.turn == 0:
            return (f"```repl\nsize = len(context) // {chunks}\n"
                    "parts = [context[i * size:(i + 1) * size] for i in range(" + str(chunks) + ")]\n"
                    "notes = llm_query_batched(['Summarise this part: ' + p for p in parts])\n"
                    f"focus = llm_query_batched(['{question_tag}: ' + n for n in notes])\nprint(len(focus))\n```")
        return "FINAL(done)"
    return root


def exploration(chunks: int, home: Path) -> dict:
    corpus = "".join(f"record {i}: " + "lorem ipsum " * 40 + "\n" for i in range(chunks * 20))
    out = {}
    with ScriptedServer({"root-q1": explorer("dates", chunks), "root-q2": explorer("people", chunks),
                         "sub": lambda c: f"summary of ...{c.prompt[-40:]}"}) as server:
        def run(model: str, question: str) -> dict:
            before = len(server.calls)
            result = RLM(model=model, sub_model="sub", base_url=server.url, api_key="k", notes=False,
                         prices={model: PRICE, "sub": PRICE}, runs_dir=home / "runs",
                         cache=home / "cache.db").completion(corpus, question)
            total = result.usage.total
            return {"endpoint_calls": len(server.calls) - before, "calls": total.calls,
                    "cache_hits": total.cache_hits, "cost_usd": round(total.cost_usd, 6),
                    "saved_usd": round(total.saved_usd, 6)}
        out["same_question_first"] = run("root-q1", "Which dates matter?")
        out["same_question_second"] = run("root-q1", "Which dates matter?")
        out["other_question_same_chunks"] = run("root-q2", "Which people matter?")
    return out


def counting_root(turns: int):  # noqa: ANN201
    def root(call: Call) -> str:
        t = call.turn
        if "Stop:" in call.prompt or t > turns:
            return "FINAL_VAR(total)"
        if t == 0:
            return "```repl\ntotal = 0\n```"
        return f"```repl\ntotal += {t} + int(llm_query('one'))\n```"
    return root


def killed_and_resumed(turns: int, home: Path) -> dict:
    work = home / "work"
    work.mkdir()
    (work / "data.txt").write_text("data\n" * 100)
    env = {**os.environ, "RLM_HOME": str(home / "cli-home"), "OPENAI_API_KEY": "k",
           "PYTHONPATH": str(REPO)}
    args = ["-m", "root", "--sub-model", "sub", "--max-iterations", str(turns + 10), "--no-notes"]
    with ScriptedServer({"root": counting_root(turns), "sub": lambda c: "1"}, latency_s=0.01) as server:
        cli = [sys.executable, "-m", "cli"]
        full = subprocess.run([*cli, "query", "data.txt", "-q", "sum", *args, "--base-url", server.url, "--no-cache"],
                              cwd=work, env=env, capture_output=True, text=True, check=False)
        server.calls.clear()
        proc = subprocess.Popen([*cli, "query", "data.txt", "-q", "sum", *args, "--base-url", server.url],
                                cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(server.calls_to("root")) < turns // 2 and proc.poll() is None:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        seen_before_kill = len(server.calls_to("root"))
        run_id = max((home / "cli-home" / "runs").glob("*.jsonl"), key=lambda p: p.stat().st_mtime).stem
        resumed = subprocess.run([*cli, "runs", "resume", run_id, "--max-iterations", str(turns + 10), "--json"],
                                 cwd=work, env=env, capture_output=True, text=True, check=False)
        per_turn = Counter(c.turn for c in server.calls_to("root"))
    result = json.loads(resumed.stdout or "{}")
    return {"turns": turns, "root_calls_before_kill": seen_before_kill,
            "root_calls_in_all": sum(per_turn.values()),
            "turns_asked_twice": sorted(t for t, n in per_turn.items() if n > 1),
            "replayed_turns": result.get("replayed_turns"),
            "answer_equals_uninterrupted": result.get("answer") == full.stdout.strip() != ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--turns", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["RLM_HOME"] = str(home / "api-home")
        print(json.dumps({"exploration": exploration(args.chunks, home),
                          "kill_and_resume": killed_and_resumed(args.turns, home)}, indent=2))


if __name__ == "__main__":
    main()
