"""An isolated Python kernel that holds huge contexts as variables for model-written code.

    from sandbox import Sandbox
    with Sandbox() as sb:
        sb.load_context(Path("corpus.txt"))
        result = sb.execute("print(len(context))")

See ../shared/design/SANDBOX.md for the isolation layers and `Sandbox.isolation()`.
"""

from sandbox._runtime import cap_text
from sandbox._sandbox import HostCallback, Sandbox
from sandbox.config import SandboxConfig
from sandbox.errors import (
    ContextError,
    IsolationWarning,
    KernelStartError,
    RLMError,
    SandboxClosed,
    SandboxError,
)
from sandbox.results import (
    ContextInfo,
    ExecResult,
    HostRequest,
    IsolationLayer,
    IsolationReport,
    VariableInfo,
)

__all__ = [
    "ContextError",
    "ContextInfo",
    "ExecResult",
    "HostCallback",
    "HostRequest",
    "IsolationLayer",
    "IsolationReport",
    "IsolationWarning",
    "KernelStartError",
    "RLMError",
    "Sandbox",
    "SandboxClosed",
    "SandboxConfig",
    "SandboxError",
    "VariableInfo",
    "cap_text",
]
