"""The sandbox's exceptions (host side).

SandboxError                 anything the sandbox could not do
 +-- KernelStartError   the kernel did not come up (the launcher's log is in the message)
 +-- ContextError       a context could not be loaded (missing path, binary, bad UTF-8...)
 +-- SandboxClosed      the sandbox was used after close()

Faults of *model code* (exceptions, timeouts, crashes of the kernel) are not raised: they
come back in `ExecResult.error`, because the model must see them and carry on.
The controller (`rlm`) translates these into its own errors, under `rlm.RLMError`, at its
boundary; its classes also inherit from these, so `except sandbox.ContextError` still works.
"""

from __future__ import annotations


class SandboxError(Exception):
    """The sandbox could not do what was asked."""


class KernelStartError(SandboxError):
    """The kernel process did not start or did not answer in time."""


class ContextError(SandboxError):
    """A context could not be loaded into the kernel."""


class SandboxClosed(SandboxError):
    """The sandbox was used after it was closed."""


class IsolationWarning(UserWarning):
    """An OS isolation layer is unavailable on this machine; the sandbox goes on without it."""
