"""An isolated Python kernel that holds huge contexts as variables for model-written code.

    from sandbox import Sandbox
    with Sandbox() as sb:
        sb.load_context(Path("corpus.txt"))
        result = sb.execute("print(len(context))")

The package shows the isolation boundary: `sandbox/kernel/` runs inside the kernel process;
`launcher` runs between (it applies the OS layers, then becomes the kernel); everything else
runs on the host. `open_sandbox(config)` builds the sandbox of the backend the config names
(`sandbox.backend`; `Sandbox` is the built-in one). `isolation()` (and `rlm sandbox check`)
reports each OS layer.
"""

from sandbox.backend import SandboxBackend, backend_names, open_sandbox, register_backend
from sandbox.channel import close_thread_loop
from sandbox.config import SandboxConfig
from sandbox.context_reader import ContextReader, DocumentSpan
from sandbox.errors import (
    ContextError,
    IsolationWarning,
    KernelStartError,
    SandboxClosed,
    SandboxError,
)
from sandbox.host import Sandbox
from sandbox.kernel.caps import cap_text
from sandbox.results import (
    ContextInfo,
    ExecResult,
    HostRequest,
    IsolationLayer,
    IsolationReport,
    VariableInfo,
    Variables,
)
from sandbox.tools import ToolHandler, Tools

__all__ = [
    "close_thread_loop",
    "ContextError",
    "ContextReader",
    "DocumentSpan",
    "ContextInfo",
    "ExecResult",
    "HostRequest",
    "IsolationLayer",
    "IsolationReport",
    "IsolationWarning",
    "KernelStartError",
    "Sandbox",
    "SandboxBackend",
    "SandboxClosed",
    "SandboxConfig",
    "SandboxError",
    "ToolHandler",
    "Tools",
    "VariableInfo",
    "Variables",
    "backend_names",
    "cap_text",
    "open_sandbox",
    "register_backend",
]
