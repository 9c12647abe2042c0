"""The RLM controller: a model explores a huge context with code in a sandboxed kernel.

    from rlm import RLM
    result = RLM(model="gpt-5-mini").completion(Path("corpus/"), "question")
    result.answer, result.status, result.usage, result.cost_usd, result.trajectory_path

ARCHITECTURE.md (at the top of the repository) shows the layers, the loop and where to add things.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlm._rlm import RLM
    from rlm.client import Completion, ModelClient
    from rlm.config import RLMConfig, user_dir
    from rlm.errors import BudgetExceeded, ConfigError, ConfigWarning, ContextError, ModelError, RLMError, SandboxError
    from rlm.evidence import Evidence
    from rlm.mcp_tools import McpServer
    from rlm.pricing import Price, PriceTable
    from rlm.results import RunResult, RunStatus
    from rlm.session import Session
    from rlm.trajectory import append_jsonl, read_jsonl, read_trajectory
    from rlm.usage import CHARS_PER_TOKEN, TokenCounts, Usage, estimate_tokens
    from rlm.user_tools import UserTool
    from sandbox import SandboxConfig

# where each public name lives: imported on first use, so that `import rlm.terminal_text` (the
# CLI's printer) does not start the whole controller and its kernel client (about 0.9 s)
_WHERE = {
    "RLM": "rlm._rlm", "Completion": "rlm.client", "ModelClient": "rlm.client",
    "RLMConfig": "rlm.config", "user_dir": "rlm.config", "BudgetExceeded": "rlm.errors",
    "ConfigError": "rlm.errors", "ConfigWarning": "rlm.errors", "ContextError": "rlm.errors",
    "ModelError": "rlm.errors", "RLMError": "rlm.errors", "SandboxError": "rlm.errors",
    "Price": "rlm.pricing", "PriceTable": "rlm.pricing", "RunResult": "rlm.results",
    "RunStatus": "rlm.results", "append_jsonl": "rlm.trajectory", "read_jsonl": "rlm.trajectory",
    "read_trajectory": "rlm.trajectory", "CHARS_PER_TOKEN": "rlm.usage", "TokenCounts": "rlm.usage",
    "Usage": "rlm.usage", "estimate_tokens": "rlm.usage", "SandboxConfig": "sandbox",
    "Session": "rlm.session", "UserTool": "rlm.user_tools", "McpServer": "rlm.mcp_tools",
    "Evidence": "rlm.evidence",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rlm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "CHARS_PER_TOKEN",
    "RLM",
    "BudgetExceeded",
    "Completion",
    "Evidence",
    "ConfigError",
    "ConfigWarning",
    "ContextError",
    "ModelClient",
    "ModelError",
    "Price",
    "PriceTable",
    "RLMConfig",
    "RLMError",
    "RunResult",
    "RunStatus",
    "SandboxConfig",
    "Session",
    "UserTool",
    "McpServer",
    "SandboxError",
    "TokenCounts",
    "Usage",
    "estimate_tokens",
    "append_jsonl",
    "read_jsonl",
    "read_trajectory",
    "user_dir",
]
