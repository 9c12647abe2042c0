"""BM25 over a context's chunks (bm25s), for the `retrieval` baseline and CodeAct's `search`."""

from __future__ import annotations

import threading


def chunk_text(text: str, size: int) -> list[str]:
    """Chunks of about `size` characters, cut at line ends where possible."""
    if size < 1:
        raise ValueError(f"chunks must hold at least 1 character, not {size}")
    chunks, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind("\n", start + size // 2, end)
            end = cut + 1 if cut > 0 else end
        chunks.append(text[start:end])
        start = end
    return chunks


class Searcher:
    """A BM25 index of `chunks`; `top(query, k)` -> the indices of up to k chunks that share a
    term with the query, best first (none for an empty context or a query of stopwords only)."""

    def __init__(self, chunks: list[str]) -> None:
        import bm25s

        self.chunks = chunks
        self._bm25s = bm25s
        self._lock = threading.Lock()  # queries may come from the sandbox's bridge threads
        self._index = bm25s.BM25()
        if chunks:
            self._index.index(bm25s.tokenize(chunks, stopwords="en", show_progress=False), show_progress=False)

    def top(self, query: str, k: int) -> list[int]:
        if not self.chunks:
            return []
        k = max(1, min(k, len(self.chunks)))
        tokens = self._bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        with self._lock:
            ids, scores = self._index.retrieve(tokens, k=k, show_progress=False)
        return [int(i) for i, score in zip(ids[0], scores[0], strict=True) if score > 0]
