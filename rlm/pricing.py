"""Prices per model (USD per million tokens) and the cost of a model call.

The table holds list prices of common hosted models as of late 2025, by exact name (a model
that is not listed is unpriced, never priced as a listed name it starts with); override or extend it
with `RLM(prices={...})` or a `[prices."model"]` table in rlm.toml. Models not in the table
(local vLLM, llama.cpp, Ollama) are unpriced unless priced here: their cost is unknown, and
is shown as "unpriced" (`cost_text`) or null in JSON, never as $0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rlm.errors import ConfigError


@dataclass(frozen=True)
class Price:
    """USD per million tokens: prompt (`input`), prompt served from cache, and completion."""

    input: float
    cached_input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        cached = min(cached_tokens, prompt_tokens)
        return (
            (prompt_tokens - cached) * self.input
            + cached * self.cached_input
            + completion_tokens * self.output
        ) / 1_000_000


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": Price(1.25, 0.125, 10.0),
    "gpt-5-mini": Price(0.25, 0.025, 2.0),
    "gpt-5-nano": Price(0.05, 0.005, 0.40),
    "gpt-5-pro": Price(15.0, 15.0, 120.0),
    "gpt-4.1": Price(2.0, 0.50, 8.0),
    "gpt-4.1-mini": Price(0.40, 0.10, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.025, 0.40),
    "gpt-4o": Price(2.50, 1.25, 10.0),
    "gpt-4o-2024-05-13": Price(5.0, 5.0, 15.0),  # the first gpt-4o snapshot: dearer than gpt-4o
    "gpt-4o-mini": Price(0.15, 0.075, 0.60),
    "o1": Price(15.0, 7.50, 60.0),
    "o3": Price(2.0, 0.50, 8.0),
    "o3-pro": Price(20.0, 20.0, 80.0),
    "o3-mini": Price(1.10, 0.55, 4.40),
    "o4-mini": Price(1.10, 0.275, 4.40),
}


def parse_price(model: str, value: Any) -> Price:
    """A Price from a Price, a mapping with input/output (and optional cached_input), or a
    2- or 3-tuple (input, output) / (input, cached_input, output)."""
    if isinstance(value, Price):
        return value
    try:
        if isinstance(value, Mapping):
            unknown = set(value) - {"input", "cached_input", "output"}
            if unknown:
                raise ConfigError(f"price of {model!r}: unknown keys {sorted(unknown)}")
            inp, out = float(value["input"]), float(value["output"])
            cached = float(value.get("cached_input", inp))
        elif isinstance(value, (list, tuple)) and len(value) in (2, 3):
            nums = [float(v) for v in value]
            inp, out = nums[0], nums[-1]
            cached = nums[1] if len(nums) == 3 else inp
        else:
            raise ConfigError(
                f"price of {model!r} must be {{input, output[, cached_input]}} in USD per million tokens"
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"price of {model!r} is malformed: {exc}") from None
    if min(inp, cached, out) < 0:
        raise ConfigError(f"price of {model!r} must not be negative")
    return Price(inp, cached, out)


_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class PriceTable:
    """Looks up a model's price by its exact name, which may carry a provider prefix
    ("openai/gpt-5") and a dated-snapshot suffix ("gpt-4o-2024-08-06"): nothing else. A name
    is never priced as another one that merely starts it ("gpt-5-pro" is not "gpt-5")."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES)
        if overrides is not None and not isinstance(overrides, Mapping):
            raise ConfigError(f"prices must map model names to prices, not {type(overrides).__name__}")
        for model, value in (overrides or {}).items():
            self.prices[model] = parse_price(model, value)

    def get(self, model: str) -> Price | None:
        base = model.rsplit("/", 1)[-1]
        for name in (model, base, _SNAPSHOT.sub("", model), _SNAPSHOT.sub("", base)):
            if name in self.prices:
                return self.prices[name]
        return None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        price = self.get(model)
        return price.cost(prompt_tokens, completion_tokens, cached_tokens) if price else 0.0


def cost_text(cost_usd: float | None, priced: bool = True) -> str:
    """A cost for people: "$0.0123"; "unpriced" when it is unknown (`cost_usd` None, or no call
    had a price); "$0.0123 + unpriced" when some calls had a price and others none."""
    if cost_usd is None or (not priced and not cost_usd):
        return "unpriced"
    money = f"${cost_usd:.4f}" if cost_usd < 10 else f"${cost_usd:,.2f}"
    return money if priced else f"{money} + unpriced"
