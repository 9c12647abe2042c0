"""Sessions: several questions over one context, loaded once into one kernel whose variables
persist from ask to ask, with the earlier questions and answers named in each new ask's prompt.

    with rlm.session(Path("logs/")) as chat:
        first = chat.ask("Which services log errors?")
        second = chat.ask("Of those, which failed first?")   # no new load; its variables are there

Each ask is a run of its own (its own budget, trajectory and RunResult), linked to the session
in its `run_start`. A session is saved under `<runs_dir>/sessions/<name>.json` after each ask;
opened again by name in a new process (`rlm.session(name="audit")`), it starts a new kernel and
first runs every earlier ask's recorded replies again in it (as `RLM.resume` replays a run: no
root-model call; the sub-calls they made are asked again, answered by the call cache when it is on),
so that the variables are back before the next question.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
from typing import Any, Protocol

from rlm import stdin_spool
from rlm._run import EventCallback, Run, Tree
from rlm.blocking import run_blocking
from rlm.config import RLMConfig
from rlm.errors import ContextError, RLMError
from rlm.events import Kind, Status
from rlm.inputs import Context
from rlm.results import RunResult
from rlm.resume import RecordedReply, find_run, load_run, record_context, recorded_replies
from rlm.session_kernel import EarlierAsk, SessionKernel
from rlm.session_store import SessionFile, ask_record, asks_of
from rlm.trajectory import new_run_id, read_jsonl
from rlm.typed_answers import AnswerSchema, schema_of
from sandbox import VariableInfo


class Runner(Protocol):
    """What a session needs of its `RLM` (kept to this, so the session module depends on the
    controller's parts, not on the class that makes sessions)."""

    config: RLMConfig

    async def _arun(self, value: Context, query: str, on_event: EventCallback | None,
                    replay: list[RecordedReply] | None = None, *, session: Session | None = None,
                    schema: AnswerSchema | None = None) -> RunResult: ...

log = logging.getLogger("rlm")

# what a context record is compared by, to refuse a session reopened over other data
_IDENTITY_KEYS = ("fingerprint", "sha256", "paths")


class Session:
    """Questions over one context in one kernel; see the module's docstring. Made by
    `RLM.session(...)`; close it (or use it as a context manager) to stop its kernel."""

    def __init__(self, rlm: Runner, context: Any = None, *, name: str | None = None) -> None:
        self._rlm = rlm
        runs_dir = rlm.config.effective_runs_dir
        self.name: str = name if name is not None else f"session-{new_run_id()}"
        self._file = SessionFile(runs_dir / "sessions", self.name)
        self._file.acquire()
        try:
            record = self._file.load()
            earlier = asks_of(record) if record else []
            if context is None:
                if not earlier:
                    raise ContextError(f"session {self.name!r} has no earlier ask to find its context from: "
                                       "pass the context")
                context = load_run(runs_dir, earlier[0].run_id).context
            self.context: Context = Context.of(context)
            # the context's identity only: an ask's own run keeps what a resume needs
            identity = record_context(self.context, self._file.directory, self.name, store=False)
            if record and _identity(record.get("context") or {}) != _identity(identity):
                raise ContextError(f"session {self.name!r} was opened over other data than this context "
                                   "(or its files changed since); start a new session")
            self._record: dict[str, Any] = record or {"name": self.name, "context": identity, "asks": []}
            if not record:
                self._file.save(self._record)
        except BaseException:
            self._file.release()
            raise
        self._kernel = SessionKernel(self.name, earlier=earlier)
        self._replay_due = bool(earlier)  # reopened: the earlier asks run again before the next one
        self._asking = False
        self.closed = False

    # ----- asking ------------------------------------------------------------------------
    def ask(self, question: str, *, on_event: EventCallback | None = None, schema: Any = None) -> RunResult:
        """Answer `question` in this session (blocks until the ask ends). The kernel, its
        variables and the loaded context are the ones earlier asks used; the budget is this ask's
        own. `schema`: the answer's form, as for `RLM.completion`."""
        return run_blocking(self.aask(question, on_event=on_event, schema=schema))

    async def aask(self, question: str, *, on_event: EventCallback | None = None,
                   schema: Any = None) -> RunResult:
        """The async form of `ask`."""
        if self.closed:
            raise RLMError(f"session {self.name!r} is closed")
        if not isinstance(question, str) or not question.strip():
            raise ContextError("the question must be a non-empty string")
        if self._asking:  # two runs in one kernel would take each other's answers, handlers and budgets
            raise RLMError(f"session {self.name!r} is answering another question; ask one at a time")
        self._asking = True
        try:
            result = await self._rlm._arun(self.context, question, on_event, session=self, schema=schema_of(schema))
        finally:
            self._asking = False
        self._kernel.earlier.append(EarlierAsk(question, result.answer, result.status, result.run_id,
                                               [e.as_dict() for e in result.evidence]))
        self._record["asks"] = [ask_record(a) for a in self._kernel.earlier]
        self._file.save(self._record)
        return result

    def run_for(self, tree: Tree, query: str, schema: AnswerSchema | None = None) -> Run:
        """The run of the next ask (for RLM._arun), on the session's kernel."""
        return Run(tree, self.context, query, lent=self._kernel, schema=schema)

    async def prepare(self, tree: Tree) -> None:
        """Before an ask: when the kernel is new (a reopened session, or one whose kernel a cancel
        stopped), run the earlier asks' recorded replies in it again, in order, so that their
        variables are back. Notes are off and no trajectory is written for these replays."""
        self._kernel.replayed = 0
        if not self._replay_due and self._kernel.sandbox is not None:
            return
        if not self._kernel.earlier or self._kernel.sandbox is not None:
            self._replay_due = False
            return
        runs_dir = tree.config.effective_runs_dir
        quiet = dataclasses.replace(tree, config=dataclasses.replace(tree.config, trajectory=False, notes=False),
                                    notes=None)
        asks, self._kernel.earlier = self._kernel.earlier, []
        self._kernel.not_replayed = []
        try:
            for ask in asks:
                replies = _replies_of(runs_dir, ask.run_id)
                if replies is None:
                    self._kernel.not_replayed.append(ask.run_id)
                elif replies:
                    tree.status.phase = f"replaying ask {len(self._kernel.earlier) + 1} of {len(asks)}"
                    await Run(quiet, self.context, ask.question, replay=replies, lent=self._kernel,
                              replay_only=True).execute()
                    self._kernel.replayed += 1
                self._kernel.earlier.append(ask)
        finally:
            self._kernel.earlier = asks
        self._replay_due = False

    # ----- looking in -------------------------------------------------------------------
    @property
    def asks(self) -> list[EarlierAsk]:
        """The session's asks so far (question, answer, status, run id), oldest first."""
        return list(self._kernel.earlier)

    def variables(self) -> list[VariableInfo]:
        """The kernel's variables now, as the model sees them listed (`context` and `answer`
        included); empty before the first ask, or after a restart until the next ask replays the
        earlier ones."""
        sandbox = self._kernel.sandbox
        return list(sandbox.variables()) if sandbox is not None and not self.closed else []

    # ----- closing ----------------------------------------------------------------------
    def close(self) -> None:
        """Stop the session's kernel and release it (the saved record stays: the session can be
        opened again by name). Closing twice does nothing."""
        if self.closed:
            return
        self.closed = True
        try:
            sandbox = self._kernel.drop_sandbox()
            if sandbox is not None:  # on a thread of its own: the close ends that thread's event loop too
                with concurrent.futures.ThreadPoolExecutor(1) as pool:
                    pool.submit(sandbox.close).result()
        finally:
            self._file.release()
            if self.context.spooled and self._kernel.earlier and self._kernel.earlier[-1].status == Status.OK:
                stdin_spool.release(self.context.value)

    async def aclose(self) -> None:
        """The async form of `close`."""
        import asyncio

        await asyncio.to_thread(self.close)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if not getattr(self, "closed", True):
            log.warning("session %s was not closed; closing it now", self.name)
            self.close()


def _identity(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in _IDENTITY_KEYS}


def _replies_of(runs_dir: Any, run_id: str) -> list[RecordedReply] | None:
    """The recorded root replies of run `run_id` whose code ran to its end, or None when its
    trajectory is gone or unreadable. Left out: the last reply of a run that was cancelled, failed
    in its sandbox or never ended (its code is what was stopped: a loop that never ends would run
    again), and every reply from the first turn whose cell ran out of time or lost the kernel on."""
    try:
        events = list(read_jsonl(find_run(runs_dir, run_id)))
    except (ContextError, OSError, ValueError) as exc:
        log.warning("the ask %s cannot be replayed: %s", run_id, exc)
        return None
    replies = recorded_replies(events)
    final = next((e for e in reversed(events) if isinstance(e, dict) and e.get("event") == Kind.FINAL), None)
    if final is None or final.get("status") in (Status.CANCELLED, Status.SANDBOX_ERROR):
        replies = replies[:-1]
    stopped = [e["turn"] for e in events if isinstance(e, dict) and e.get("event") == Kind.CELL
               and isinstance(e.get("turn"), int) and (e.get("timed_out") or e.get("restarted"))]
    if stopped:  # what ran after a lost kernel ran on a fresh one: not the same state again
        replies = replies[:min(stopped) - 1]
    return replies
