"""Giant-corpus benchmark; prints one JSON object. Not a test: nothing here is asserted.

    python benchmarks/corpus_bench.py [--gib 40] [--dir /var/tmp] [--warm-gib 2]

Writes a text file of `--gib` GiB (needs that much free disk in `--dir`; deleted at the end)
with one needle 90% of the way in, then, from a cold page cache (root drops it; otherwise the
figures are marked warm):
- `grep -c` for the needle, as the yardstick;
- `rlm`'s path: a sandbox (default settings, so the file is a memory-mapped Corpus) loads it
  and model code runs what models write first, `re.search(r'special magic number is (\\d+)',
  context)`; the peak anonymous memory of the host and the kernel is sampled while it runs.
Then, on a `--warm-gib` file in the page cache, whole-corpus scans (`re.findall` over the
Corpus, `context.count`) against single-core `re` on a `str` of the same text and `grep -c`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import subprocess
import threading
import time
from pathlib import Path

from sandbox import Sandbox, SandboxConfig

NEEDLE = "The special magic number is 8675309.\n"
GiB = 1 << 30


def make_file(path: Path, size: int, needle_at: float = 0.9) -> None:
    rng = random.Random(0)
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "lorem", "ipsum", "dolor", "sit",
             "amet", "123", "4567", "hay", "stack"]
    block = "".join(" ".join(rng.choice(words) for _ in range(12)) + "\n" for _ in range(50_000)).encode()
    with open(path, "wb") as f:
        written, placed = 0, False
        while written < size:
            if not placed and written >= size * needle_at:
                f.write(NEEDLE.encode())
                placed = True
            f.write(block)
            written += len(block)


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def anon_kib(pid: int | str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


class PeakAnon:
    """Samples the anonymous memory of some processes every 20 ms; keeps the peak of the sum."""

    def __init__(self, pids: list[int]) -> None:
        self.pids, self.peak, self._stop = pids, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, sum(anon_kib(p) for p in self.pids))
            time.sleep(0.02)

    def __enter__(self) -> PeakAnon:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn):  # noqa: ANN001, ANN201
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def grep_count(path: Path, pattern: str) -> int:
    return int(subprocess.run(["grep", "-c", pattern, str(path)], capture_output=True, text=True).stdout or 0)


def cold_search(path: Path) -> dict:
    cold = drop_caches()
    grep_s, grep_n = timed(lambda: grep_count(path, "special magic number"))
    drop_caches()
    with Sandbox(SandboxConfig()) as sb:
        load_s, info = timed(lambda: sb.load_context(path))
        code = ("import re\nm = re.search(r'special magic number is (\\d+)', context)\n"
                "print(m.group(1), m.start())")
        with PeakAnon([os.getpid(), sb._kernel_pid()]) as peak:
            search_s, result = timed(lambda: sb.execute(code, timeout=3600))
    return {
        "cold_cache": cold, "file_bytes": path.stat().st_size, "context_type": info.type,
        "grep_c_s": round(grep_s, 2), "grep_found": grep_n,
        "load_s": round(load_s, 3), "re_search_s": round(search_s, 2),
        "answer": result.stdout.split()[0] if result.stdout else result.error,
        "ratio_vs_grep": round(search_s / grep_s, 3),
        "peak_anon_mib_host_plus_kernel": round(peak.peak / 1024, 1),
    }


def str_scans(path: Path) -> tuple[float, float, int]:
    """Single-core `re.findall` and `str.count` on the whole text as a str."""
    text = path.read_text()  # also puts the file in the page cache
    started = time.perf_counter()
    n = len(re.findall(r"fox jumps", text))
    findall_s = time.perf_counter() - started
    started = time.perf_counter()
    text.count("fox jumps")
    return findall_s, time.perf_counter() - started, n


def warm_scans(path: Path) -> dict:
    str_findall_s, str_count_s, n = str_scans(path)
    grep_s, _ = timed(lambda: grep_count(path, "fox jumps"))
    with Sandbox(SandboxConfig(max_str_bytes=1 << 20)) as sb:
        sb.load_context(path)
        findall_s, r1 = timed(lambda: sb.execute("import re\nprint(len(re.findall(r'fox jumps', context)))",
                                                 timeout=3600))
        count_s, r2 = timed(lambda: sb.execute("print(context.count('fox jumps'))", timeout=3600))
    found, counted = int(r1.stdout or -1), int(r2.stdout or -1)
    return {"file_bytes": path.stat().st_size, "matches": n, "cores": os.cpu_count(),
            "corpus_findall_s": round(findall_s, 2), "corpus_count_s": round(count_s, 2),
            "str_findall_s": round(str_findall_s, 2), "str_count_s": round(str_count_s, 2),
            "grep_c_s": round(grep_s, 2), "corpus_matches_agree": found == n == counted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=40.0, help="size of the cold-search file (0: skip it)")
    parser.add_argument("--warm-gib", type=float, default=2.0, help="size of the warm-scan file")
    parser.add_argument("--dir", default="/var/tmp", help="where to write the files (needs the disk)")
    args = parser.parse_args()
    directory = Path(args.dir)
    results: dict = {}
    big = directory / "rlm-corpus-bench.txt"
    try:
        if args.gib > 0:  # --gib 0: the warm scans only
            written_s, _ = timed(lambda: make_file(big, int(args.gib * GiB)))
            results["write_s"] = round(written_s, 1)
            results["cold_search"] = cold_search(big)
    finally:
        big.unlink(missing_ok=True)
    small = directory / "rlm-corpus-bench-warm.txt"
    try:
        make_file(small, int(args.warm_gib * GiB))
        results["warm_scan"] = warm_scans(small)
    finally:
        small.unlink(missing_ok=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
