"""Every error the controller raises, under the product's one base class.

RLMError
 +-- SandboxError             the sandbox failed (also a sandbox.SandboxError)
 |    +-- ContextError        a context cannot be used: missing path, binary, bad UTF-8, empty
 +-- ConfigError              bad settings: no model, no API key, a bad rlm.toml, a bad budget
 +-- ModelError               the model endpoint failed (unreachable, refused the key, kept failing)
 +-- BudgetExceeded           a budget ran out; carries the partial answer
 (rlm.notes adds NotesError and NotesRefused)

ConfigWarning (a UserWarning): an untrusted project rlm.toml asked for settings it may not set.
CacheWarning (a UserWarning): the call cache's file was unreadable; it was moved aside.

A run that ends early because of a budget or a model failure does not raise from
`RLM.completion`: it returns a RunResult whose `status` names the reason (call
`result.raise_for_status()` to turn that into BudgetExceeded / ModelError / SandboxError).
ConfigError and ModelError are also raised before a run starts (settings, preflight check).
Errors of the sandbox layer are translated here (`from_sandbox`), at the boundary.
"""

from __future__ import annotations

import sandbox.errors as _sandbox


class RLMError(Exception):
    """Base of every error this product raises on purpose."""


class SandboxError(RLMError, _sandbox.SandboxError):
    """The sandbox could not do what was asked (the kernel did not start, a context failed...)."""


class ContextError(SandboxError, _sandbox.ContextError, ValueError):
    """Bad input: a context that cannot be used (a missing path, a binary or undecodable file,
    empty input) or an empty question."""


class ConfigWarning(UserWarning):
    """Settings of a project's rlm.toml were ignored: it is not trusted (see `rlm.trust`)."""


class CacheWarning(UserWarning):
    """The call cache's file could not be read as one (a damaged or foreign file): it was moved
    aside and a new, empty cache started."""


class ConfigError(RLMError):
    """The settings cannot work: missing model or key, unreadable rlm.toml, bad budget values.

    `cli_message`: the same advice in the words of the `rlm` command (options, not parameters)."""

    def __init__(self, message: str, *, cli_message: str | None = None) -> None:
        super().__init__(message)
        self.cli_message = cli_message


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


def error_words(exc: BaseException) -> str:
    """What to say of `exc` after "failed: ": its message, else its kind (some errors, a
    cancellation or a bare OSError, carry no words of their own)."""
    return str(exc).strip() or type(exc).__name__


def from_sandbox(exc: _sandbox.SandboxError) -> SandboxError:
    """The controller's error for an error of the sandbox layer (raise it `from exc`)."""
    if isinstance(exc, SandboxError):
        return exc
    cls = ContextError if isinstance(exc, _sandbox.ContextError) else SandboxError
    return cls(str(exc))


__all__ = ["BudgetExceeded", "CacheWarning", "ConfigError", "ContextError", "ModelError", "RLMError", "SandboxError",
           "error_words", "from_sandbox"]
