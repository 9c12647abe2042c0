"""The exception hierarchy shared by the whole product.

RLMError
 +-- SandboxError            anything the sandbox could not do
      +-- KernelStartError   the kernel did not come up (the launcher's log is in the message)
      +-- ContextError       a context could not be loaded (missing path, binary, bad UTF-8...)
      +-- SandboxClosed      the sandbox was used after close()

Faults of *model code* (exceptions, timeouts, crashes of the kernel) are not raised: they
come back in `ExecResult.error`, because the model must see them and carry on.
"""

from __future__ import annotations


class RLMError(Exception):
    """Base of every error this product raises on purpose."""


class SandboxError(RLMError):
    """The sandbox could not do what was asked."""


class KernelStartError(SandboxError):
    """The kernel process did not start or did not answer in time."""


class ContextError(SandboxError):
    """A context could not be loaded into the kernel."""


class SandboxClosed(SandboxError):
    """The sandbox was used after it was closed."""


class IsolationWarning(UserWarning):
    """An OS isolation layer is unavailable on this machine; the sandbox goes on without it."""
