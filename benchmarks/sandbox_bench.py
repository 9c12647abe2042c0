"""Sandbox benchmarks; prints one JSON object. Not a test: nothing here is asserted.

    python benchmarks/sandbox_bench.py [--gib 1.0] [--cells 300] [--sandbox launcher,container]

Measures: time to make a text file available as `context`; host memory growth while it is
loaded; kernel memory relative to the text; median round trip of a trivial cell; a regex
scan over the context in the kernel against `grep -c` on the same file; kernel start time.
With several backends (`--sandbox a,b`), each is measured in turn on the same file and the
object holds one entry per backend; `container:runsc` is the container backend on gVisor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox import SandboxConfig, open_sandbox


def rss_kib(pid: int | str | None = "self", field: str = "VmRSS") -> int:
    if pid is None:  # a kernel the host cannot see (gVisor's)
        return 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def make_file(path: Path, size: int) -> None:
    line = "The quick brown fox jumps over the lazy dog; nothing to see on this line at all.\n"
    block = (line * 12_000)
    needle_every = 97
    with open(path, "w") as f:
        written, n = 0, 0
        while written < size:
            needle = f"needle{n:010d} is the magic value here, find me please!!!!!!!!!\n"
            chunk = block if n % needle_every else block[: -len(line)] + needle
            f.write(chunk)
            written += len(chunk)
            n += 1


def config_of(backend: str, **settings) -> SandboxConfig:
    """`name` or `container:RUNTIME` as a SandboxConfig."""
    name, _, runtime = backend.partition(":")
    return SandboxConfig(backend=name, **({"container_runtime": runtime} if runtime else {}), **settings)


def _lazy_start_and_load(path: Path, backend: str) -> float:
    """A fresh sandbox started by load_context, its memory limit sized from the file."""
    t = time.perf_counter()
    lazy = open_sandbox(config_of(backend, cell_timeout_s=600))
    lazy.load_context(path)
    elapsed = time.perf_counter() - t
    lazy.close()
    return round(elapsed, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=1.0, help="size of the text file in GiB")
    ap.add_argument("--cells", type=int, default=300, help="trivial cells to time")
    ap.add_argument("--sandbox", default="auto", help="backend(s) to measure, comma-separated (default: auto)")
    args = ap.parse_args()
    backends = [b.strip() for b in args.sandbox.split(",") if b.strip()]
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
        path = Path(d) / "corpus.txt"
        make_file(path, int(args.gib * 2**30))
        size = path.stat().st_size
        results = {b: measure(path, b, args.cells) for b in backends}
    if len(backends) == 1:
        print(json.dumps(results[backends[0]], indent=2))
    else:
        print(json.dumps({"file_bytes": size, "backends": results}, indent=2))


def measure(path: Path, backend: str, cells: int) -> dict:
    size = path.stat().st_size
    out: dict = {"backend": backend, "file_bytes": size}
    t = time.perf_counter()
    sb = open_sandbox(config_of(backend, cell_timeout_s=600, memory_limit_bytes=4 * 2**30)).start()
    out["kernel_start_s"] = round(time.perf_counter() - t, 3)
    with sb:
        sb.execute("x = 1")
        host_before = rss_kib()
        kpid = sb._kernel_pid()
        kernel_before = rss_kib(kpid)
        t = time.perf_counter()
        sb.load_context(path)
        out["load_context_first_s"] = round(time.perf_counter() - t, 3)  # fresh pages, cold
        sb.execute("context = None")
        kernel_before = rss_kib(kpid)
        t = time.perf_counter()
        info = sb.load_context(path)
        out["load_context_s"] = round(time.perf_counter() - t, 3)
        assert sb._kernel_pid() == kpid, "the kernel restarted during the load"
        out["context_type"] = info.type
        out["host_rss_growth_mib"] = round((rss_kib() - host_before) / 1024, 1)
        kernel_after = rss_kib(kpid)
        anon = rss_kib(kpid, "RssAnon")
        out["kernel_rss_mib"] = round(kernel_after / 1024, 1)
        out["kernel_rss_growth_over_text"] = round((kernel_after - kernel_before) * 1024 / size, 3)
        out["kernel_rss_over_text"] = round(kernel_after * 1024 / size, 3)
        out["kernel_anon_over_text"] = round(anon * 1024 / size, 3)

        times = []
        for _ in range(cells):
            t = time.perf_counter()
            sb.execute("1")
            times.append(time.perf_counter() - t)
        out["trivial_cell_median_ms"] = round(statistics.median(times) * 1000, 3)
        out["trivial_cell_p95_ms"] = round(sorted(times)[int(0.95 * len(times))] * 1000, 3)

        r = sb.execute("import re\nprint(len(re.findall(r'needle\\d+', context)))")
        kernel_count = int(r.stdout.strip())
        t = time.perf_counter()
        sb.execute("n = len(re.findall(r'needle\\d+', context))")
        out["regex_scan_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        grep = subprocess.run(["grep", "-c", "needle", str(path)], capture_output=True, text=True)
        out["grep_c_s"] = round(time.perf_counter() - t, 3)
        out["regex_over_grep"] = round(out["regex_scan_s"] / max(out["grep_c_s"], 1e-9), 2)
        out["matches"] = {"kernel": kernel_count, "grep": int(grep.stdout.strip() or 0)}
    out["start_plus_load_s"] = _lazy_start_and_load(path, backend)
    starts = []
    for _ in range(5):  # later starts in the same process (a backend may check its setup once)
        t = time.perf_counter()
        open_sandbox(config_of(backend)).start().close()
        starts.append(time.perf_counter() - t)
    out["start_and_close_median_s"] = round(statistics.median(starts), 3)
    return out


if __name__ == "__main__":
    main()
