"""Sub-query helpers in the kernel: `llm_query`, `llm_query_batched`, `rlm_query`,
`rlm_query_batched` (runs inside the sandbox; standard library only).

Large text sub-contexts of `rlm_query` go to the host as open files (SCM_RIGHTS), never
inside a JSON frame: they are written to an unlinked file in the work directory and the
request carries `{SUBCONTEXT_KEY: index}` in their place.
"""

from __future__ import annotations

import os
import time
from typing import Any

# rlm_query sub-contexts above this go to the host as an open file, not inside a JSON frame
SUBCONTEXT_INLINE_CHARS = 4_000_000
SUBCONTEXT_KEY = "__rlm_fd__"


def install(kernel: Any, data: Any = None) -> dict[str, Any]:
    """The sub-query helpers, bound to `kernel` (the runtime's tool host)."""

    def ask(op: str, prompts: list[str], extra: dict[str, Any], fds: list[int] | None = None) -> list[str]:
        result = kernel.call(op, {"prompts": prompts, **extra}, fds=fds)
        if not isinstance(result, list) or len(result) != len(prompts):
            raise kernel.HostError("the host returned a malformed answer")
        return [str(r) for r in result]

    def text_prompts(prompts: Any) -> list[str]:
        if not isinstance(prompts, (list, tuple)):
            raise TypeError("prompts must be a list of strings")
        return [p if isinstance(p, str) else str(p) for p in prompts]

    def llm_query(prompt: str, model: str | None = None) -> str:
        """Ask the sub-model one question; returns its answer as a string."""
        if model is not None and not isinstance(model, str):
            raise TypeError("model must be a string or None")
        return ask("llm_query", text_prompts([prompt]), {"model": model, "batched": False})[0]

    def llm_query_batched(prompts: list[str], model: str | None = None) -> list[str]:
        """Ask the sub-model many questions at once (answered concurrently); answers in order."""
        if model is not None and not isinstance(model, str):
            raise TypeError("model must be a string or None")
        return ask("llm_query", text_prompts(list(prompts)), {"model": model, "batched": True})

    def sub_runs(prompts: list[Any], contexts: list[Any], batched: bool) -> list[str]:
        files: list[int] = []
        sent: list[Any] = []
        try:
            for ctx in contexts:
                if isinstance(ctx, (str, bytes)) and len(ctx) > SUBCONTEXT_INLINE_CHARS:
                    files.append(_spill(kernel.work_dir, ctx))
                    sent.append({SUBCONTEXT_KEY: len(files) - 1})
                else:
                    sent.append(ctx)
            return ask("rlm_query", text_prompts(prompts),
                       {"model": None, "contexts": sent, "batched": batched}, fds=files or None)
        finally:
            for fd in files:
                os.close(fd)

    def rlm_query(prompt: str, context: Any = None) -> str:
        """Start a recursive sub-run on `context` (default: none) and return its answer."""
        return sub_runs([prompt], [context], batched=False)[0]

    def rlm_query_batched(prompts: list[str], contexts: list[Any] | None = None) -> list[str]:
        """Start several recursive sub-runs at once; `contexts` pairs with `prompts`."""
        prompts = list(prompts)
        ctxs = list(contexts) if contexts is not None else [None] * len(prompts)
        if len(ctxs) != len(prompts):
            raise ValueError("contexts must have one entry per prompt")
        if not all(isinstance(p, str) for p in prompts):
            raise TypeError("prompts must be a list of strings")
        return sub_runs(prompts, ctxs, batched=True)

    return {"llm_query": llm_query, "llm_query_batched": llm_query_batched,
            "rlm_query": rlm_query, "rlm_query_batched": rlm_query_batched}


def _spill(work_dir: str, ctx: str | bytes) -> int:
    """Write a sub-context to an unlinked file in the work directory; return a read fd."""
    data = ctx.encode("utf-8", "surrogatepass") if isinstance(ctx, str) else ctx
    try:
        fd = os.open(work_dir, os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError:  # no O_TMPFILE on this file system: a named file, unlinked at once
        path = os.path.join(work_dir, f".subctx-{os.getpid()}-{time.monotonic_ns()}")
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.unlink(path)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
