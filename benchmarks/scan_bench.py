"""Regex scans over a multi-GiB Corpus against ripgrep and grep -E, in the same run.

Generates a text of web-vocabulary lines with some Unicode (accented words, CJK, emoji), IP
addresses and `def name():` lines, in tmpfs (/dev/shm) and, with --disk DIR, on disk too; then
times `Corpus.findall(pattern)` (the code the kernel runs for `re.findall(p, context)`, on every
core) for ten pattern shapes, and `rg --count-matches -j N` and `grep -E -c` on the same file,
with N the cores the Corpus scan uses. Prints one JSON object: per pattern and place, the match
count of each tool, seconds, and the ratios to ripgrep and grep.

    python benchmarks/scan_bench.py --gib 3
    python benchmarks/scan_bench.py --gib 1 --disk /var/tmp --cold   # cold: page cache dropped (root)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.kernel.corpus import Corpus  # noqa: E402

# name: (Python pattern, the same for grep -E)
PATTERNS = {
    "cafe_naive": (r"caf. na.ve", r"caf. na.ve"),
    "alternation_no_literal_prefix": (r"(?:[a-z]+ing|[a-z]+tion) (?:of|for|to)", r"([a-z]+ing|[a-z]+tion) (of|for|to)"),
    "case_insensitive_alternation": (r"(?i)(?:error|warning|timeout|failed)", r"error|warning|timeout|failed"),
    "def_name": (r"\bdef \w+", r"\bdef \w+"),
    "literal": (r"information", r"information"),
    "rare_literal": (r"Ölçüm", r"Ölçüm"),
    "word_class": (r"\b\w+tion\b", r"\b\w+tion\b"),
    "ip_address": (r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", r"\b[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\b"),
    "case_insensitive_word": (r"(?i)\bpython\b", r"\bpython\b"),
    "unicode_class": (r"[\u3040-\u9fff]+", "[\u3040-\u9fff]+"),
}
GREP_IGNORE_CASE = {"case_insensitive_alternation", "case_insensitive_word"}
UNICODE = ["café", "naïve", "Ölçüm", "日本語", "東京", "Straße", "ΑΒΓ", "привет", "😀"]


def generate(path: Path, size: int, seed: int = 0) -> None:
    """Lines of words (benchmarks/scan_words.txt, common English web words), rotated copies of a
    400,000-line block, up to `size` bytes."""
    rng = random.Random(seed)
    vocabulary = Path(__file__).with_name("scan_words.txt").read_text().split()
    lines = []
    for _ in range(400_000):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(4, 18))]
        roll = rng.random()
        if roll < 0.01:
            words.insert(rng.randint(0, len(words)), rng.choice(UNICODE))
        if roll > 0.995:
            words.insert(0, ".".join(str(rng.randint(0, 255)) for _ in range(4)))
        if 0.5 < roll < 0.502:
            words.insert(0, f"def {rng.choice(vocabulary)}():")
        if 0.7 < roll < 0.7001:
            words.append("café naïve")
        lines.append(" ".join(words))
    written = 0
    with open(path, "wb") as out:
        while written < size:
            k = rng.randrange(len(lines))
            piece = ("\n".join(lines[k:] + lines[:k]) + "\n").encode()[: size - written]
            out.write(piece)
            written += len(piece)


def timed(argv: list[str]) -> tuple[int, float]:
    started = time.perf_counter()
    # a UTF-8 locale: grep reads `[\u3040-\u9fff]` as characters, not bytes (C: "invalid range")
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    return int((done.stdout.strip() or "0").splitlines()[0]), seconds


def anonymous_mib() -> float:
    """This process's anonymous resident memory (the mapped file's pages are not counted)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return round(int(line.split()[1]) / 1024, 1)
    return -1.0


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
        return True
    except OSError:
        return False


def measure(path: Path, cores: int, cold: bool) -> dict:
    fd = os.open(path, os.O_RDONLY)
    corpus = Corpus(fd, str(path))
    os.close(fd)
    results = {}
    for name, (pattern, ere) in PATTERNS.items():
        row: dict = {}
        if cold:
            row["cold"] = drop_caches()
        started = time.perf_counter()
        found = corpus.findall(pattern)
        row["rlm_s"] = round(time.perf_counter() - started, 3)
        row["rlm_matches"] = len(found)
        row["anon_mib_after"] = anonymous_mib()  # the matches still held: the scan's own memory
        del found
        if cold:
            drop_caches()
        row["rg_matches"], seconds = timed(["rg", "--count-matches", "--no-filename", f"-j{cores}", pattern, str(path)])
        row["rg_s"] = round(seconds, 3)
        if cold:
            drop_caches()
        grep = ["grep", "-E", "-c"] + (["-i"] if name in GREP_IGNORE_CASE else []) + [ere, str(path)]
        row["grep_lines"], seconds = timed(grep)
        row["grep_s"] = round(seconds, 3)
        row["vs_rg"] = round(row["rlm_s"] / row["rg_s"], 2)
        row["vs_grep"] = round(row["rlm_s"] / row["grep_s"], 2)
        results[name] = row
        print(name, row, file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=3.0, help="size of the generated text (GiB)")
    parser.add_argument("--disk", type=Path, help="also measure a copy in this directory (on disk)")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each disk scan (root)")
    args = parser.parse_args()
    if not shutil.which("rg"):
        sys.exit("ripgrep (rg) is needed: apt-get install ripgrep")
    cores = len(os.sched_getaffinity(0))
    tmpfs = Path("/dev/shm/rlm-scan-bench.txt")
    generate(tmpfs, int(args.gib * (1 << 30)))
    report: dict = {"bytes": tmpfs.stat().st_size, "cores": cores,
                    "rg": subprocess.run(["rg", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
                    "places": {}}
    try:
        report["places"]["tmpfs"] = measure(tmpfs, cores, cold=False)
        if args.disk:
            on_disk = args.disk / "rlm-scan-bench.txt"
            shutil.copyfile(tmpfs, on_disk)
            tmpfs.unlink()
            try:
                report["places"]["disk_warm"] = measure(on_disk, cores, cold=False)
                if args.cold:
                    report["places"]["disk_cold"] = measure(on_disk, cores, cold=True)
            finally:
                on_disk.unlink()
    finally:
        tmpfs.unlink(missing_ok=True)
    report["peak_rss_mib_with_mapped_pages"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
