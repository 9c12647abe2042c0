"""How much text one sub-call prompt may carry: the sub-model's context window, read from its
server where the server says, turned into characters the system prompt can state truly.

Servers say it in different places: vLLM's `/v1/models` entries have `max_model_len`; LM Studio
and OpenRouter-style lists `context_length`; llama.cpp's own server lists `meta.n_ctx_train`
there and its running size in `/props` (`default_generation_settings.n_ctx`). Hosted APIs say
nothing: then `DEFAULT_WINDOW_CHARS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

DEFAULT_WINDOW_CHARS = 100_000
# characters per token of logs and prose are 3-4 for today's tokenizers: 3 keeps a prompt inside;
# a quarter of the window is left for the question, the answer and the chat template
CHARS_PER_TOKEN = 3.0
PROMPT_SHARE = 0.75
MAX_REPLY_BYTES = 4 << 20
_KEYS = ("max_model_len", "context_length", "max_context_length", "n_ctx", "context_window")


def chars_for_tokens(tokens: int) -> int:
    """The prompt characters that fit a window of `tokens` with room for the reply."""
    return int(tokens * CHARS_PER_TOKEN * PROMPT_SHARE)


def chunk_chars(window_chars: int) -> int:
    """The chunk size to suggest for a window of `window_chars`: models cut chunks of exactly
    the size they are told, then add the question; a fifth is left for it."""
    return max(500, int(window_chars * 0.8) // 1000 * 1000 or int(window_chars * 0.8))


def _tokens_in(entry: Any) -> int | None:
    if not isinstance(entry, dict):
        return None
    for key in _KEYS:
        value = entry.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    meta = entry.get("meta")
    if isinstance(meta, dict):
        return _tokens_in({"n_ctx": meta.get("n_ctx", meta.get("n_ctx_train"))})
    return None


async def server_window_tokens(base_url: str | None, api_key: str | None, model: str,
                               timeout_s: float = 5.0) -> int | None:
    """The context window (tokens) the server at `base_url` gives `model`, or None when it does
    not say (or its requests, together, take more than `timeout_s`)."""
    if not base_url:
        return None
    deadline = time.monotonic() + timeout_s
    # urllib's timeout bounds each read of the socket, not the request (a server may send a byte
    # a second): the requests run in a daemon thread, left behind when the time is up (a thread
    # of the event loop's executor would hold the process at exit until they end)
    loop = asyncio.get_running_loop()
    found: asyncio.Future[int | None] = loop.create_future()

    def probe() -> None:
        try:
            tokens = _window_tokens(base_url.rstrip("/"), api_key, model, deadline)
        except Exception:  # noqa: BLE001 - the window is a hint: no answer is None
            tokens = None
        def settle() -> None:
            if not found.done():
                found.set_result(tokens)

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle)

    threading.Thread(target=probe, name="rlm-window-probe", daemon=True).start()
    try:
        return await asyncio.wait_for(found, max(timeout_s, 0.001))
    except TimeoutError:
        return None


def _window_tokens(base: str, api_key: str | None, model: str, deadline: float) -> int | None:
    # llama.cpp's running size first: its /models entry gives only the size it was trained for
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    props = _json(root + "/props", api_key, deadline)
    if isinstance(props, dict):
        found = _tokens_in(props.get("default_generation_settings"))
        if found:
            return found
    listing = _json(base + "/models", api_key, deadline)
    entries = listing.get("data") if isinstance(listing, dict) else None
    if isinstance(entries, list):
        named = [e for e in entries if isinstance(e, dict) and e.get("id") == model]
        for entry in named or (entries if len(entries) == 1 else []):
            found = _tokens_in(entry)
            if found:
                return found
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # the key goes nowhere else
        return None


def _json(url: str, api_key: str | None, deadline: float) -> Any:
    timeout_s = deadline - time.monotonic()
    if not url.startswith(("http://", "https://")) or timeout_s <= 0:
        return None
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=timeout_s) as reply:
            if reply.status != 200:
                return None
            body = reply.read(MAX_REPLY_BYTES + 1)
        return None if len(body) > MAX_REPLY_BYTES else json.loads(body)
    except (OSError, ValueError, urllib.error.URLError):
        return None
