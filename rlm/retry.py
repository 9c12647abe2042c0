"""When to try a model request again, and how long to wait first: exponential backoff with
full jitter, honouring the server's `Retry-After` (bounded), within the time the caller has
left. What is worth retrying is the SDK adapter's call (`rlm.sdk_adapter.describe`)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """`max_retries` retries after the first attempt; waits of up to `base_s * 2**n`, never
    over `max_s` (a server's own Retry-After may ask for up to max(max_s, 60) s)."""

    max_retries: int = 6
    base_s: float = 0.5
    max_s: float = 30.0

    def gives_up(self, attempt: int, retryable: bool, retries: int | None = None) -> bool:
        """Whether attempt number `attempt` (from 1), which failed, is the last."""
        return not retryable or attempt > (self.max_retries if retries is None else retries)

    def delay(self, attempt: int, server_asked: float | None, deadline: float | None) -> float:
        """How long to wait after failed attempt `attempt`, within `deadline` (monotonic)."""
        if server_asked is None:
            wait = random.uniform(0, min(self.max_s, self.base_s * 2 ** (attempt - 1)))
        else:
            wait = min(server_asked, max(self.max_s, 60.0))
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - time.monotonic()))
        return wait
