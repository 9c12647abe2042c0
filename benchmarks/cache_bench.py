"""Call-cache overhead; prints one JSON object. Not a test: nothing here is asserted.

    python benchmarks/cache_bench.py [--entries 100000] [--lookups 10000]

Fills a cache file with `--entries` replies (about 1 KiB each), then times lookups that hit,
lookups that miss (each one the key computation from a request plus the SQLite read, as
`ModelClient.chat` does it) and writes.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from rlm.cache import CachedReply, CallCache, call_key


def request(i: int) -> tuple[str, str, list[dict[str, str]], dict]:
    messages = [{"role": "user", "content": f"summarise chunk {i}: " + "x" * 2000}]
    return "http://127.0.0.1:8000/v1", "gpt-5-mini", messages, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = CallCache(Path(tmp) / "cache.db", max_bytes=1 << 34)
        reply = CachedReply("an answer " * 100, 500, 100, 0, False)
        started = time.perf_counter()
        for i in range(args.entries):
            cache.put(call_key(*request(i)), "gpt-5-mini", reply)
        fill_s = time.perf_counter() - started
        rng = random.Random(0)

        def timed(indexes: list[int]) -> list[float]:
            out = []
            for i in indexes:
                t = time.perf_counter()
                cache.get(call_key(*request(i)))
                out.append((time.perf_counter() - t) * 1000)
            return out

        hits = timed([rng.randrange(args.entries) for _ in range(args.lookups)])
        misses = timed([args.entries + i for i in range(args.lookups)])
        stats = cache.stats()
    print(json.dumps({
        "entries": args.entries, "file_mib": round(stats.bytes / 2**20, 1),
        "write_ms_mean": round(fill_s * 1000 / args.entries, 3),
        "hit_ms_median": round(statistics.median(hits), 3),
        "hit_ms_p99": round(sorted(hits)[int(len(hits) * 0.99)], 3),
        "miss_ms_median": round(statistics.median(misses), 3),
        "miss_ms_p99": round(sorted(misses)[int(len(misses) * 0.99)], 3),
    }, indent=2))


if __name__ == "__main__":
    main()
