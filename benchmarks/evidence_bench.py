"""Checked evidence on a giant file and on a PDF folder; prints one JSON object. Not a test:
nothing is asserted (the figures and what came back are printed for the README).

    python benchmarks/evidence_bench.py [--gib 40] [--dir /var/tmp] [--pdfs 20]

1. Giant: `rlm query --json` over a `--gib` GiB text file (written with one needle 90% in,
   deleted at the end; needs that much free disk in `--dir`), against a scripted model that
   finds the needle with a regex, cites the match and answers: the evidence that comes back
   (file, byte range), whether those bytes of the file are the quote (read here, apart from
   rlm), the whole run's wall time and the time the host took to check the citation.
2. PDFs: the same over a folder of `--pdfs` PDF files of 3 pages each, the needle on one page
   of one of them: the page the citation names.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from corpus_bench import NEEDLE, make_file  # noqa: E402
from document_files import pdf  # noqa: E402
from scripted_server import ScriptedServer, script  # noqa: E402

from rlm import read_trajectory  # noqa: E402

FINDER = ("```repl\nm = re.search(r'The special magic number is (\\d+)', context)\nc = cite(m)\n"
          "print(m.group(1), repr(c))\n```")


def query(server: ScriptedServer, path: Path, home: Path) -> tuple[dict, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLM_")}
    env.update({"OPENAI_API_KEY": "k", "RLM_HOME": str(home), "PYTHONPATH": str(REPO)})
    began = time.perf_counter()
    done = subprocess.run([sys.executable, str(REPO / "cli.py"), "query", str(path), "-q",
                           "What is the special magic number?", "-m", "root", "--base-url", server.url,
                           "--no-notes", "--no-cache", "--json"], capture_output=True, text=True, env=env,
                          timeout=3600)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"rlm query failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout), wall


def check_seconds(result: dict) -> float | None:
    """The seconds between the cell's start and the citation event: search plus check."""
    events = list(read_trajectory(Path(result["trajectory_path"])))
    cite = next((e for e in events if e["event"] == "citation"), None)
    cell = next((e for e in events if e["event"] == "cell"), None)
    return None if cite is None or cell is None else cell.get("duration_s")


def giant(gib: float, where: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        path = Path(tmp) / "giant.txt"
        began = time.perf_counter()
        make_file(path, int(gib * (1 << 30)))
        write_s = time.perf_counter() - began
        with ScriptedServer({"root": script(FINDER, "FINAL(8675309)")}) as server:
            result, wall = query(server, path, Path(tmp) / "home")
        [e] = result["evidence"] or [None]
        with open(path, "rb") as f:
            f.seek(e["start"])
            on_disk = f.read(e["end"] - e["start"]).decode("utf-8")
        return {"gib": gib, "file_bytes": path.stat().st_size, "write_s": round(write_s, 1),
                "answer": result["answer"], "evidence": result["evidence"],
                "bytes_on_disk_are_the_quote": on_disk == e["quote"], "query_wall_s": round(wall, 2),
                "cell_s": check_seconds(result)}


def pdf_folder(count: int, where: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        folder = Path(tmp) / "pdfs"
        folder.mkdir()
        for i in range(count):
            pages = [f"Report {i}, page {p}. Nothing to see here." for p in range(1, 4)]
            if i == count // 2:
                pages[1] = "Report findings: " + NEEDLE.strip()
            pdf(folder / f"report-{i:03d}.pdf", pages)
        with ScriptedServer({"root": script(FINDER, "FINAL(8675309)")}) as server:
            result, wall = query(server, folder, Path(tmp) / "home")
        return {"pdfs": count, "answer": result["answer"], "evidence": result["evidence"],
                "query_wall_s": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=40.0)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--pdfs", type=int, default=20)
    args = parser.parse_args()
    out = {"pdf_folder": pdf_folder(args.pdfs, args.dir), "giant": giant(args.gib, args.dir)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
