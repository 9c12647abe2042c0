"""What a run returns, and the live status a progress display reads."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm import events
from rlm.evidence import Evidence
from rlm.usage import Usage


@dataclass
class RunResult:
    """The outcome of `RLM.completion`.

    answer: the final answer; after a budget stop, the best partial answer (or None).
    status: "ok", or what ended the run: "max_iterations", "max_tokens", "max_cost",
        "max_wall_time", "max_sub_calls", "model_error", "sandbox_error", "cancelled" (and
        "error" in a trajectory whose run raised, e.g. a notes store that could not open);
        rlm.events.RunStatus, with the names in rlm.events.Status.
    usage: tokens of this run and everything it started (sub-calls, child runs), per model
        and per depth.
    cost_usd: the same usage priced with the price table (the priced calls only: see `priced`).
    run_id / trajectory_path: where the run's events are (None when trajectories are off).
    iterations: model turns taken by this run (not counting its children).
    replayed_turns: of those, the turns answered from the call cache (a resumed run's replay).
    resumed_from: the run this one resumed (`RLM.resume`), else None.
    error: the failure's message when status is model_error or sandbox_error.
    value: with `schema=`, the answer validated against it (a model instance for a pydantic
        model or a dataclass, else the parsed JSON); None without a schema or when the answer
        given at a budget stop does not fit (then `value_error` says what failed).
    evidence: the passages the run's code cited (`cite`), each checked on the host against the
        context's own bytes: document, byte range, lines, page and the quote (rlm.Evidence).
    """

    answer: str | None
    status: events.RunStatus
    usage: Usage
    cost_usd: float
    run_id: str
    trajectory_path: Path | None
    iterations: int = 0
    wall_s: float = 0.0
    sub_calls: int = 0
    error: str | None = None
    children: list[str] = field(default_factory=list)
    replayed_turns: int = 0
    resumed_from: str | None = None
    value: Any = None
    value_error: str | None = None
    value_json: Any = None  # `value` as plain JSON data
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == events.Status.OK

    @property
    def priced(self) -> bool:
        """Whether every model call had a price: else the cost is unknown (as_dict says null)."""
        return self.usage.priced

    def raise_for_status(self) -> RunResult:
        """Return self when the run answered; raise BudgetExceeded (carrying the partial
        answer) after a budget stop, ModelError / SandboxError / RLMError after a failure."""
        from rlm.errors import BudgetExceeded, ModelError, RLMError, SandboxError

        if self.status == events.Status.OK:
            return self
        if self.status in events.BUDGET_STOPS:
            raise BudgetExceeded(self.status, f"the {self.status} budget ended run {self.run_id}",
                                 partial_answer=self.answer)
        message = f"run {self.run_id} ended with {self.status}: {self.error}"
        if self.status == events.Status.MODEL_ERROR:
            raise ModelError(message)
        if self.status == events.Status.SANDBOX_ERROR:
            raise SandboxError(message)
        raise RLMError(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "status": self.status,
            "usage": self.usage.as_dict(),
            "cost_usd": round(self.cost_usd, 6) if self.priced else None,
            "run_id": self.run_id,
            "trajectory_path": str(self.trajectory_path) if self.trajectory_path else None,
            "iterations": self.iterations,
            "wall_s": round(self.wall_s, 3),
            "sub_calls": self.sub_calls,
            "error": self.error,
            "children": self.children,
            "replayed_turns": self.replayed_turns,
            "resumed_from": self.resumed_from,
            "value": self.value_json,
            "value_error": self.value_error,
            "evidence": [e.as_dict() for e in self.evidence],
        }


@dataclass
class RunStatus:
    """A live view of a run tree for progress displays; read it from any thread. (What a run
    ends with is RunResult.status, an rlm.events.RunStatus.)"""

    turn: int = 0
    max_turns: int = 0
    sub_calls_done: int = 0
    sub_calls_in_flight: int = 0  # holding a concurrency slot: sent to the endpoint
    sub_calls_queued: int = 0  # asked for by the code, waiting for a slot
    cache_hits: int = 0
    child_runs: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: bool = False  # a call went to a model without a price: the cost is not all known
    elapsed_s: float = 0.0
    phase: str = "starting"
    # time.monotonic() when the run started (0: not yet) and whether it has ended, so that a
    # display can keep the clock going between events (a cell may run for minutes)
    started_monotonic: float = 0.0
    ended: bool = False
    named_tokens: dict[str, int] = field(default_factory=dict)  # tokens of each named model so far

    def elapsed_now(self) -> float:
        """Seconds since the run started, read now (elapsed_s is as of the last event)."""
        if self.ended or not self.started_monotonic:
            return self.elapsed_s
        return max(self.elapsed_s, time.monotonic() - self.started_monotonic)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
