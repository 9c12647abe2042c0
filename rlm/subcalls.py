"""The sub-call server of one run: answers the requests its kernel sends through the query
tools. `llm_query` goes to the tree's broker; `rlm_query` starts child runs (one depth down,
sharing the budget), or, at the depth limit, becomes an `llm_query` of the prompt followed by
the context. A sub-context that came as an open file is copied once into a host-private
scratch directory, by offset through the descriptor, before a child run loads it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm.errors import RLMError
from rlm.inputs import Context
from rlm.tools import SUBCONTEXT_KEY
from sandbox import HostRequest
from sandbox.context import copy_range

if TYPE_CHECKING:
    from rlm._run import Run
    from rlm.results import RunResult

MAX_SUBCONTEXT_BYTES = 8 * 2**30
# A child run's question when rlm_query got no context: the prompt is the context, and the
# question says so once it is too long to repeat.
_INLINE_QUERY_CHARS = 2000

ChildStarter = Callable[[Context, str], "Run"]


class SubCallServer:
    """Serves `run`'s kernel requests for sub-calls; `start_child(context, query)` makes the
    child run of an `rlm_query` (not started)."""

    def __init__(self, run: Run, start_child: ChildStarter) -> None:
        self.run = run
        self.tree = run.tree
        self.config = run.config
        self._start_child = start_child

    def handle(self, request: HostRequest) -> list[str]:
        """On a bridge thread: hop onto the run's event loop and wait for the answers."""
        return asyncio.run_coroutine_threadsafe(self.serve(request), self.tree.loop).result()

    async def serve(self, request: HostRequest) -> list[str]:
        prompts = list(request.args.get("prompts") or [])
        if not self.config.sub_calls:
            return [f"[{request.op} error: sub-calls are disabled in this run]"] * len(prompts)
        if request.op == "llm_query":
            return await self.llm(prompts, request.args.get("model"), request.cell)
        contexts = list(request.args.get("contexts") or [None] * len(prompts))
        if len(contexts) != len(prompts):
            raise ValueError("rlm_query: contexts must pair one to one with prompts")
        scratch = Path(tempfile.mkdtemp(prefix="rlm-subctx-", dir=self.config.sandbox.work_root))
        try:
            received = [await _received(c, request.fds, scratch) for c in contexts]
            pairs = list(zip(prompts, received, strict=True))
            if self.run.depth + 1 >= self.config.max_depth:
                merged = [p if c is None else f"{p}\n\n{await asyncio.to_thread(c.as_text)}" for p, c in pairs]
                return await self.llm(merged, None, request.cell)
            return list(await asyncio.gather(*(self._child(p, c, request.cell) for p, c in pairs)))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def llm(self, prompts: list[str], model: Any, cell: int) -> list[str]:
        self.run.sub_calls += len(prompts)
        return await self.tree.broker.query(
            prompts, model=model if isinstance(model, str) else None, depth=self.run.depth + 1,
            cell=cell, emit=self._emit_sub_call,
        )

    def _emit_sub_call(self, event: dict[str, Any]) -> None:
        if "prompt_tokens" in event:
            self.run.usage.add(event["model"], event["depth"], event["prompt_tokens"],
                               event["completion_tokens"], event.get("cached_tokens", 0), event["cost_usd"])
        self.run.emit(event)

    async def _child(self, prompt: str, context: Context | None, cell: int) -> str:
        run = self.run
        spent = self.tree.budget.claim_sub_call()
        if spent is not None:
            return f"[rlm_query error: the {spent} budget is spent; no sub-run was started]"
        run.sub_calls += 1
        if context is None:
            query = prompt if len(prompt) <= _INLINE_QUERY_CHARS else (
                f"The task is written in the variable `context` ({len(prompt):,} characters): read it first.")
            context = Context(prompt, "text")
        else:
            query = prompt
        async with self.tree.slots_for(run.depth + 1):
            self.tree.status.child_runs += 1
            child = self._start_child(context, query)
            run.children.append(child.run_id)
            run.emit({"event": "child_run", "cell": cell, "child_run_id": child.run_id,
                      "trajectory": str(child.trajectory.path) if child.trajectory.path else None,
                      "prompt_chars": len(prompt)})
            try:
                result: RunResult = await child.execute()
            except RLMError as exc:
                return f"[rlm_query error: the sub-run could not start: {exc}]"
            finally:
                self.tree.status.child_runs -= 1
        run.usage.merge(result.usage)
        run.emit({"event": "child_done", "child_run_id": child.run_id, "status": result.status,
                  "answer_chars": len(result.answer or ""), "cost_usd": round(result.cost_usd, 6)})
        if result.answer is None:
            return f"[rlm_query error: the sub-run ended with status {result.status} and no answer]"
        return result.answer


async def _received(context: Any, fds: list[int], scratch: Path) -> Context | None:
    """A sub-context as a Context (None when there is none); one that came as an open file
    becomes a host-private copy (a Path)."""
    if not (isinstance(context, dict) and set(context) == {SUBCONTEXT_KEY}):
        return Context.maybe(context)
    index = context[SUBCONTEXT_KEY]
    if not isinstance(index, int) or not 0 <= index < len(fds):
        raise ValueError("rlm_query: a sub-context file is missing")
    return Context(await asyncio.to_thread(_copy_received_file, fds[index], scratch), "path")


def _copy_received_file(fd: int, scratch: Path) -> Path:
    """Copy a file the kernel sent into `scratch`, reading by offset through the descriptor
    (never reopening a path the kernel could have swapped for a link)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("rlm_query: a sub-context must be a regular file")
    if info.st_size > MAX_SUBCONTEXT_BYTES:
        raise ValueError(f"rlm_query: a sub-context of {info.st_size:,} bytes is over the "
                         f"{MAX_SUBCONTEXT_BYTES:,}-byte limit")
    out_fd, name = tempfile.mkstemp(suffix=".txt", dir=scratch)
    try:
        copy_range(fd, out_fd, info.st_size, src_offset=0)
    finally:
        os.close(out_fd)
    return Path(name)
