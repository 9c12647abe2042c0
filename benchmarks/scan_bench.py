"""Regex scans over a multi-GiB Corpus against ripgrep and grep -E, in the same run.

Generates a text of web-vocabulary lines with some Unicode (accented words, CJK, emoji), IP
addresses and `def name():` lines, in tmpfs (/dev/shm) and, with --disk DIR, on disk too; then
times `Corpus.findall(pattern)` (the code the kernel runs for `re.findall(p, context)`, on every
core) for ten pattern shapes, and `rg --count-matches -j N` and `grep -E -c` on the same file,
with N the cores the Corpus scan uses. Then the lines-and-counts idioms (`context.count(s)`,
`s in context`, `len(context.splitlines())`, `for line in context.splitlines()`) against the
rg / grep commands that answer the same question. With --directory, the same text is also
cut into 48 files and read as a mapped directory (what a folder above the str threshold is;
rg then reads the files on N threads). Prints one JSON object: per pattern and place, the match
count of each tool, seconds, and the ratios to ripgrep and grep.

    python benchmarks/scan_bench.py --gib 3
    python benchmarks/scan_bench.py --gib 1 --disk /var/tmp --cold   # cold: page cache dropped (root)
    python benchmarks/scan_bench.py --no-tmpfs --disk /var/tmp --cold --repeat 3  # cold medians
    python benchmarks/scan_bench.py --gib 3 --directory             # also as a folder of 48 files
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.kernel.corpus import Corpus, Segments, map_file  # noqa: E402

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
    "unicode_class": (r"[\u3040-\u9fff]+", r"[\x{3040}-\x{9fff}]+"),  # grep -P (glibc's ERE refuses the range)
}
GREP_IGNORE_CASE = {"case_insensitive_alternation", "case_insensitive_word"}
GREP_PCRE = {"unicode_class"}
# name: (what the model's code does, its answer from rg's output, rg arguments, grep arguments)
IDIOMS = {
    "count_literal": (lambda c: c.count("information"), ["--count-matches", "-F", "information"],
                      None),
    "in_absent": (lambda c: int("zq-absent-qz" in c), ["-c", "-F", "zq-absent-qz"], ["-c", "-F", "zq-absent-qz"]),
    "len_lines": (lambda c: len(c.splitlines()), ["-c", ""], ["-c", ""]),
    "iterate_lines": (lambda c: sum(1 for _ in c.splitlines()), ["-c", ""], ["-c", ""]),
    "lines_with_literal": (lambda c: sum(1 for line in c.splitlines() if "tion" in line), ["-c", "-F", "tion"],
                           ["-c", "-F", "tion"]),
    "lines_with_literal_by_regex": (lambda c: len(c.findall(r"(?m)^.*tion.*$")), ["-c", "-F", "tion"],
                                    ["-c", "-F", "tion"]),
}
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


def split_into_files(path: Path, folder: Path, files: int) -> None:
    """The text of `path` as `files` files in `folder`, cut at line ends."""
    folder.mkdir(exist_ok=True)
    size = path.stat().st_size
    with open(path, "rb") as inp:
        for k in range(files):
            data = inp.read(size // files) + (inp.readline() if k < files - 1 else inp.read())
            (folder / f"part{k:03d}.txt").write_bytes(data)


def timed(argv: list[str]) -> tuple[int, float]:
    started = time.perf_counter()
    # a UTF-8 locale: grep -P reads `[\x{3040}-\x{9fff}]` as characters
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    return rg_total(done.stdout), seconds


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


def corpus_of(path: Path) -> Corpus:
    """A Corpus of a file, or of a directory's files mapped in place (as the kernel reads a
    folder above its str threshold)."""
    if path.is_dir():
        parts = []
        for file in sorted(path.iterdir()):
            fd = os.open(file, os.O_RDONLY)
            parts.append((map_file(fd), 0, file.stat().st_size))
            os.close(fd)
        return Corpus(Segments(parts), str(path))
    fd = os.open(path, os.O_RDONLY)
    corpus = Corpus(fd, str(path))
    os.close(fd)
    return corpus


def rg_total(output: str) -> int:
    """The sum of rg's / grep's counts (one line per file for a directory, `path:count`)."""
    return sum(int(line.rsplit(":", 1)[-1]) for line in output.split() if line.rsplit(":", 1)[-1].isdigit())


def measure_idioms(path: Path, corpus: Corpus, cores: int) -> dict:
    results = {}
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    for name, (idiom, rg_args, grep_args) in IDIOMS.items():
        started = time.perf_counter()
        answer = idiom(corpus)
        row: dict = {"rlm_s": round(time.perf_counter() - started, 3), "rlm": answer}
        started = time.perf_counter()
        done = subprocess.run(["rg", f"-j{cores}", "--no-filename", *rg_args, str(path)], capture_output=True,
                              text=True, check=False, env=env)
        row["rg_s"], row["rg"] = round(time.perf_counter() - started, 3), rg_total(done.stdout)
        if grep_args is not None:
            started = time.perf_counter()
            done = subprocess.run(["grep", "-r", "-h", *grep_args, str(path)], capture_output=True, text=True,
                                  check=False, env=env)
            row["grep_s"], row["grep"] = round(time.perf_counter() - started, 3), rg_total(done.stdout)
            row["vs_grep"] = round(row["rlm_s"] / row["grep_s"], 2)
        row["vs_rg"] = round(row["rlm_s"] / row["rg_s"], 2)
        results[name] = row
        print(name, row, file=sys.stderr, flush=True)
    return results


def measure(path: Path, cores: int, cold: bool, repeat: int = 1) -> dict:
    """Each pattern by the Corpus, rg and grep; `repeat` times each (the page cache dropped
    before each run where `cold`), the median kept, and every run's seconds listed."""
    corpus = corpus_of(path)
    results = {}
    for name, (pattern, ere) in PATTERNS.items():
        row: dict = {}
        grep = (["grep", "-r", "-h", "-P" if name in GREP_PCRE else "-E", "-c"]
                + (["-i"] if name in GREP_IGNORE_CASE else []) + [ere, str(path)])
        runs: dict[str, list[float]] = {"rlm": [], "rg": [], "grep": []}
        for _ in range(repeat):
            if cold:
                row["cold"] = drop_caches()
            started = time.perf_counter()
            found = corpus.findall(pattern)
            runs["rlm"].append(time.perf_counter() - started)
            row["rlm_matches"] = len(found)
            row["anon_mib_after"] = anonymous_mib()  # the matches still held: the scan's own memory
            del found
            if cold:
                drop_caches()
            row["rg_matches"], seconds = timed(["rg", "--count-matches", "--no-filename", f"-j{cores}", pattern,
                                                str(path)])
            runs["rg"].append(seconds)
            if cold:
                drop_caches()
            row["grep_lines"], seconds = timed(grep)
            runs["grep"].append(seconds)
        for tool, seconds in runs.items():
            row[f"{tool}_s"] = round(statistics.median(seconds), 3)
            if repeat > 1:
                row[f"{tool}_runs_s"] = [round(x, 3) for x in seconds]
        row["vs_rg"] = round(row["rlm_s"] / row["rg_s"], 2)
        row["vs_grep"] = round(row["rlm_s"] / row["grep_s"], 2)
        results[name] = row
        print(name, row, file=sys.stderr, flush=True)
    if not cold:
        results["idioms"] = measure_idioms(path, corpus, cores)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=3.0, help="size of the generated text (GiB)")
    parser.add_argument("--disk", type=Path, help="also measure a copy in this directory (on disk)")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each disk scan (root)")
    parser.add_argument("--directory", action="store_true", help="also as a folder of 48 files in tmpfs")
    parser.add_argument("--only", help="comma-separated pattern names to run (default: all)")
    parser.add_argument("--no-tmpfs", action="store_true", help="skip the tmpfs file (with --disk or --directory)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each cold-disk scan this many times and keep the median (cold figures vary)")
    args = parser.parse_args()
    if not shutil.which("rg"):
        sys.exit("ripgrep (rg) is needed: apt-get install ripgrep")
    cores = len(os.sched_getaffinity(0))
    tmpfs = Path("/dev/shm/rlm-scan-bench.txt")
    generate(tmpfs, int(args.gib * (1 << 30)))
    report: dict = {"bytes": tmpfs.stat().st_size, "cores": cores,
                    "rg": subprocess.run(["rg", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
                    "places": {}}
    if args.only:
        for name in set(PATTERNS) - set(args.only.split(",")):
            del PATTERNS[name]
    try:
        if not args.no_tmpfs:
            report["places"]["tmpfs"] = measure(tmpfs, cores, cold=False)
        if args.directory:
            folder = Path("/dev/shm/rlm-scan-bench-dir")
            split_into_files(tmpfs, folder, 48)
            try:
                report["places"]["tmpfs_directory"] = measure(folder, cores, cold=False)
            finally:
                shutil.rmtree(folder)
        if args.disk:
            on_disk = args.disk / "rlm-scan-bench.txt"
            shutil.copyfile(tmpfs, on_disk)
            tmpfs.unlink()
            try:
                report["places"]["disk_warm"] = measure(on_disk, cores, cold=False)
                if args.cold:
                    report["places"]["disk_cold"] = measure(on_disk, cores, cold=True, repeat=max(1, args.repeat))
            finally:
                on_disk.unlink()
    finally:
        tmpfs.unlink(missing_ok=True)
    report["peak_rss_mib_with_mapped_pages"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
