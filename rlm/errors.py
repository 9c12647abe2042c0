"""Errors the controller raises, under the product's one base class.

RLMError                      (sandbox.errors)
 +-- SandboxError ...         (sandbox.errors: KernelStartError, ContextError, SandboxClosed)
 +-- ConfigError              bad settings: no model, no API key, a bad rlm.toml, a bad budget
 +-- ModelError               the model endpoint failed (unreachable, refused the key, kept failing)
 +-- BudgetExceeded           a budget ran out; carries the partial answer

A run that ends early because of a budget or a model failure does not raise from
`RLM.completion`: it returns a RunResult whose `status` names the reason (call
`result.raise_for_status()` to turn that into BudgetExceeded / ModelError / SandboxError).
ConfigError and ModelError are also raised before a run starts (settings, preflight check).
"""

from __future__ import annotations

from sandbox.errors import ContextError, RLMError, SandboxError


class ConfigError(RLMError):
    """The settings cannot work: missing model or key, unreadable rlm.toml, bad budget values."""


class ModelError(RLMError):
    """The model endpoint could not be used: unreachable, key refused, or failing after retries."""

    def __init__(self, message: str, *, status_code: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable


class BudgetExceeded(RLMError):
    """A budget (iterations, tokens, cost, wall time, sub-calls) ran out.

    `budget` is the status name (e.g. "max_cost"); `partial_answer` the best answer so far.
    """

    def __init__(self, budget: str, message: str, partial_answer: str | None = None) -> None:
        super().__init__(message)
        self.budget = budget
        self.partial_answer = partial_answer


__all__ = ["BudgetExceeded", "ConfigError", "ContextError", "ModelError", "RLMError", "SandboxError"]
