"""Token and cost accounting, and the budgets a run and its children share.

Under a cost budget every model call is admitted by its worst case before it is sent: its
prompt counted as one token per UTF-8 byte (no byte-level tokenizer makes more) plus a few
tokens per message for the chat template, and its output cap (the user's `max_tokens` /
`max_completion_tokens` in model_kwargs, else `DEFAULT_OUTPUT_CAP`, which is then sent with
the call). That amount is reserved while the call is in flight and settled to the real cost
after, so that calls in flight together (a batch, child runs) never pass the budget together.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rlm.events import BudgetStop, Status
from rlm.pricing import PriceTable


@dataclass
class TokenCounts:
    """Tokens of some model calls: prompt (cached included), completion, cached prompt, calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    # calls answered by the call cache: their tokens are not in the counts above (nothing was
    # sent or spent), and what they would have cost is saved_usd
    cache_hits: int = 0
    cache_hit_tokens: int = 0
    saved_usd: float = 0.0
    # calls sent to a model without a price: what they cost is unknown, not $0 (cost_usd
    # holds the priced calls only, and as_dict says null)
    unpriced_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def priced(self) -> bool:
        """Whether cost_usd is the whole cost (every call sent had a price)."""
        return not self.unpriced_calls

    def add(self, prompt: int, completion: int, cached: int, cost: float, *, from_cache: bool = False,
            priced: bool = True) -> None:
        self.calls += 1
        if from_cache:
            self.cache_hits += 1
            self.cache_hit_tokens += prompt + completion
            self.saved_usd += cost
            return
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cached_tokens += cached
        self.cost_usd += cost
        if not priced:
            self.unpriced_calls += 1

    def merge(self, other: TokenCounts) -> None:
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "calls", "cost_usd",
                     "cache_hits", "cache_hit_tokens", "saved_usd", "unpriced_calls"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens, "total_tokens": self.total_tokens,
            "calls": self.calls, "cost_usd": round(self.cost_usd, 6) if self.priced else None,
            "cache_hits": self.cache_hits, "cache_hit_tokens": self.cache_hit_tokens,
            "saved_usd": round(self.saved_usd, 6), "unpriced_calls": self.unpriced_calls,
        }


@dataclass
class Usage:
    """Usage of a run including its children: totals, per model and per depth (0 = root)."""

    total: TokenCounts = field(default_factory=TokenCounts)
    by_model: dict[str, TokenCounts] = field(default_factory=dict)
    by_depth: dict[int, TokenCounts] = field(default_factory=dict)

    def add(self, model: str, depth: int, prompt: int, completion: int, cached: int, cost: float, *,
            from_cache: bool = False, priced: bool = True) -> None:
        """One call; `from_cache`: answered by the call cache, `cost` what it would have cost;
        `priced`: whether the model has a price (else its cost is unknown)."""
        for counts in (self.total, self.by_model.setdefault(model, TokenCounts()),
                       self.by_depth.setdefault(depth, TokenCounts())):
            counts.add(prompt, completion, cached, cost, from_cache=from_cache, priced=priced)

    @property
    def cost_usd(self) -> float:
        """The cost of the priced calls (all of it when `priced`)."""
        return self.total.cost_usd

    @property
    def priced(self) -> bool:
        """Whether every call sent had a price, so that cost_usd is the whole cost."""
        return self.total.priced

    def merge(self, other: Usage) -> None:
        """Add another run's usage (a child's) to this one."""
        for mine, theirs in [(self.total, other.total)] + [
            (self.by_model.setdefault(m, TokenCounts()), c) for m, c in other.by_model.items()
        ] + [(self.by_depth.setdefault(d, TokenCounts()), c) for d, c in other.by_depth.items()]:
            mine.merge(theirs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total.as_dict(),
            "by_model": {m: c.as_dict() for m, c in self.by_model.items()},
            "by_depth": {str(d): c.as_dict() for d, c in sorted(self.by_depth.items())},
        }


CHARS_PER_TOKEN = 4
"""The estimate used wherever no tokenizer counts: about four characters a token."""


