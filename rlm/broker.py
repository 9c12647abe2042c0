"""The sub-call broker: `llm_query*` prompts from every sandbox of a run tree go through here.

One broker per root run: a concurrency limit shared by the whole tree (default 64) that halves
after repeated 429s and creeps back up on success, budgets checked before each call (under a
cost budget a call is admitted only if its worst case still fits, see rlm.usage), model names
checked against the ones the user configured, and one error string per failed prompt so that a
batch never fails as a whole.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

from rlm.client import ModelClient
from rlm.errors import ModelError
from rlm.events import SubCallEvent
from rlm.protocol import strip_thinking
from rlm.trajectory import prompt_record
from rlm.usage import Budget

log = logging.getLogger("rlm")


class AdaptiveLimiter:
    """A semaphore whose limit drops by half after `trigger` 429s within `window_s` seconds
    (never below `floor`), and rises by one after `limit` successes in a row."""

    def __init__(self, limit: int, *, floor: int = 1, trigger: int = 3, window_s: float = 10.0) -> None:
        self.max_limit = limit
        self.limit = limit
        self.floor = max(1, min(floor, limit))
        self.trigger = trigger
        self.window_s = window_s
        self.in_use = 0
        self._recent_429: list[float] = []
        self._successes = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        while self.in_use >= self.limit:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                self._wake()
                raise
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
        self._wake()

    def _wake(self) -> None:
        free = self.limit - self.in_use
        while free > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1

    def on_rate_limited(self) -> None:
        now = time.monotonic()
        self._recent_429 = [t for t in self._recent_429 if now - t < self.window_s] + [now]
        self._successes = 0
        if len(self._recent_429) >= self.trigger and self.limit > self.floor:
            self.limit = max(self.floor, self.limit // 2)
            self._recent_429.clear()
            log.warning("rate limited repeatedly: sub-call concurrency lowered to %d", self.limit)

    def on_success(self) -> None:
        if self.limit >= self.max_limit:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self.limit += 1
            self._successes = 0
            self._wake()


EventSink = Callable[[SubCallEvent], None]
NAME_SHOWN_CHARS = 80  # of a refused model name, in the error model code reads
ALLOWED_SHOWN_CHARS = 400  # of the list of allowed names, likewise


def refuse_model(name: str, allowed: list[str]) -> str:
    """The error string for a model name the user did not configure, bounded in length."""
    listed = ", ".join(allowed)
    if len(listed) > ALLOWED_SHOWN_CHARS:
        listed = listed[:ALLOWED_SHOWN_CHARS] + " ..."
    shown = repr(name[:NAME_SHOWN_CHARS]) + (f" ({len(name):,} characters)" if len(name) > NAME_SHOWN_CHARS else "")
    return (f"[llm_query error: model {shown} is not one this run may call; allowed: {listed}; "
            "no call was made]")


class Broker:
    """Runs sub-model prompts concurrently under the shared limiter and budget."""

    def __init__(self, client: ModelClient, model: str, budget: Budget, limiter: AdaptiveLimiter,
                 allowed: list[str] | None = None, routes: dict[str, tuple[ModelClient, str]] | None = None) -> None:
        """`routes`: named models, NAME -> (the client of its endpoint, the model's own id); a
        call is counted and priced under NAME. Other names go to `client` as they are."""
        self.client = client
        self.routes = dict(routes or {})
        self.model = model
        self.allowed = list(dict.fromkeys([*(allowed or []), model]))
        self.budget = budget
        self.limiter = limiter
        self.done = 0

    async def query(self, prompts: list[str], *, model: str | None, depth: int, cell: int,
                    emit: EventSink, images: list[tuple[str, bytes]] | None = None) -> list[str]:
        """One answer per prompt, in order; a failed prompt's answer is an error string.
        `model` must be one of the allowed names (None: the sub-model). `images`: (media type,
        bytes) pictures sent with each prompt, as image parts."""
        name = self.model if model is None else model
        if name not in self.allowed:
            return [refuse_model(name, self.allowed)] * len(prompts)
        results = await asyncio.gather(*(self._one(p, name, depth, cell, emit, images) for p in prompts))
        return list(results)

    async def _one(self, prompt: str, model: str, depth: int, cell: int, emit: EventSink,
                   images: list[tuple[str, bytes]] | None = None) -> str:
        if self.budget.max_cost_usd is not None and self.budget.prices.get(model) is None:
            # an unpriced model would spend money the cost budget cannot see
            return f"[llm_query error: model {model!r} has no price and a cost budget is set; no call was made]"
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt if not images else [
            {"type": "text", "text": prompt},
            *({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}}
              for mime, data in images)]}]
        reservation = await self.budget.admit(model, messages)
        if reservation is None:
            return ("[llm_query error: the max_cost budget cannot pay for this call's worst case "
                    "(its prompt and output cap); no call was made]")
        spent = self.budget.claim_sub_call()
        if spent is not None:
            self.budget.settle(reservation)
            return f"[llm_query error: the {spent} budget is spent; no call was made]"
        try:
            return await self._send(prompt, messages, model, depth, cell, emit)
        finally:
            self.budget.settle(reservation)

    async def _send(self, prompt: str, messages: list[dict[str, str]], model: str, depth: int, cell: int,
                    emit: EventSink) -> str:
        self.budget.sub_calls_in_flight += 1
        started = time.monotonic()
        try:
            wall = self.budget.wall_left()
            client, model_id = self.routes.get(model, (self.client, model))
            completion = await client.chat(
                model_id, messages, slots=self.limiter, timeout_s=wall, extra=self.budget.request_extra or None,
            )
        except ModelError as exc:
            pictures = sum(len(m["content"]) - 1 for m in messages if isinstance(m.get("content"), list))
            failed = SubCallEvent(event="sub_call", cell=cell, depth=depth, model=model, **prompt_record(prompt),
                                  error=str(exc))
            if pictures:
                failed["images"] = pictures
            failed["latency_s"] = round(time.monotonic() - started, 4)
            emit(failed)
            if pictures and exc.status_code in (400, 404, 413, 415, 422):
                return (f"[llm_query error: the sub-model {model!r} did not take the picture(s) ({exc}); it may not "
                        "accept images: ask a vision model, llm_query(..., model=NAME), with NAME one this run "
                        "allows]")
            return f"[llm_query error: {exc}]"
        finally:
            self.budget.sub_calls_in_flight -= 1
            self.done += 1
        cost = self.budget.record(model, depth, completion.prompt_tokens, completion.completion_tokens,
                                  completion.cached_tokens, from_cache=completion.from_cache)
        priced = self.budget.prices.get(model) is not None  # else null: unknown, not $0
        pictures = sum(len(m["content"]) - 1 for m in messages if isinstance(m.get("content"), list))
        event = SubCallEvent(event="sub_call", cell=cell, depth=depth, model=model, **prompt_record(prompt))
        if pictures:
            event["images"] = pictures
        event.update({
            "reply": completion.text, "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens, "cached_tokens": completion.cached_tokens,
            "cost_usd": round(cost, 8) if priced or completion.from_cache else None,
            "latency_s": round(completion.latency_s, 4), "attempts": completion.attempts})
        if completion.from_cache:
            event["cache_hit"] = True
            event["saved_usd"] = round(self.budget.prices.cost(
                model, completion.prompt_tokens, completion.completion_tokens, completion.cached_tokens), 8) \
                if priced else None
        emit(event)
        # a reasoning model's sub-call answer comes back without its <think> section: code
        # that parses answers must not parse the model's drafts
        answer, thinking = strip_thinking(completion.text)
        return answer.strip() if thinking else completion.text
