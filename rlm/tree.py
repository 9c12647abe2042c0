"""What a root run and all its children share: settings, clients, the budget, the sub-call
broker, the live status, the child-run slots per depth and the notes settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlm.broker import AdaptiveLimiter, Broker
from rlm.client import ModelClient
from rlm.config import RLMConfig
from rlm.notes import NotesSettings
from rlm.results import RunStatus
from rlm.trajectory import ByteBudget
from rlm.usage import Budget
from rlm.user_tools import UserTool

EventCallback = Callable[[dict[str, Any], RunStatus], None]


@dataclass
class Tree:
    """What a root run and all its children share."""

    config: RLMConfig
    root_client: ModelClient
    sub_client: ModelClient
    budget: Budget
    broker: Broker
    loop: asyncio.AbstractEventLoop
    on_event: EventCallback | None = None
    status: RunStatus = field(default_factory=RunStatus)
    child_slots: dict[int, asyncio.Semaphore] = field(default_factory=dict)
    notes: NotesSettings | None = None
    trajectory_budget: ByteBudget | None = None  # the bytes all the tree's trajectories may write
    tools: list[UserTool] = field(default_factory=list)  # the user's, in every run of the tree
    tool_calls: int = 0  # made by every run of the tree (max_tool_calls bounds them together)

    @classmethod
    def create(cls, config: RLMConfig, root_client: ModelClient, sub_client: ModelClient,
               on_event: EventCallback | None, started: float | None = None,
               tools: list[UserTool] | None = None,
               routes: dict[str, tuple[ModelClient, str]] | None = None) -> Tree:
        """`started`: the monotonic time the wall budget counts from (default now)."""
        budget = Budget(config.price_table(), max_tokens=config.max_tokens,
                        max_cost_usd=config.max_cost_usd, max_wall_s=config.max_wall_s,
                        max_sub_calls=config.max_sub_calls, model_kwargs=config.model_kwargs,
                        started=started)
        limiter = AdaptiveLimiter(config.max_concurrency)
        broker = Broker(sub_client, config.effective_sub_model, budget, limiter, config.allowed_models, routes)
        notes = None
        if config.notes_dir is not None:
            notes = NotesSettings(config.notes_dir, memory_chars=config.memory_chars,
                                  memory_tokens=config.memory_tokens, doc_chars=config.doc_chars,
                                  end_turn=config.notes_turn)
        return cls(config, root_client, sub_client, budget, broker, asyncio.get_running_loop(),
                   on_event, RunStatus(max_turns=config.max_iterations), notes=notes,
                   trajectory_budget=ByteBudget(config.trajectory_bytes), tools=list(tools or []))

    def slots_for(self, depth: int) -> asyncio.Semaphore:
        # one semaphore per depth: a parent waiting on its children never holds their slots
        if depth not in self.child_slots:
            self.child_slots[depth] = asyncio.Semaphore(self.config.max_children)
        return self.child_slots[depth]

    def refresh_status(self) -> RunStatus:
        s, u = self.status, self.budget.usage.total
        s.sub_calls_done = self.broker.done
        pending = self.budget.sub_calls_in_flight  # asked for and not answered yet
        s.sub_calls_in_flight = min(pending, self.broker.limiter.in_use)
        s.sub_calls_queued = pending - s.sub_calls_in_flight
        s.cache_hits = self.budget.usage.total.cache_hits
        s.started_monotonic = self.budget.started
        s.prompt_tokens, s.completion_tokens, s.cost_usd = u.prompt_tokens, u.completion_tokens, u.cost_usd
        s.unpriced = not u.priced
        s.elapsed_s = self.budget.elapsed()
        by_model = self.budget.usage.by_model
        s.named_tokens = {n: by_model[n].total_tokens for n in self.config.named_models if n in by_model}
        return s