def estimate_tokens(text_or_chars: str | int) -> int:
    """Tokens in a text (or a number of characters), estimated as characters / 4, rounded up."""
    chars = text_or_chars if isinstance(text_or_chars, int) else len(text_or_chars)
    return max(1, -(-chars // CHARS_PER_TOKEN))


DEFAULT_OUTPUT_CAP = 16_384
"""The output cap sent with each call of a cost-budgeted run that sets none of its own."""
TEMPLATE_TOKENS = 16
"""Allowed per message, and once per request, for the chat template's own tokens."""


# a picture's prompt tokens at most where providers price them (OpenAI's high detail tops out
# near 1,100, Anthropic's near 1,600 for 1.15 megapixels; a page is drawn 1,600 pixels long)
IMAGE_TOKENS_BOUND = 3_000


def content_parts(content: Any) -> tuple[str, int]:
    """A message's text and its number of pictures (content as a str, or a list of parts)."""
    if isinstance(content, list):
        text = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return text, sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    return str(content or ""), 0


def prompt_tokens_bound(messages: list[dict[str, Any]]) -> int:
    """The most prompt tokens `messages` can be, whatever the model's tokenizer (a picture:
    IMAGE_TOKENS_BOUND)."""
    total = TEMPLATE_TOKENS
    for m in messages:
        text, pictures = content_parts(m.get("content"))
        total += TEMPLATE_TOKENS + len(text.encode("utf-8", "surrogatepass")) + pictures * IMAGE_TOKENS_BOUND
    return total


def output_cap(model_kwargs: Mapping[str, object]) -> int | None:
    """The output cap the user set in model_kwargs (max_completion_tokens, else max_tokens)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = model_kwargs.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


@dataclass(frozen=True)
class Reservation:
    """Money set aside for one call in flight: its worst-case cost."""

    usd: float


class Budget:
    """Limits shared by a root run and all its children, plus the usage they add up to.

    `exceeded()` names the first budget that ran out ("max_tokens", "max_cost",
    "max_wall_time", "max_sub_calls") or returns None. Updated from the event loop and read
    from bridge threads, so changes go through a lock.
    """

    def __init__(self, prices: PriceTable, *, max_tokens: int | None = None,
                 max_cost_usd: float | None = None, max_wall_s: float | None = None,
                 max_sub_calls: int | None = None, model_kwargs: Mapping[str, object] | None = None,
                 started: float | None = None) -> None:
        self.prices = prices
        user_cap = output_cap(model_kwargs or {})
        self.output_cap = user_cap or DEFAULT_OUTPUT_CAP
        # what each call must carry: the cap its worst case was counted with
        self.request_extra: dict[str, int] = (
            {"max_completion_tokens": DEFAULT_OUTPUT_CAP} if max_cost_usd is not None and user_cap is None else {})
        self.reserved_usd = 0.0
        self._settled: asyncio.Event | None = None
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        self.max_wall_s = max_wall_s
        self.max_sub_calls = max_sub_calls
        self.started = time.monotonic() if started is None else started  # the wall clock's start
        self.usage = Usage()
        self.sub_calls = 0
        self.sub_calls_refused = 0
        self.sub_calls_in_flight = 0
        self._lock = threading.Lock()

    def record(self, model: str, depth: int, prompt: int, completion: int, cached: int, *,
               from_cache: bool = False) -> float:
        """Count one call; returns what it cost (0 for a reply from the call cache)."""
        cost = self.prices.cost(model, prompt, completion, cached)
        priced = self.prices.get(model) is not None
        with self._lock:
            self.usage.add(model, depth, prompt, completion, cached, cost, from_cache=from_cache, priced=priced)
        return 0.0 if from_cache else cost

    def worst_case(self, model: str, messages: list[dict[str, Any]]) -> float:
        """The most a call of `model` with `messages` can cost (an unpriced model: 0)."""
        return self.prices.cost(model, prompt_tokens_bound(messages), self.output_cap)

    async def admit(self, model: str, messages: list[dict[str, Any]]) -> Reservation | None:
        """Reserve the worst-case cost of a call, waiting while calls in flight hold what it
        needs; None when it cannot fit even once they settle (no call may be made)."""
        if self.max_cost_usd is None:
            return Reservation(0.0)
        worst = self.worst_case(model, messages)
        while True:
            with self._lock:
                spent = self.usage.total.cost_usd
                if spent + worst > self.max_cost_usd:
                    return None
                if spent + self.reserved_usd + worst <= self.max_cost_usd:
                    self.reserved_usd += worst
                    return Reservation(worst)
            if self._settled is None:
                self._settled = asyncio.Event()
            await self._settled.wait()

    def settle(self, reservation: Reservation | None) -> None:
        """A call admitted with `reservation` is over (its real cost already recorded)."""
        if reservation is None or not reservation.usd:
            return
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reservation.usd)
        if self._settled is not None:  # wake the calls waiting for room
            self._settled.set()
            self._settled = None

    def claim_sub_call(self) -> BudgetStop | None:
        """Count one sub-call about to be made, or name the budget that forbids it (a token,
        cost or time budget already spent, else "max_sub_calls" when none is left)."""
        spent = self.exceeded(sub_calls=False)
        if spent is not None:
            return spent
        with self._lock:
            if self.max_sub_calls is not None and self.sub_calls >= self.max_sub_calls:
                self.sub_calls_refused += 1
                return Status.MAX_SUB_CALLS
            self.sub_calls += 1
            return None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wall_left(self) -> float | None:
        return None if self.max_wall_s is None else self.max_wall_s - self.elapsed()

    def exceeded(self, *, sub_calls: bool = True) -> BudgetStop | None:
        u = self.usage.total
        if self.max_tokens is not None and u.total_tokens >= self.max_tokens:
            return Status.MAX_TOKENS
        if self.max_cost_usd is not None and u.cost_usd >= self.max_cost_usd:
            return Status.MAX_COST
        if self.max_wall_s is not None and self.elapsed() >= self.max_wall_s:
            return Status.MAX_WALL_TIME
        if sub_calls and self.sub_calls_refused:
            return Status.MAX_SUB_CALLS  # spent, and something was refused for it
        return None

    def describe_left(self) -> str:
        """One line of what is left of each set budget, for the model's "now" block."""
        parts = []
        u = self.usage.total
        if self.max_tokens is not None:
            parts.append(f"tokens {max(0, self.max_tokens - u.total_tokens):,} of {self.max_tokens:,}")
        if self.max_cost_usd is not None:
            parts.append(f"cost ${max(0.0, self.max_cost_usd - u.cost_usd):.4f} of ${self.max_cost_usd:g}")
        if self.max_wall_s is not None:
            parts.append(f"time {max(0.0, self.max_wall_s - self.elapsed()):.0f} s of {self.max_wall_s:g} s")
        if self.max_sub_calls is not None:
            parts.append(f"sub-calls {max(0, self.max_sub_calls - self.sub_calls):,} of {self.max_sub_calls:,}")
        return "; ".join(parts) if parts else "no token, cost or time limit"
