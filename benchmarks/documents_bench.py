"""Documents as text: `rlm query` over a real document tree, first run and cached run, and two
PDF readers compared on real PDFs. Prints JSON.

The tree: a copy of this machine's /usr/share/doc (Debian's documentation: gzip-compressed
changelogs and manuals, HTML, PDFs, plain text), plus a handful of generated documents of the
other formats and one generated PDF with a needle on a known page. The query runs through the
real CLI, a real sandbox and its extraction workers, against a scripted model (the test
double's server) whose code finds the needle and names its page with `place_of`.

    python -m benchmarks.documents_bench                  # the tree, two runs, the PDF readers
    python -m benchmarks.documents_bench --skip-query     # only the PDF readers
    python -m benchmarks.documents_bench --skip-query --bounds   # and hostile sizes: a 10,000-page
                                                                 # PDF, a gzip bomb, a zip of 10,000 members
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import document_files as D  # noqa: E402  (the test suite's writers of real files)
from scripted_server import Call, ScriptedServer  # noqa: E402

NEEDLE_PAGE = 27
NEEDLE = "The vault combination is 4417-TEAL."
FINDER = ("```repl\nimport re\nm = re.search(r'vault combination is (\\S+?)\\.', context)\n"
          "found = f\"{m.group(1)} ({place_of(m.start())})\" if m else 'not found'\nprint(found)\n```")


def root(call: Call) -> str:
    return FINDER if call.turn == 0 else "FINAL_VAR(found)"


def build_tree(base: Path, source: Path) -> Path:
    tree = base / "docs"
    if source.is_dir():
        shutil.copytree(source, tree / source.name, symlinks=True, ignore_dangling_symlinks=True)
    extra = tree / "generated"
    extra.mkdir(parents=True)
    pages = [f"Handbook page {n}. " + "Routine maintenance text. " * 40 for n in range(1, 61)]
    pages[NEEDLE_PAGE - 1] += NEEDLE
    D.pdf(extra / "handbook.pdf", pages)
    D.docx(extra / "policy.docx", [(f"Section {i}", "policy text " * 50) for i in range(20)])
    D.pptx(extra / "review.pptx", [(f"Slide {i}", "review bullet " * 20) for i in range(15)])
    D.xlsx(extra / "ledger.xlsx", {"2026": [["month", "amount"], *[[f"m{i}", i * 10] for i in range(500)]]})
    D.epub(extra / "novel.epub", [(f"Chapter {i}", "a long night " * 200) for i in range(12)])
    D.eml(extra / "minutes.eml", "minutes", "the meeting notes " * 30,
          [("agenda.pdf", (extra / "handbook.pdf").read_bytes())])
    D.zip_of(extra / "exports.zip", {f"export-{i}.csv": b"id,value\n" + b"1,2\n" * 500 for i in range(10)})
    return tree


def query(tree: Path, home: Path, cache: Path, server: ScriptedServer) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLM_")}
    env.update({"OPENAI_API_KEY": "bench", "RLM_HOME": str(home), "XDG_CACHE_HOME": str(cache),
                "PYTHONPATH": str(REPO), "COLUMNS": "200"})
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "cli", "query", str(tree), "-q", "What is the vault combination, "
                        "and on which page is it?", "-m", "root", "--base-url", server.url, "--no-notes", "--no-cache",
                        "--json"], capture_output=True, text=True, env=env, timeout=3600, check=False)
    wall = time.perf_counter() - started
    summary = [line for line in r.stderr.splitlines() if line.startswith("input:")]
    out = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else {}
    return {"exit": r.returncode, "wall_s": round(wall, 2), "answer": out.get("answer"),
            "summary_lines": summary, "stderr_tail": r.stderr[-600:] if r.returncode else ""}


def pdf_readers(pdfs: list[Path]) -> dict:
    """PDFium (pypdfium2) and pypdf on the same PDFs: seconds, pages, characters, and for the
    generated handbook the share of its words each recovers."""
    import pypdf
    import pypdfium2 as pdfium

    def with_pdfium(p: Path) -> list[str]:
        pdf = pdfium.PdfDocument(str(p))
        try:
            return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
        finally:
            pdf.close()

    def with_pypdf(p: Path) -> list[str]:
        return [page.extract_text() or "" for page in pypdf.PdfReader(str(p)).pages]

    results = {}
    for name, reader in (("pypdfium2", with_pdfium), ("pypdf", with_pypdf)):
        per_file = {}
        for p in pdfs:
            started = time.perf_counter()
            pages = reader(p)
            seconds = time.perf_counter() - started
            text = "\n".join(pages)
            row = {"pages": len(pages), "seconds": round(seconds, 3), "chars": len(text),
                   "pages_per_s": round(len(pages) / seconds, 1) if seconds else None}
            if p.name == "handbook.pdf":
                want = re.findall(r"\w+", "\n".join(f"Handbook page {n}. " for n in range(1, 61)) + NEEDLE)
                got = set(re.findall(r"\w+", text))
                row["needle_found"] = NEEDLE in " ".join(text.split())
                row["words_recovered"] = round(sum(w in got for w in want) / len(want), 3)
            per_file[p.name] = row
        results[name] = per_file
    return results


def bounds(base: Path) -> dict:
    """Files built to be too much, read with the default limits (and a 64 MiB text limit for
    the bomb): how long each took and what was cut."""
    from sandbox.documents import ExtractOptions, extract_files

    big = base / "bounds"
    big.mkdir()
    started = time.perf_counter()
    D.pdf(big / "10000-pages.pdf", [f"page {n} of a very long report" for n in range(1, 10_001)])
    made = time.perf_counter() - started
    D.compressed(big / "bomb.txt.gz", b"x" * (1 << 30))
    D.zip_of(big / "members.zip", {f"m{i}.txt": f"member {i}\n".encode() for i in range(10_000)})
    rows = {"pdf_written_s": round(made, 1)}
    for name, fmt, limits in (("10000-pages.pdf", "pdf", {}), ("bomb.txt.gz", "gz", {"max_bytes": 64 << 20}),
                              ("members.zip", "zip", {})):
        started = time.perf_counter()
        r = extract_files([(big / name, fmt)], ExtractOptions(cache_dir=base / "bounds-cache", **limits))[big / name]
        rows[name] = {"seconds": round(time.perf_counter() - started, 2), "file_bytes": (big / name).stat().st_size,
                      "text_bytes": r.text.stat().st_size if r.text else 0, "documents": len(r.docs),
                      "places": sum(len(d["places"]) for d in r.docs), "cut": r.cut, "error": r.error}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="/usr/share/doc", help="the real document tree to copy")
    parser.add_argument("--skip-query", action="store_true")
    parser.add_argument("--bounds", action="store_true", help="also read files built to be too much")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="rlm-docbench-"))
    try:
        tree = build_tree(base, Path(args.source))
        files = [p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()]
        report: dict = {"tree": {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
                                 "by_suffix": _suffixes(files)}}
        if not args.skip_query:
            with ScriptedServer({"root": root}) as server:
                report["first_run"] = query(tree, base / "home", base / "cache", server)
                report["second_run"] = query(tree, base / "home", base / "cache", server)
        pdfs = sorted(tree.rglob("*.pdf"))
        report["pdf_readers"] = pdf_readers(pdfs)
        report["needle"] = {"page": NEEDLE_PAGE, "text": NEEDLE}
        if args.bounds:
            report["bounds"] = bounds(base)
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _suffixes(files: list[Path]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in files:
        counts[p.suffix.lower() or "(none)"] = counts.get(p.suffix.lower() or "(none)", 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:12])


if __name__ == "__main__":
    main()
