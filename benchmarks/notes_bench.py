"""Notes benchmarks; prints one JSON object. Not a test: nothing here is asserted.

    python benchmarks/notes_bench.py [--entries 1000]

store_start_ms: what the notes store adds to a run's start with `--entries` entries (open the
    store, read live memories and docs, render the memory block; then load the documents into
    the kernel as `archive`), median of 5.
store_end_ms: what it adds to a run's end (a notes turn's writes: 3 memories and 1 document
    through the kernel helpers' host path, then closing the store), median of 5.
prompt: characters and estimated tokens the memory block adds to every prompt, with the
    memory budget full (2,000 tokens of memories).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from rlm.notes import NotesRefused, NotesSession, NotesSettings, NotesStore, estimate_tokens
from rlm.tools import notes_tools
from sandbox import Sandbox


def fill(directory: Path, entries: int) -> None:
    with NotesStore(directory, memory_tokens=2000) as store:
        n = 0
        # live memories up to the budget, then superseded / forgotten ones and documents
        while True:
            try:
                store.remember(f"Memory {n}: the ledger's dates are day-first and entries are numbered "
                               f"from 1; totals are in column {n % 7} of the summary table.", run_id="bench")
            except NotesRefused:  # the memory budget is full
                break
            n += 1
        memories = store.memories()
        for m in memories[: min(len(memories), max(0, (entries - n) // 4))]:
            store.forget(m.id, "bench churn")
            store.undo(store.history(m.id)[-1].id)
        while len(store.entries(include_dead=True)) < entries:
            k = len(store.entries(include_dead=True))
            store.document(f"Method {k}", ("Split the corpus on blank lines, then ask the sub-model "
                                           f"about each group of 40 records; variant {k}. ") * 20, run_id="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / ".rlm"
        fill(directory, args.entries)
        settings = NotesSettings(directory)
        starts_host, starts_kernel, ends = [], [], []
        with Sandbox() as sb:
            sb.load_context("a small context")
            for i in range(5):
                session = NotesSession(settings, f"bench-{i}", "q")
                t0 = time.perf_counter()
                session.open()
                block = session.prompt_block()
                docs = session.archive_documents()
                t1 = time.perf_counter()
                sb.add_tools(notes_tools(None, docs))
                t2 = time.perf_counter()
                starts_host.append((t1 - t0) * 1000)
                starts_kernel.append((t2 - t1) * 1000)
                t3 = time.perf_counter()
                for j in range(3):
                    session.handle("remember", {"text": f"bench run {i} fact {j}", "reason": "bench"})
                session.handle("document", {"title": f"bench {i}", "text": "details " * 200, "reason": "bench"})
                session.close()
                ends.append((time.perf_counter() - t3) * 1000)
                with NotesStore(directory) as store:  # keep the budget for the next round
                    for m in store.memories():
                        if m.text.startswith("bench run"):
                            store.forget(m.id, "bench cleanup")
        with NotesStore(directory) as store:
            total = len(store.entries(include_dead=True))
            live_memories = store.memories()
            live_docs = len(store.entries("doc"))
        print(json.dumps({
            "entries": total, "live_memories": len(live_memories), "live_docs": live_docs,
            "store_start_ms_host": round(statistics.median(starts_host), 2),
            "store_start_ms_archive_into_kernel": round(statistics.median(starts_kernel), 2),
            "store_start_ms_total": round(statistics.median(
                a + b for a, b in zip(starts_host, starts_kernel, strict=True)), 2),
            "store_end_ms": round(statistics.median(ends), 2),
            "prompt": {"memory_block_chars": len(block), "memory_block_tokens_est": estimate_tokens(block),
                       "memory_text_tokens": sum(m.tokens for m in live_memories)},
        }, indent=2))


if __name__ == "__main__":
    main()
