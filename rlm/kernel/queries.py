"""Sub-query helpers in the kernel: `llm_query`, `llm_query_batched`, `rlm_query`,
`rlm_query_batched` (runs inside the sandbox; standard library only).

Large sub-contexts of `rlm_query` go to the host as files the sandbox attaches to the request
(`kernel.attach`), never inside a JSON frame (the host takes frames up to 64 MiB); the request
carries `{SUBCONTEXT_KEY: index}` in their place, or
`{SUBCONTEXT_KEY: index, "kind": "json"}` for a list or dict (the file holds its JSON; the
child run sees that JSON text as a str). An object passed several times goes once.
"""

from __future__ import annotations

import json
from typing import Any

# rlm_query sub-contexts above this (characters of text, or of JSON for a list or dict) go to
# the host as an open file, not inside a JSON frame; so do all once those inline reach the total
SUBCONTEXT_INLINE_CHARS = 4_000_000
SUBCONTEXT_INLINE_TOTAL = 8_000_000
SUBCONTEXT_KEY = "__rlm_fd__"
MAX_SUBCONTEXT_FILES = 64  # files one request may carry (the host refuses more)
MAX_IMAGES = 8  # pictures shown with one llm_query
# a prompt that is only a piece of the context (no question) is refused; looked for in text
# contexts up to this size, in the first prompts of a batch (one such prompt shows the mistake)
QUESTION_CHECK_MIN_CHARS = 200
QUESTION_CHECK_MAX_CONTEXT = 64_000_000
QUESTION_CHECK_PROMPTS = 8


def install(kernel: Any, data: Any = None) -> dict[str, Any]:
    """The sub-query helpers, bound to `kernel` (the runtime's tool host)."""

    def ask(op: str, prompts: list[str], extra: dict[str, Any], files: list[Any] | None = None) -> list[str]:
        result = kernel.call(op, {"prompts": prompts, **extra}, attachments=files)
        if not isinstance(result, list) or len(result) != len(prompts):
            raise kernel.HostError("the host returned a malformed answer")
        return [str(r) for r in result]

    def text_prompts(prompts: Any) -> list[str]:
        if not isinstance(prompts, (list, tuple)):
            raise TypeError("prompts must be a list of strings")
        return [p if isinstance(p, str) else str(p) for p in prompts]

    def check_questions(op: str, prompts: list[Any]) -> list[str]:
        """ValueError for a prompt that is only a piece of the context (or the whole of it): the
        sub-model would get text and no question, and answer something nobody asked."""
        contexts = kernel.contexts()
        texts = [c for c in contexts if isinstance(c, str) and len(c) <= QUESTION_CHECK_MAX_CONTEXT]
        for i, p in enumerate(prompts[:QUESTION_CHECK_PROMPTS]):
            whole = any(p is c for c in contexts)
            piece = p.strip() if isinstance(p, str) else ""
            if whole or (len(piece) >= QUESTION_CHECK_MIN_CHARS and any(piece in c for c in texts)):
                which = "the prompt" if len(prompts) == 1 else f"prompt {i}"
                raise ValueError(
                    f"{op}: {which} is only text copied from `context`, with no question or instruction, "
                    "so the sub-model would not know what to do with it; nothing was sent. Put the question "
                    "first, then the text: llm_query(f\"<your question>\\n\\n{chunk}\")")
        return text_prompts(prompts)

    def llm_query(prompt: str, model: str | None = None, images: list[Any] | None = None) -> str:
        """Ask the sub-model one question; returns its answer as a string. `images`: pictures
        to show it with the question: documents of `docs` that are pictures, or pages of a PDF
        as (doc, page_number) pairs (a vision model is needed)."""
        if model is not None and not isinstance(model, str):
            raise TypeError("model must be a string or None")
        prompts = check_questions("llm_query", [prompt])
        extra: dict[str, Any] = {"model": model, "batched": False}
        if images is not None:
            extra["images"] = picture_refs(images)
        return ask("llm_query", prompts, extra)[0]

    def picture_refs(images: Any) -> list[dict[str, Any]]:
        """What the host needs to find each picture: the document's name and the page; the
        pictures themselves go from the host's files to the model, never through here."""
        if not isinstance(images, (list, tuple)):
            images = [images]
        if not images or len(images) > MAX_IMAGES:
            raise ValueError(f"llm_query: images takes 1 to {MAX_IMAGES} pictures")
        refs = []
        for item in images:
            page = None
            if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], int):
                item, page = item
            name = item if isinstance(item, str) else getattr(item, "path", None)
            if not isinstance(name, str):
                raise TypeError("llm_query: each image is a document of `docs` (a picture), or (doc, page_number) "
                                "for a page of a PDF")
            if page is None and getattr(item, "kind", "image") == "pdf":
                raise ValueError(f"llm_query: {name} is a PDF: give one of its pages, images=[(doc, page_number)]")
            refs.append({"doc": name, "page": page})
        return refs

    def llm_query_batched(prompts: list[str], model: str | None = None) -> list[str]:
        """Ask the sub-model many questions at once (answered concurrently); answers in order."""
        if model is not None and not isinstance(model, str):
            raise TypeError("model must be a string or None")
        if not isinstance(prompts, (list, tuple)):
            raise TypeError("prompts must be a list of strings")
        checked = check_questions("llm_query_batched", list(prompts))
        return ask("llm_query", checked, {"model": model, "batched": True})

    def sub_runs(prompts: list[Any], contexts: list[Any], batched: bool) -> list[str]:
        files: list[Any] = []  # what kernel.attach wrote, sent with the request
        sent: list[Any] = []
        spilled: dict[int, dict[str, Any]] = {}  # id of a context object -> its file's marker
        inline = 0
        try:
            for ctx in contexts:
                if id(ctx) in spilled:
                    sent.append(spilled[id(ctx)])
                    continue
                data, kind = _encoded(ctx)
                small = data is not None and len(data) <= SUBCONTEXT_INLINE_CHARS
                if data is None or (small and inline + len(data) <= SUBCONTEXT_INLINE_TOTAL
                                    and not (isinstance(ctx, dict) and SUBCONTEXT_KEY in ctx)):
                    inline += len(data or "")
                    sent.append(ctx)
                    continue
                if len(files) >= MAX_SUBCONTEXT_FILES:
                    raise ValueError(f"rlm_query: at most {MAX_SUBCONTEXT_FILES} large sub-contexts "
                                     "at once; pass fewer, or smaller ones")
                files.append(kernel.attach(data))
                marker: dict[str, Any] = {SUBCONTEXT_KEY: len(files) - 1}
                if kind == "json":
                    marker["kind"] = "json"
                spilled[id(ctx)] = marker
                sent.append(marker)
            return ask("rlm_query", text_prompts(prompts),
                       {"model": None, "contexts": sent, "batched": batched}, files=files or None)
        finally:
            for file in files:
                file.close()

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


def _encoded(ctx: Any) -> tuple[str | bytes | None, str]:
    """A sub-context as it would go in a file: text as it is, a list or dict as JSON (None for
    anything else, which goes inline and fails there if it cannot)."""
    if isinstance(ctx, (str, bytes)):
        return ctx, "text"
    if isinstance(ctx, (list, tuple, dict)):
        try:
            return json.dumps(ctx, ensure_ascii=False), "json"
        except (TypeError, ValueError):
            return None, ""
    return None, ""
