"""The RLM controller: a model explores a huge context with code in a sandboxed kernel.

    from rlm import RLM
    result = RLM(model="gpt-5-mini").completion(Path("corpus/"), "question")
    result.answer, result.status, result.usage, result.cost_usd, result.trajectory_path

ARCHITECTURE.md (at the top of the repository) shows the layers, the loop and where to add things.
"""

from rlm._rlm import RLM
from rlm.client import Completion, ModelClient
from rlm.config import RLMConfig, user_dir
from rlm.errors import BudgetExceeded, ConfigError, ConfigWarning, ContextError, ModelError, RLMError, SandboxError
from rlm.pricing import Price, PriceTable
from rlm.results import RunResult, RunStatus
from rlm.trajectory import append_jsonl, read_jsonl, read_trajectory
from rlm.usage import CHARS_PER_TOKEN, TokenCounts, Usage, estimate_tokens
from sandbox import SandboxConfig

__all__ = [
    "CHARS_PER_TOKEN",
    "RLM",
    "BudgetExceeded",
    "Completion",
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
    "SandboxError",
    "TokenCounts",
    "Usage",
    "estimate_tokens",
    "append_jsonl",
    "read_jsonl",
    "read_trajectory",
    "user_dir",
]
