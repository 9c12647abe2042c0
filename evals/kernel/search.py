"""`search(query, k=5)` in the kernel: the CodeAct baseline's BM25 retriever over the whole
context (the index lives on the host; runs inside the sandbox, standard library only)."""

from __future__ import annotations

from typing import Any


def install(kernel: Any, data: Any = None) -> dict[str, Any]:
    def search(query: str, k: int = 5) -> list[str]:
        """The k passages of the whole context that best match `query` (BM25), best first."""
        if not isinstance(query, str) or not query.strip():
            raise TypeError("query must be a non-empty string")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 50:
            raise ValueError("k must be an int from 1 to 50")
        found = kernel.call("search", {"query": query, "k": k})
        if not isinstance(found, list):
            raise kernel.HostError("the host returned a malformed answer")
        return [str(p) for p in found]

    return {"search": search}
