"""What the helpers of a run (the sub-call server, the notes hook) may use of it: a Protocol,
so that they depend on this and not on the turn loop's module (`rlm._run.Run` is the one
class that has these)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rlm.client import Completion
    from rlm.config import RLMConfig
    from rlm.events import Event
    from rlm.history import History
    from rlm.results import RunResult
    from rlm.trajectory import Trajectory
    from rlm.tree import Tree
    from rlm.usage import Usage
    from sandbox import ExecResult, SandboxBackend


class RunHandle(Protocol):
    tree: Tree
    config: RLMConfig
    run_id: str
    query: str
    depth: int
    iterations: int
    sub_calls: int
    usage: Usage
    children: list[str]
    flagged_replies: set[str]
    pending_notes: list[str]
    cell_code: str | None  # the code of the cell running now
    history: History | None
    sandbox: SandboxBackend | None
    trajectory: Trajectory

    @property
    def sb(self) -> SandboxBackend: ...

    def emit(self, event: Event) -> None: ...

    async def blocking(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def phase(self, phase: str) -> None: ...

    def closing_timeout(self) -> float: ...

    async def model_call(self, messages: list[dict[str, str]], turn: int | str, *,
                         timeout_s: float | None = None, retries: int | None = None) -> Completion: ...

    async def run_cell(self, code: str, turn: int | str, index: int) -> ExecResult: ...

    async def execute(self) -> RunResult: ...
