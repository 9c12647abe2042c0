"""Sessions against separate queries; prints one JSON object. Not a test: nothing is asserted.

    python benchmarks/session_bench.py [--gib 40] [--dir /var/tmp] [--asks 5]

1. Load: a session over a `--gib` GiB text file (written with one needle 90% in, deleted at the
   end; needs that much free disk in `--dir`): the seconds each ask's run spent from starting the
   sandbox to the context loaded (`context_loaded.load_s`), and whether the second ask's first
   prompt names the first answer.
2. Tokens: `--asks` questions about one log (2 MB) asked as separate `completion` calls and as
   asks of one session, against a scripted model that explores when its kernel holds nothing it
   can use (look, parse, compute: three turns) and reuses the parsed `rows` when the variables
   listed each turn show them (compute: two turns). The model is scripted, so the saving shows
   the mechanism (variables kept, earlier answers named), not a real model's behaviour.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from corpus_bench import NEEDLE, make_file  # noqa: E402
from scripted_server import Call, ScriptedServer  # noqa: E402

from rlm import RLM, read_trajectory  # noqa: E402

SERVICES = ["api", "db", "web", "auth", "queue"]
QUESTIONS = [f"How many ERROR lines does the {s} service log?" for s in SERVICES]


def log_text(lines: int = 40_000) -> str:
    return "".join(f"2026-01-01T00:{i % 60:02d} {SERVICES[i % 5]} {'ERROR' if i % 11 == 0 else 'ok'} "
                   f"request {i} took {i % 997} ms\n" for i in range(lines))


def analyst(call: Call) -> str:
    """Three turns from nothing; two when `rows` is listed among the kernel's variables."""
    if not call.is_root:
        return "ok"
    first = call.messages[1]["content"]
    service = next(s for s in SERVICES if f"the {s} service" in first.split("Question: ", 1)[1])
    has_rows = "rows: list" in call.messages[-1]["content"] if call.turn == 0 else "Earlier question" in first
    steps = [] if has_rows else [
        "```repl\nprint(type(context), len(context))\nprint(context[:300])\n```",
        "```repl\nrows = [l.split() for l in context.splitlines()]\nprint(len(rows), rows[0])\n```",
    ]
    steps += [f"```repl\nn_{service} = sum(1 for r in rows if r[1] == '{service}' and r[2] == 'ERROR')\n"
              f"print(n_{service})\n```", f"FINAL_VAR(n_{service})"]
    return steps[min(call.turn, len(steps) - 1)]


def tokens(result) -> int:  # noqa: ANN001
    return result.usage.total.total_tokens


def bench_tokens(tmp: Path, asks: int) -> dict:
    text = log_text()
    with ScriptedServer({"root": analyst}) as server:
        rlm = RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp / "runs", notes=False, cache=False)
        separate = [rlm.completion(text, q) for q in QUESTIONS[:asks]]
        with rlm.session(text) as session:
            asked = [session.ask(q) for q in QUESTIONS[:asks]]
    return {
        "asks": asks,
        "separate": {"tokens": sum(map(tokens, separate)), "turns": sum(r.iterations for r in separate),
                     "answers": [r.answer for r in separate], "wall_s": round(sum(r.wall_s for r in separate), 2)},
        "session": {"tokens": sum(map(tokens, asked)), "turns": sum(r.iterations for r in asked),
                    "answers": [r.answer for r in asked], "wall_s": round(sum(r.wall_s for r in asked), 2)},
    }


def needle_model(call: Call) -> str:
    first = call.messages[1]["content"]
    if "Earlier question" in first:
        return ["```repl\nprint(number)\n```", "FINAL_VAR(number)"][min(call.turn, 1)]
    return ["```repl\nm = re.search(r'special magic number is (\\d+)', context)\nnumber = m.group(1)\n"
            "print(number)\n```", "FINAL_VAR(number)"][min(call.turn, 1)]


def bench_load(tmp: Path, directory: Path, gib: float) -> dict:
    path = directory / "session-bench-corpus.txt"
    began = time.monotonic()
    make_file(path, int(gib * (1 << 30)))
    written_s = time.monotonic() - began
    try:
        with ScriptedServer({"root": needle_model}) as server:
            rlm = RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp / "runs-load", notes=False,
                      cache=False, answer_check=False)
            with rlm.session(path) as session:
                results = [session.ask("What is the special magic number?"),
                           session.ask("Repeat the special magic number.")]
            prompts = [c.messages[1]["content"] for c in server.calls_to("root") if c.turn == 0]
        loads = [next(e for e in read_trajectory(r.trajectory_path) if e["event"] == "context_loaded")
                 for r in results]
        return {"gib": gib, "write_s": round(written_s, 1), "answers": [r.answer for r in results],
                "needle": NEEDLE.strip(), "load_s": [e.get("load_s") for e in loads],
                "reused": [bool(e.get("reused")) for e in loads],
                "wall_s": [round(r.wall_s, 2) for r in results],
                "second_prompt_names_first_answer": f"Its answer: {results[0].answer}" in prompts[-1]}
    finally:
        path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=40.0)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--asks", type=int, default=5, choices=range(1, 6))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = {"tokens": bench_tokens(Path(tmp), args.asks), "load": bench_load(Path(tmp), args.dir, args.gib)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
