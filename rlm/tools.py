"""The controller's tools in the kernel: sub-queries and notes (host side).

Each is a `sandbox.Tools`: a kernel-side module in `rlm/kernel/` plus host handlers for its
ops. The sandbox forwards requests without knowing what they mean; what they mean is here.

    queries  llm_query, llm_query_batched, rlm_query, rlm_query_batched
             ops "llm_query" / "rlm_query": args `prompts` (a list), `model`, `batched`, for
             llm_query `images` ([{doc, page}]: pictures the host takes from the context's
             files, never bytes from the kernel), and for rlm_query `contexts`; the handler
             returns one answer string per prompt. A large
             sub-context arrives as an open file: its entry in `contexts` is
             `{SUBCONTEXT_KEY: i}` (text) or `{SUBCONTEXT_KEY: i, "kind": "json"}` (the JSON of a
             list or dict), the file is `request.fds[i]`, and several entries may name one file.
    notes    remember, revise, forget, document, archive
             ops "remember" (text, reason, tags, quoted), "revise" (id, text, reason, quoted),
             "forget" (id, reason), "document" (title, text, reason, tags, quoted): the handler
             returns {id (None when refused), message}; "archive_search" (query, k): a list of
             {id, title, score, snippet}. `quoted` lists passages found verbatim in a context.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlm.errors import ContextError
from rlm.kernel.queries import MAX_IMAGES, SUBCONTEXT_KEY
from sandbox import HostRequest, Tools

KERNEL_DIR = Path(__file__).resolve().parent / "kernel"
QUERY_OPS = ("llm_query", "rlm_query")
NOTE_OPS = ("remember", "revise", "forget", "document", "archive_search")
# prompts one llm_query / rlm_query request may carry (a batch); each queued prompt costs the
# host a task, a request and a trajectory event (benchmarks/host_bounds_bench.py measures it)
MAX_PROMPTS_PER_REQUEST = 2_000

Handler = Callable[[HostRequest], Any]

__all__ = ["MAX_IMAGES", "MAX_PROMPTS_PER_REQUEST", "NOTE_OPS", "QUERY_OPS", "SUBCONTEXT_KEY", "notes_tools",
           "query_tools"]


def query_tools(serve: Handler | None) -> Tools:
    """The sub-query helpers, answered by `serve(request)` -> one answer per prompt (None:
    no model is connected, and a call says so)."""

    def handle(request: HostRequest) -> list[str]:
        if serve is None:
            raise RuntimeError(f"{request.op} is unavailable: no model is connected to this sandbox")
        prompts = request.args.get("prompts")
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise TypeError("prompts must be a list of strings")
        if len(prompts) > MAX_PROMPTS_PER_REQUEST:
            raise ValueError(f"{len(prompts):,} prompts in one call; the limit is {MAX_PROMPTS_PER_REQUEST:,} "
                             "prompts per batch: send fewer at once, or fewer, larger chunks")
        answers = serve(request)
        if isinstance(answers, str):
            answers = [answers]
        answers = [str(a) for a in answers]
        if len(answers) != len(prompts):
            raise RuntimeError(f"the host returned {len(answers)} answers for {len(prompts)} prompts")
        return answers

    return Tools("queries", KERNEL_DIR / "queries.py", dict.fromkeys(QUERY_OPS, handle))


def notes_tools(serve: Handler | None, documents: list[dict[str, Any]] | None = None) -> Tools:
    """The notes helpers and the `archive` of `documents` (each with at least id, title and
    text), answered by `serve(request)` (None: every write is refused, search finds nothing)."""
    for d in documents or []:
        if not isinstance(d, dict) or not {"id", "title", "text"} <= set(d):
            raise ContextError("each archive document needs id, title and text")

    def handle(request: HostRequest) -> Any:
        if serve is None:
            if request.op == "archive_search":
                return []
            return {"id": None, "message": "refused: notes are off"}
        return serve(request)

    data = list(documents) if documents else None
    return Tools("notes", KERNEL_DIR / "notes.py", dict.fromkeys(NOTE_OPS, handle), data=data)
