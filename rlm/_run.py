"""One run of the loop: a sandbox, a bounded conversation with the root model, sub-calls.

`Tree` holds what a root run shares with its children (budget, broker, clients, limits);
`Run` drives one model through turns until a final answer, a budget, or a failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm import prompts
from rlm.broker import AdaptiveLimiter, Broker
from rlm.client import Completion, ModelClient
from rlm.config import RLMConfig
from rlm.errors import ModelError
from rlm.history import History, Observation
from rlm.notes import NotesSession, NotesSettings
from rlm.notes.render import HELPERS as NOTES_HELPERS
from rlm.protocol import Reply, parse_reply
from rlm.results import RunResult, RunStatus
from rlm.trajectory import Trajectory, message_digest, new_run_id
from rlm.usage import Budget, Usage
from sandbox import ContextInfo, ExecResult, HostRequest, RLMError, Sandbox, SandboxError

NOTE_OPS = ("remember", "revise", "forget", "document", "archive_search")
SUBCONTEXT_KEY = "__rlm_fd__"  # how the kernel marks a sub-context sent as a file (sandbox runtime)
MAX_SUBCONTEXT_BYTES = 8 * 2**30

log = logging.getLogger("rlm")

EventCallback = Callable[[dict[str, Any], RunStatus], None]

# A child run's question when rlm_query got no context: the prompt is the context, and the
# question says so once it is too long to repeat.
_INLINE_QUERY_CHARS = 2000


@dataclass
class Tree:
    """What a root run and all its children share."""

    config: RLMConfig
    root_client: ModelClient
    sub_client: ModelClient
    budget: Budget
    broker: Broker
    loop: asyncio.AbstractEventLoop
    on_event: EventCallback | None = None
    status: RunStatus = field(default_factory=RunStatus)
    child_slots: dict[int, asyncio.Semaphore] = field(default_factory=dict)
    notes: NotesSettings | None = None

    @classmethod
    def create(cls, config: RLMConfig, root_client: ModelClient, sub_client: ModelClient,
               on_event: EventCallback | None) -> Tree:
        budget = Budget(config.price_table(), max_tokens=config.max_tokens,
                        max_cost_usd=config.max_cost_usd, max_wall_s=config.max_wall_s,
                        max_sub_calls=config.max_sub_calls)
        limiter = AdaptiveLimiter(config.max_concurrency)
        broker = Broker(sub_client, config.effective_sub_model, budget, limiter)
        notes = None
        if config.notes_dir is not None:
            notes = NotesSettings(config.notes_dir, memory_chars=config.memory_chars,
                                  memory_tokens=config.memory_tokens, doc_chars=config.doc_chars,
                                  end_turn=config.notes_turn)
        return cls(config, root_client, sub_client, budget, broker, asyncio.get_running_loop(),
                   on_event, RunStatus(max_turns=config.max_iterations), notes=notes)

    def slots_for(self, depth: int) -> asyncio.Semaphore:
        # one semaphore per depth: a parent waiting on its children never holds their slots
        if depth not in self.child_slots:
            self.child_slots[depth] = asyncio.Semaphore(self.config.max_children)
        return self.child_slots[depth]

    def refresh_status(self) -> RunStatus:
        s, u = self.status, self.budget.usage.total
        s.sub_calls_done = self.broker.done
        s.sub_calls_in_flight = self.budget.sub_calls_in_flight
        s.prompt_tokens, s.completion_tokens, s.cost_usd = u.prompt_tokens, u.completion_tokens, u.cost_usd
        s.elapsed_s = self.budget.elapsed()
        return s


class Run:
    """One RLM run at some depth (0 = the root)."""

    def __init__(self, tree: Tree, context: Any, query: str, *, depth: int = 0,
                 parent_id: str | None = None) -> None:
        self.tree = tree
        self.config = tree.config
        self.context = context
        self.query = query
        self.depth = depth
        self.parent_id = parent_id
        self.model: str = (self.config.model or "") if depth == 0 else self.config.effective_sub_model
        self.client = tree.root_client if depth == 0 else tree.sub_client
        self.run_id = new_run_id()
        self.usage = Usage()
        self.children: list[str] = []
        self.iterations = 0
        self.sub_calls = 0
        self.started = time.monotonic()
        path = self.config.effective_runs_dir / f"{self.run_id}.jsonl" if self.config.trajectory else None
        self.trajectory = Trajectory(path, self.run_id)
        self.sandbox: Sandbox | None = None  # set once started; `sb` for code that runs after
        self.history: History | None = None
        # only the root run reads and writes notes; children are sub-tasks of its question
        self.notes = NotesSession(tree.notes, self.run_id, query) if tree.notes and depth == 0 else None
        self.notes_block: str | None = None
        # the sandbox is blocking; one thread per run keeps runs from starving each other
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"rlm-d{depth}")

    # ----- helpers -----------------------------------------------------------------
    def emit(self, event: dict[str, Any]) -> None:
        event.setdefault("depth", self.depth)
        self.trajectory.write(event)
        if self.tree.on_event is not None:
            try:
                self.tree.on_event({**event, "run_id": self.run_id}, self.tree.refresh_status())
            except Exception:  # a broken progress display must not break the run
                log.exception("on_event callback failed")

    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.tree.loop.run_in_executor(self._executor, fn, *args)

    @property
    def sb(self) -> Sandbox:
        if self.sandbox is None:
            raise RuntimeError("the run's sandbox has not started")
        return self.sandbox

    def _phase(self, phase: str) -> None:
        if self.depth == 0:
            self.tree.status.phase = phase

    # ----- the run -----------------------------------------------------------------
    async def execute(self) -> RunResult:
        status, answer, error = "ok", None, None
        self.emit({
            "event": "run_start", "query": self.query, "parent_run_id": self.parent_id,
            "model": self.model, "config": self.config.public_dict(),
            "context": _describe_input(self.context),
        })
        try:
            info = await self._start_sandbox()
            await self._open_notes()  # after the context loaded: bad input leaves no store behind
            status, answer, error = await self._loop(info)
            try:
                await self._notes_turn(status)
            except RLMError as exc:  # the answer stands even if writing notes failed
                log.warning("the notes turn of run %s failed: %s", self.run_id, exc)
                self.emit({"event": "notes_error", "error": str(exc)})
        except asyncio.CancelledError:
            status, error = "cancelled", "the run was cancelled"
            if self.sandbox is not None:
                self.sandbox.cancel()  # so that closing does not wait for a long cell
            answer = await self._draft_quietly()
            raise
        except SandboxError as exc:
            status, error = "sandbox_error", str(exc)
            if self.depth == 0 and self.iterations == 0:
                raise  # bad input or no kernel: the caller gets the error itself
        except BaseException as exc:  # anything else (a notes store that cannot open...): record, re-raise
            status, error = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            result = self._finish(status, answer, error)
            await self._close()
        return result

    async def _open_notes(self) -> None:
        if self.notes is None:
            return
        seconds = await asyncio.to_thread(self.notes.open)
        self.notes_block = self.notes.prompt_block()  # rendered once: it is fixed for the run
        archive = self.notes.archive_documents()
        if archive:
            await self._blocking(self.sb.load_archive, archive)
        self.emit({"event": "notes_loaded", "directory": str(self.notes.settings.directory),
                   "memories": len(self.notes.memories), "memory_tokens": self.notes.memory_tokens_used,
                   "memory_ids": [m.id for m in self.notes.memories], "docs": len(self.notes.docs),
                   "prompt_chars": len(self.notes_block), "store_ms": round(seconds * 1000, 2)})

    async def _start_sandbox(self) -> ContextInfo:
        self._phase("starting sandbox")

        def start() -> ContextInfo:
            self.sandbox = Sandbox(self.config.sandbox)
            # load before start: the kernel is launched with a memory limit sized for the context
            info = self.sandbox.load_context(self.context)
            self.sandbox.set_host(self._host)
            return info

        info = await self._blocking(start)
        self.emit({"event": "context_loaded", "name": info.name, "type": info.type,
                   "size": info.size, "description": info.description, "docs": info.docs})
        return info

    async def _notes_turn(self, status: str) -> None:
        """One more model turn: the model writes memories and docs for future runs."""
        if self.notes is None or not self.notes.settings.end_turn or self.history is None:
            return
        self._phase("writing notes")
        messages = self.history.messages(extra_user=self.notes.end_prompt(status))
        try:
            # an optional turn after the answer: one retry, not a long back-off
            completion = await self._model_call(messages, "notes", retries=1,
                                                timeout_s=min(self.config.request_timeout_s, 120.0))
        except ModelError:
            return
        before = len(self.notes.writes)
        for index, code in enumerate(parse_reply(completion.text).code):
            await self._run_cell(code, "notes", index)
        self.emit({"event": "notes_written", "writes": self.notes.writes[before:]})

    async def _loop(self, info: ContextInfo) -> tuple[str, str | None, str | None]:
        can_recurse = self.depth + 1 < self.config.max_depth
        system = prompts.system_prompt(
            info, output_limit=self.config.sandbox.output_limit_chars,
            cell_timeout_s=self.config.sandbox.cell_timeout_s, can_recurse=can_recurse,
            sub_calls=self.config.sub_calls, notes_block=self.notes_block,
            notes_helpers=NOTES_HELPERS if self.notes else "",
        )
        history = History(system, prompts.first_user_message(self.query, info),
                          mode=self.config.history, observation_chars=self.config.observation_chars)
        self.history = history
        max_turns = self.config.max_iterations
        stop: str | None = None
        for turn in range(1, max_turns + 1):
            stop = self.tree.budget.exceeded()
            if stop:
                break
            self.iterations = turn
            if self.depth == 0:
                self.tree.status.turn = turn
            variables = await self._blocking(self.sb.variables)
            now = prompts.now_block(turn, max_turns, self.tree.budget.describe_left(), variables)
            self._phase("waiting for the model")
            try:
                completion = await self._model_call(history.messages(now), turn)
            except ModelError as exc:
                stop = self.tree.budget.exceeded()
                if stop is None:
                    return "model_error", await self._draft_quietly(), str(exc)
                break
            reply = parse_reply(completion.text)
            observation, final = await self._act(reply, turn)
            history.add_turn(completion.text, observation)
            if final is not None:
                return "ok", final, None
        else:
            stop = "max_iterations"
        return await self._last_call(history, stop or "max_iterations")

    async def _model_call(self, messages: list[dict[str, str]], turn: int | str, *,
                          timeout_s: float | None = None, retries: int | None = None) -> Completion:
        """One root-model call, logged and counted (or logged as failed, then re-raised).
        The timeout defaults to the wall-time budget left."""
        timeout = self.tree.budget.wall_left() if timeout_s is None else timeout_s
        try:
            completion = await self.client.chat(self.model, messages, timeout_s=timeout, retries=retries)
        except ModelError as exc:
            self.emit({"event": "model_call", "turn": turn, "model": self.model,
                       "messages": message_digest(messages), "error": str(exc)})
            raise
        self._account(completion, messages, turn)
        return completion

    def _account(self, completion: Completion, messages: list[dict[str, str]], turn: int | str) -> None:
        """Count a root-model call in the shared budget and this run's usage, and log it."""
        cost = self.tree.budget.record(self.model, self.depth, completion.prompt_tokens,
                                       completion.completion_tokens, completion.cached_tokens)
        self.usage.add(self.model, self.depth, completion.prompt_tokens, completion.completion_tokens,
                       completion.cached_tokens, cost)
        self.emit({
            "event": "model_call", "turn": turn, "model": self.model,
            "messages": message_digest(messages),
            "prompt_chars": sum(len(m["content"]) for m in messages),
            "reply": completion.text, "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens, "cached_tokens": completion.cached_tokens,
            "usage_estimated": completion.usage_estimated, "cost_usd": round(cost, 8),
            "latency_s": round(completion.latency_s, 4), "attempts": completion.attempts,
        })

    async def _act(self, reply: Reply, turn: int) -> tuple[Observation, str | None]:
        """Run the reply's code, then decide whether a final answer stands."""
        obs = Observation()
        if not reply.code and not reply.has_final:
            obs.notes.append(prompts.NUDGE)
            return obs, None
        code_final = None
        failed = False
        for index, code in enumerate(reply.code):
            result = await self._run_cell(code, turn, index)
            obs.cells.append(result)
            failed = failed or result.error is not None
            if result.final is not None and result.error is None:
                code_final = result.final
        if code_final is not None:
            return obs, code_final
        if not reply.has_final:
            if failed:
                await self._blocking(self.sb.reset_answer)
            return obs, None
        if failed:
            await self._blocking(self.sb.reset_answer)
            obs.notes.append(prompts.PREMATURE_FINAL)
            return obs, None
        if reply.final_kind == "var":
            value = await self._blocking(self.sb.read_variable, reply.final)
            if value is None:
                obs.notes.append(prompts.missing_final_var(reply.final or ""))
                return obs, None
            return obs, value
        return obs, reply.final

    async def _run_cell(self, code: str, turn: int | str, index: int) -> ExecResult:
        self._phase("running code")
        timeout = self.config.sandbox.cell_timeout_s
        wall = self.tree.budget.wall_left()
        if wall is not None:
            timeout = max(1.0, min(timeout, wall))
        result: ExecResult = await self._blocking(self.sb.execute, code, timeout)
        self.emit({
            "event": "cell", "turn": turn, "block": index, "cell": result.cell, "code": code,
            "stdout": result.stdout, "error": result.error, "truncated": result.truncated,
            "timed_out": result.timed_out, "restarted": result.restarted,
            "final": result.final, "duration_s": round(result.duration_s, 4),
        })
        return result

    async def _last_call(self, history: History, reason: str) -> tuple[str, str | None, str | None]:
        """A budget ran out: ask once for the best answer, run no code."""
        self._phase("asking for a final answer")
        self.emit({"event": "budget_stop", "budget": reason})
        draft = await self._draft_quietly()
        messages = history.messages(extra_user=prompts.last_call(_REASONS.get(reason, reason)))
        try:
            completion = await self._model_call(messages, "last",
                                                timeout_s=min(self.config.request_timeout_s, 120.0))
        except ModelError:
            return reason, draft, None
        reply = parse_reply(completion.text)
        answer = draft
        if reply.final_kind == "text":
            answer = reply.final
        elif reply.final_kind == "var":
            answer = await self._blocking(self.sb.read_variable, reply.final) or draft
        return reason, answer, None

    async def _draft_quietly(self) -> str | None:
        if self.sandbox is None:
            return None
        try:
            return await asyncio.shield(self._blocking(self.sb.answer_draft))
        except (RLMError, RuntimeError, asyncio.CancelledError):
            return None

    def _finish(self, status: str, answer: str | None, error: str | None) -> RunResult:
        wall = time.monotonic() - self.started
        result = RunResult(
            answer=answer, status=status, usage=self.usage, cost_usd=self.usage.cost_usd,
            run_id=self.run_id, trajectory_path=self.trajectory.path, iterations=self.iterations,
            wall_s=wall, sub_calls=self.sub_calls, error=error, children=list(self.children),
        )
        self.emit({"event": "final", "status": status, "answer": answer, "error": error})
        self.emit({"event": "totals", "usage": self.usage.as_dict(), "cost_usd": round(self.usage.cost_usd, 6),
                   "iterations": self.iterations, "sub_calls": self.sub_calls,
                   "children": self.children, "wall_s": round(wall, 3)})
        return result

    async def _close(self) -> None:
        try:
            if self.sandbox is not None:
                await asyncio.shield(self._blocking(self.sandbox.close))
        except (RLMError, OSError, asyncio.CancelledError) as exc:
            log.warning("closing the sandbox of run %s failed: %s", self.run_id, exc)
        finally:
            if self.notes is not None:
                self.notes.close()
            self.trajectory.close()
            self._executor.shutdown(wait=False)

    # ----- requests from the kernel (on a bridge thread) -----------------------------
    async def _note(self, request: HostRequest) -> Any:
        if self.notes is None:
            if request.op == "archive_search":
                return []
            why = "notes are off for this run" if self.depth == 0 else "only the root run keeps notes"
            return {"id": None, "message": f"refused: {why}"}
        result = await asyncio.to_thread(self.notes.handle, request.op, dict(request.args))
        if request.op != "archive_search":
            self.emit({"event": "note", "cell": request.cell, "op": request.op, **result})
        return result

    def _host(self, request: HostRequest) -> Any:
        future = asyncio.run_coroutine_threadsafe(self._serve(request), self.tree.loop)
        return future.result()

    async def _serve(self, request: HostRequest) -> Any:
        if request.op in NOTE_OPS:
            return await self._note(request)
        prompts_ = list(request.args.get("prompts") or [])
        if not self.config.sub_calls:
            return [f"[{request.op} error: sub-calls are disabled in this run]"] * len(prompts_)
        if request.op == "llm_query":
            return await self._llm(prompts_, request.args.get("model"), request.cell)
        contexts = list(request.args.get("contexts") or [None] * len(prompts_))
        if len(contexts) != len(prompts_):
            raise ValueError("rlm_query: contexts must pair one to one with prompts")
        scratch = Path(tempfile.mkdtemp(prefix="rlm-subctx-", dir=self.config.sandbox.work_root))
        try:
            contexts = [await self._received(c, request.fds, scratch) for c in contexts]
            pairs = list(zip(prompts_, contexts, strict=True))
            if self.depth + 1 >= self.config.max_depth:
                merged = [p if c is None else f"{p}\n\n{await asyncio.to_thread(_as_text, c)}" for p, c in pairs]
                return await self._llm(merged, None, request.cell)
            return list(await asyncio.gather(*(self._child(p, c, request.cell) for p, c in pairs)))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    @staticmethod
    async def _received(context: Any, fds: list[int], scratch: Path) -> Any:
        """A sub-context that came as an open file becomes a host-private copy (a Path)."""
        if not (isinstance(context, dict) and set(context) == {SUBCONTEXT_KEY}):
            return context
        index = context[SUBCONTEXT_KEY]
        if not isinstance(index, int) or not 0 <= index < len(fds):
            raise ValueError("rlm_query: a sub-context file is missing")
        return await asyncio.to_thread(_copy_received_file, fds[index], scratch)

    async def _llm(self, prompts_: list[str], model: Any, cell: int) -> list[str]:
        self.sub_calls += len(prompts_)
        return await self.tree.broker.query(
            prompts_, model=model if isinstance(model, str) else None, depth=self.depth + 1,
            cell=cell, emit=self._emit_sub_call,
        )

    def _emit_sub_call(self, event: dict[str, Any]) -> None:
        if "prompt_tokens" in event:
            self.usage.add(event["model"], event["depth"], event["prompt_tokens"],
                           event["completion_tokens"], event.get("cached_tokens", 0), event["cost_usd"])
        self.emit(event)

    async def _child(self, prompt: str, context: Any, cell: int) -> str:
        spent = self.tree.budget.claim_sub_call()
        if spent is not None:
            return f"[rlm_query error: the {spent} budget is spent; no sub-run was started]"
        self.sub_calls += 1
        if context is None or (isinstance(context, (str, list, dict)) and not context):
            query = prompt if len(prompt) <= _INLINE_QUERY_CHARS else (
                f"The task is written in the variable `context` ({len(prompt):,} characters): read it first.")
            context = prompt
        else:
            query = prompt
        async with self.tree.slots_for(self.depth + 1):
            self.tree.status.child_runs += 1
            child = Run(self.tree, context, query, depth=self.depth + 1, parent_id=self.run_id)
            self.children.append(child.run_id)
            self.emit({"event": "child_run", "cell": cell, "child_run_id": child.run_id,
                       "trajectory": str(child.trajectory.path) if child.trajectory.path else None,
                       "prompt_chars": len(prompt)})
            try:
                result = await child.execute()
            except RLMError as exc:
                return f"[rlm_query error: the sub-run could not start: {exc}]"
            finally:
                self.tree.status.child_runs -= 1
        self.usage.merge(result.usage)
        self.emit({"event": "child_done", "child_run_id": child.run_id, "status": result.status,
                   "answer_chars": len(result.answer or ""), "cost_usd": round(result.cost_usd, 6)})
        if result.answer is None:
            return f"[rlm_query error: the sub-run ended with status {result.status} and no answer]"
        return result.answer


_REASONS = {
    "max_iterations": "the turn limit is reached",
    "max_tokens": "the token budget is spent",
    "max_cost": "the cost budget is spent",
    "max_wall_time": "the time budget is spent",
    "max_sub_calls": "the sub-call budget is spent",
}


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
        copied = 0
        while copied < info.st_size:
            n = os.copy_file_range(fd, out_fd, info.st_size - copied, copied)
            if n == 0:
                break
            copied += n
    finally:
        os.close(out_fd)
    return Path(name)


def _as_text(value: Any) -> str:
    if isinstance(value, Path):
        return value.read_text(encoding="utf-8", errors="replace")
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _describe_input(context: Any) -> dict[str, Any]:
    if isinstance(context, Path):
        return {"kind": "path", "path": str(context)}
    if isinstance(context, (list, tuple)) and context and all(isinstance(p, Path) for p in context):
        return {"kind": "paths", "count": len(context), "first": str(context[0])}
    if isinstance(context, (str, bytes)):
        return {"kind": type(context).__name__, "chars": len(context)}
    if isinstance(context, (list, tuple, dict)):
        return {"kind": type(context).__name__, "items": len(context)}
    return {"kind": type(context).__name__}
