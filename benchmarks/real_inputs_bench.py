"""Large inputs of the ordinary world through `rlm query`, and the wall budget against a server
that never answers; prints one JSON object. Not a test: nothing here is asserted
(tests/test_real_inputs.py and tests/test_wall_budget.py assert the behaviour on small inputs).

    python benchmarks/real_inputs_bench.py [--cases emoji,cjk,wall] [--scale 1.0] [--dir /var/tmp]

    emoji   1 GB of ASCII lines and one line with an emoji and the needle (as a str it would take
            4 GB in the kernel: it is read as a Corpus)
    cjk     2 GB of CJK text (3 bytes a character) with the needle
    wall    --max-wall 5 against a server that accepts the request and never answers

Each query runs the real CLI in its own process against a scripted endpoint (another thread
of this process) that finds the needle with a regex and answers with it. Per case: the status,
whether the answer is the needle, the kernel's type for the context, the wall seconds and the
CLI process's peak memory (its max RSS; the kernel is another process). --scale shrinks or grows the files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from scripted_server import Call, ScriptedServer
from stalling_server import StallingServer

NEEDLE = "ZEPHYR-4471"
FIND = ("```repl\nimport re\nm = re.search(r'needle is (\\S+)', context)\n"
        "found = m.group(1) if m else 'none'\nprint(type(context).__name__, found)\n```")


FILES = (  # case, its key in the output, bytes at scale 1, the filler line, the line with the needle
    ("emoji", "emoji_1gb", 1e9, "2026-12-05 INFO request served in 12 ms\n",
     f"2026-12-05 WARN \N{GRINNING FACE} the needle is {NEEDLE}\n"),
    ("cjk", "cjk_2gb", 2e9, "東京の天気は晴れです。明日も良い天気でしょう。\n",
     f"大事なこと: the needle is {NEEDLE}\n"),
)


def root(call: Call) -> str:
    return FIND if call.turn == 0 else "FINAL_VAR(found)"


def write_file(path: Path, size: int, line: str, needle_line: str) -> None:
    data = (line * max(1, (4 << 20) // len(line.encode()))).encode()
    with open(path, "wb") as f:
        while f.tell() + len(data) < size // 2:
            f.write(data)
        f.write(needle_line.encode())
        while f.tell() + len(data) < size:
            f.write(data)


def run_cli(path: Path, base_url: str, home: Path, *extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLM_")}
    env.update(OPENAI_API_KEY="k", RLM_HOME=str(home), PYTHONPATH=str(REPO))
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "query", str(path), "-q",
                                 "What is the needle?", "-m", "root", "--base-url", base_url, "--no-notes",
                                 "--no-cache", "--json", *extra], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak, not the largest child's
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    row: dict = {"wall_s": round(time.monotonic() - started, 2), "exit": proc.returncode,
                 "cli_peak_rss_mib": round(usage.ru_maxrss / 1024)}
    try:
        result = json.loads(stdout)
    except ValueError:
        row["error"] = stderr.strip().splitlines()[-1:] or stdout[-300:]
        return row
    row.update(status=result.get("status"), answer_is_needle=result.get("answer") == NEEDLE)
    trajectory = result.get("trajectory_path")
    if trajectory and Path(trajectory).exists():
        loaded = [e for e in map(json.loads, Path(trajectory).read_text().splitlines())
                  if e.get("event") == "context_loaded"]
        row["context_type"] = loaded[0].get("type") if loaded else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="emoji,cjk,wall")
    parser.add_argument("--scale", type=float, default=1.0, help="file sizes times this (1.0: 1 GB and 2 GB)")
    parser.add_argument("--dir", default=None, help="where the files are written (default: the temp dir)")
    args = parser.parse_args()
    cases = args.cases.split(",")
    out: dict = {"scale": args.scale}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp)
        with ScriptedServer({"root": root}) as server:
            for case, key, size, line, needle_line in FILES:
                if case in cases:
                    f = base / f"{case}.txt"
                    write_file(f, int(size * args.scale), line, needle_line)
                    out[key] = {"bytes": f.stat().st_size, **run_cli(f, server.url, base / "home")}
                    f.unlink()
        if "wall" in cases:
            f = base / "small.txt"
            f.write_text("hello\n")
            hung = StallingServer()
            try:
                out["max_wall_5_hung_server"] = run_cli(f, hung.url, base / "home", "--max-wall", "5")
            finally:
                hung.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
