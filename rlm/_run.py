"""One run of the loop: a sandbox, a bounded conversation with the root model, and turns
until a final answer, a budget, or a failure.

`Run` is the turn loop and its accounting; what the kernel asks of the host is served by the
run's `SubCallServer` (rlm/subcalls.py) and `NotesHook` (rlm/notes_hook.py); what a run shares
with its children is the `Tree` (rlm/tree.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sandbox
from rlm import prompts
from rlm.answer_checks import AnswerChecks
from rlm.answer_mends import Mends
from rlm.client import Completion
from rlm.counted_lines import MAX_CODE_CHARS
from rlm.errors import ModelError, RLMError, SandboxError, error_words, from_sandbox
from rlm.events import (
    SCHEMA_VERSION,
    BudgetStop,
    BudgetStopEvent,
    CellEvent,
    ContextLoadedEvent,
    Event,
    FinalEvent,
    FinalRefusedEvent,
    LoopCheckEvent,
    ModelCallEvent,
    NotesErrorEvent,
    ReplyFormEvent,
    RunStartEvent,
    RunStatus,
    Status,
    TotalsEvent,
)
from rlm.evidence import EvidenceBook, answer_evidence
from rlm.history import History, Observation
from rlm.inputs import Context
from rlm.loop_guards import (
    CONTEXT_COPY_CHARS,
    SEEN_KEEP_CHARS,
    Repeats,
    borrowed_strings,
    invents_output,
    supported,
)
from rlm.model_window import DEFAULT_WINDOW_CHARS
from rlm.notes_hook import NotesHook
from rlm.pattern_probe import PROBE_BYTES, ContextProbe, empty_outcome, mended_code
from rlm.protocol import ANSWER_PREFIX, Reply, failed_marker, final_in_code, marker_block, parse_reply
from rlm.results import RunResult
from rlm.resume import RecordedReply, record_context
from rlm.session_kernel import HISTORY_ASKS, SessionKernel, earlier_block
from rlm.subcalls import SCRATCH_PREFIX, SubCallServer
from rlm.tool_server import ToolServer
from rlm.tools import query_tools
from rlm.trajectory import Trajectory, message_digest, new_run_id
from rlm.tree import EventCallback, Tree
from rlm.typed_answers import AnswerSchema
from rlm.usage import Usage
from rlm.user_tools import tools_block
from sandbox import ContextInfo, ExecResult, SandboxBackend, close_thread_loop, open_sandbox
from sandbox.scratch import sweep_stale

log = logging.getLogger("rlm")

__all__ = ["EventCallback", "Run", "Tree"]


class Run:
    """One RLM run at some depth (0 = the root)."""

    def __init__(self, tree: Tree, context: Context, query: str, *, depth: int = 0,
                 parent_id: str | None = None, replay: list[RecordedReply] | None = None,
                 lent: SessionKernel | None = None, replay_only: bool = False,
                 schema: AnswerSchema | None = None) -> None:
        """`lent`: a session's kernel, borrowed (started here if the session has none yet) and
        left open at the end. `replay_only`: the recorded replies are all there is (a session
        rebuilding its kernel): the run stops when they run out, with no last call and no notes turn."""
        self.tree = tree
        self.lent = lent
        self.replay_only = replay_only
        self.kernel_spent = False  # cancelled or failed: a lent sandbox is closed, not kept
        self.schema = schema  # the answer's form (rlm/typed_answers.py), None for free text
        self.typed: tuple[Any, Any] | None = None  # (value, its JSON) once an answer fits the schema
        self.value_error: str | None = None
        self.config = tree.config
        self.context = context
        self.query = query
        self.depth = depth
        self.parent_id = parent_id
        self.model: str = (self.config.model or "") if depth == 0 else self.config.effective_sub_model
        self.client = tree.root_client if depth == 0 else tree.sub_client
        self.run_id = new_run_id()
        # a resume: the recorded replies of the turns the resumed run completed, used in place
        # of asking the model for those turns (their prompts may differ: a raised budget)
        self.replay = list(replay or [])
        self.replayed_turns = 0
        self.usage = Usage()
        self.children: list[str] = []
        self.iterations = 0
        self.sub_calls = 0
        self.started = time.monotonic()
        path = self.config.effective_runs_dir / f"{self.run_id}.jsonl" if self.config.trajectory else None
        self.trajectory = Trajectory(path, self.run_id, tree.trajectory_budget or self.config.trajectory_bytes,
                                     root=depth == 0)
        self.sandbox: SandboxBackend | None = None  # set once started; `sb` for code that runs after
        self.history: History | None = None
        self.notes = NotesHook(self)
        # what the loop's checks keep (rlm/loop_guards.py): cells already run, what the model
        # has seen, notes the sub-call server leaves for the turn's observation, replies that
        # are no answer, and the questions an answer meets once (rlm/answer_checks.py)
        self.repeats = Repeats()
        self.seen: list[str] = []
        self.pending_notes: list[str] = []
        self.cell_code: str | None = None
        self.flagged_replies: set[str] = set()
        self.checks = AnswerChecks(query)
        self.probe: ContextProbe | None = None  # once the context is loaded
        self.unchecked_refusal = False  # a final answer was refused and no code has run since
        self.found_nothing = False  # the last cell's search found nothing, and was told why
        self.mends = Mends(self)
        self.repeated_cells = 0  # cells of the last reply that repeated earlier ones (its next call may be hotter)
        self.last_plain: str | None = None
        self.tool_server = ToolServer(self, tree.tools, timeout_s=self.config.tool_timeout_s,
                                      max_calls=self.config.max_tool_calls) if tree.tools else None
        self.citations = EvidenceBook(self)  # what `cite` kept, each checked against the context's files
        self.answer_items: list[str] | None = None  # answer["evidence"] as text, read once answered
        self.sub_call_server = SubCallServer(self, lambda context, query: Run(
            tree, context, query, depth=depth + 1, parent_id=self.run_id))
        # the sandbox is blocking; one thread per run keeps runs from starving each other
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"rlm-d{depth}")

    # ----- helpers -----------------------------------------------------------------
    def emit(self, event: Event) -> None:
        event.setdefault("depth", self.depth)
        self.trajectory.write(event)
        if self.tree.on_event is not None:
            try:
                self.tree.on_event({**event, "run_id": self.run_id}, self.tree.refresh_status())
            except Exception:  # a broken progress display must not break the run
                log.exception("on_event callback failed")

    async def blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on the run's sandbox thread; sandbox errors become the controller's."""
        try:
            return await self.tree.loop.run_in_executor(self._executor, fn, *args)
        except sandbox.SandboxError as exc:
            raise from_sandbox(exc) from exc

    @property
    def sb(self) -> SandboxBackend:
        if self.sandbox is None:
            raise RuntimeError("the run's sandbox has not started")
        return self.sandbox

    def phase(self, phase: str) -> None:
        if self.depth == 0:
            self.tree.status.phase = phase

    # ----- the run -----------------------------------------------------------------
    async def execute(self) -> RunResult:
        status: RunStatus = Status.OK
        answer: str | None = None
        error: str | None = None
        start = RunStartEvent(event="run_start", schema=SCHEMA_VERSION, query=self.query, parent_run_id=self.parent_id,
                              model=self.model, config=self.config.public_dict(), context=self.context.describe())
        replay = self._replay_record()
        if replay is not None:
            start["replay"] = replay
        if self.lent is not None:
            start["session"] = {"id": self.lent.session_id, "ask": len(self.lent.earlier) + 1,
                                "earlier_run_ids": [a.run_id for a in self.lent.earlier][-HISTORY_ASKS:],
                                "replayed": self.lent.replayed}
        self.emit(start)
        try:
            info = await self._start_sandbox()
            await self.notes.open()  # after the context loaded: bad input leaves no store behind
            status, answer, error = await self._loop(info)
            if status == Status.OK and self.citations.kept:
                self.answer_items = await self._answer_items()
            try:
                if not self.replay_only:
                    await self.notes.end_turn(status)
            except RLMError as exc:  # the answer stands even if writing notes failed
                log.warning("the notes turn of run %s failed: %s", self.run_id, error_words(exc))
                self.emit(NotesErrorEvent(event="notes_error", error=str(exc)))
        except asyncio.CancelledError:
            status, error = Status.CANCELLED, "the run was cancelled"
            self.kernel_spent = True  # a cancelled sandbox runs no more cells
            if self.sandbox is not None:
                self.sandbox.cancel()  # so that closing does not wait for a long cell
            answer = await self._draft_quietly()
            raise
        except SandboxError as exc:
            status, error = Status.SANDBOX_ERROR, str(exc)
            self.kernel_spent = True
            if self.depth == 0 and self.iterations == 0:
                raise  # bad input or no kernel: the caller gets the error itself
        except BaseException as exc:  # anything else (a notes store that cannot open...): record, re-raise
            status, error = Status.ERROR, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            result = self._finish(status, answer, error)
            self.citations.close()
            await self._close()
        return result

    async def _start_sandbox(self) -> ContextInfo:
        self.phase("starting sandbox")
        lent = self.lent
        reused = lent is not None and lent.sandbox is not None and lent.info is not None

        def start() -> ContextInfo:
            if reused and lent is not None and lent.info is not None:
                # the session's kernel: the context is loaded and the variables are there;
                # only this run's sub-call handler and a cleared answer are new
                self.sandbox = lent.sandbox
                self._add_tools()
                self.sb.reset_answer()
                return lent.info
            if self.depth == 0:  # what runs killed before this one left behind
                sweep_stale(SCRATCH_PREFIX, self.config.sandbox.work_root)
            self.sandbox = open_sandbox(self.config.sandbox)
            if lent is not None:  # lent from here on, even if loading fails below (the session closes it)
                lent.sandbox = self.sandbox
            # load before start: the kernel is launched with a memory limit sized for the context
            info = self.sandbox.load_context(self.context.value, label=self.context.label,
                                             progress=self._extraction_progress)
            self._add_tools()
            if lent is not None:
                lent.info = info
            return info

        began = time.monotonic()
        info = await self.blocking(start)
        event = ContextLoadedEvent(event="context_loaded", name=info.name, type=info.type, size=info.size,
                                   description=info.description, docs=info.docs, skipped=info.skipped,
                                   decoded=info.decoded, extraction=info.extraction,
                                   load_s=round(time.monotonic() - began, 4))
        if reused:
            event["reused"] = True
        self.emit(event)
        return info

    async def _answer_items(self) -> list[str] | None:
        """answer["evidence"] as the model left it, as text (None: none, or it cannot be read)."""
        try:
            return await self.blocking(self.sb.answer_items, "evidence")
        except RLMError:
            return None

    def _add_tools(self) -> None:
        """This run's handlers in the sandbox: sub-queries, and the user's tools if any."""
        self.sb.add_tools(query_tools(self.sub_call_server.handle))
        self.sb.add_tools(self.citations.tool_set())
        if self.tool_server is not None:
            self.sb.add_tools(self.tool_server.tool_set())

    def _extraction_progress(self, done: int, total: int, name: str) -> None:
        self.phase(f"reading documents {done:,}/{total:,}")

    async def _loop(self, info: ContextInfo) -> tuple[RunStatus, str | None, str | None]:
        can_recurse = self.depth + 1 < self.config.max_depth
        system = prompts.system_prompt(
            info, output_limit=self.config.sandbox.output_limit_chars,
            cell_timeout_s=self.config.sandbox.cell_timeout_s, can_recurse=can_recurse,
            sub_calls=self.config.sub_calls, notes_block=self.notes.block,
            sub_window_chars=int(self.config.sub_window_chars or DEFAULT_WINDOW_CHARS),
            notes_helpers=self.notes.helpers,
            tools_block=prompts.models_line(list(self.config.models)) + tools_block(self.tree.tools),
        )
        if self.schema is not None:
            system += self.schema.prompt_block()
        chars = self.config.context_preview_chars
        head = await self.blocking(lambda: self.sb.preview(info.name, max(chars, CONTEXT_COPY_CHARS * 2)))
        preview = head[:chars] if chars and head else None
        self.checks.context_head, self.checks.context_is_text = head, info.type == "str"
        self.probe = ContextProbe(self.sb, info.name)
        # the first message showed all of it: any count over it rests on what the model saw
        self.checks.shown_whole = preview is not None and len(preview) < chars
        earlier = earlier_block(self.lent.earlier, self.lent.not_replayed) if self.lent is not None else ""
        first = prompts.first_user_message(self.query, info, preview, chars, earlier)
        history = History(system, first,
                          mode=self.config.history, observation_chars=self.config.observation_chars)
        self.history = history
        max_turns = self.config.max_iterations
        stop: BudgetStop | None = None
        for turn in range(1, max_turns + 1):
            stop = self.tree.budget.exceeded()
            if stop:
                break
            if self.replay_only and turn > len(self.replay):
                return Status.MAX_ITERATIONS, None, None  # what was recorded has run again: no more
            self.iterations = turn
            if self.depth == 0:
                self.tree.status.turn = turn
            variables = await self.blocking(self.sb.variables)
            now = prompts.now_block(turn, max_turns, self.tree.budget.describe_left(), variables,
                                    refused=self.unchecked_refusal, found_nothing=self.found_nothing)
            self.phase("waiting for the model")
            try:
                completion = await self.model_call(history.messages(now), turn)
            except ModelError as exc:
                stop = self.tree.budget.exceeded() or (Status.MAX_COST if isinstance(exc, CostRefused) else None)
                if stop is None:
                    return Status.MODEL_ERROR, await self._draft_quietly(), str(exc)
                break
            reply = parse_reply(completion.text)
            cut = completion.finish_reason == "length"
            observation, final = await self._act(reply, turn, cut=cut)
            # the history keeps what the model said, not what it thought (its reasoning can be
            # long, and reasoning models are trained without their earlier thoughts in view)
            said = reply.visible if reply.thinking_chars else completion.text
            if reply.code and invents_output(reply.visible[reply.code_end:]):
                said = reply.visible[:reply.code_end]  # what it claimed its code printed, unseen
                observation.notes.append(prompts.INVENTED_OUTPUT)
                self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="invented_output"))
            if observation.cells and final is None and self.repeated_cells >= len(observation.cells):
                # every cell a repeat: kept in view, the same code again and again primes the
                # model to write it once more (greedy or not); the first copy stays in view
                said = prompts.REPEAT_DROPPED
                self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="repeat_dropped"))
            elif not reply.code and final is None and not self.seen and said.strip():
                # prose before any code ran is a guess from the model's prior: kept in view, the
                # model argues for it at every later turn instead of looking at the data
                said = prompts.GUESS_DROPPED
                self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="guess_dropped"))
            history.add_turn(said, observation)
            self._remember_seen(observation)
            if final is not None:
                return Status.OK, final, None
        else:
            stop = Status.MAX_ITERATIONS
        if self.replay_only:
            return stop or Status.MAX_ITERATIONS, None, None
        return await self._last_call(history, stop or Status.MAX_ITERATIONS)

    async def model_call(self, messages: list[dict[str, str]], turn: int | str, *,
                          timeout_s: float | None = None, retries: int | None = None) -> Completion:
        """One root-model call, logged and counted (or logged as failed, then re-raised).
        The timeout defaults to the wall-time budget left."""
        timeout = self.tree.budget.wall_left() if timeout_s is None else timeout_s
        if isinstance(turn, int) and 0 < turn <= len(self.replay):
            recorded = self.replay[turn - 1]
            self.replayed_turns += 1
            completion = Completion(recorded.text, self.model, recorded.prompt_tokens, recorded.completion_tokens,
                                    0, 0.0, 0, from_cache=True)
            self._account(completion, messages, turn)
            return completion
        budget = self.tree.budget
        reservation = await budget.admit(self.model, messages)
        try:
            if reservation is None:
                raise CostRefused(f"{self.model}: the max_cost budget cannot pay for this call's worst case "
                                 "(its prompt and output cap); no call was made")
            completion = await self.client.chat(self.model, messages, timeout_s=timeout, retries=retries,
                                                extra=self._request_extra(budget.request_extra))
            self._account(completion, messages, turn)
        except ModelError as exc:
            self.emit(ModelCallEvent(event="model_call", turn=turn, model=self.model,
                                     messages=message_digest(messages), error=str(exc)))
            raise
        finally:
            budget.settle(reservation)
        return completion

    def _request_extra(self, extra: dict[str, Any]) -> dict[str, Any] | None:
        """The budget's extra request fields, and a raised temperature after a repeated cell
        (only where the run already sends a lower one)."""
        hot = self.config.unstick_temperature
        sent = self.config.model_kwargs.get("temperature")
        if self.repeated_cells and hot is not None and isinstance(sent, (int, float)) and sent < hot:
            self.emit(LoopCheckEvent(event="loop_check", check="unstick_temperature", temperature=hot))
            extra = {**extra, "temperature": hot}
        self.repeated_cells = 0
        return extra or None

    def _account(self, completion: Completion, messages: list[dict[str, str]], turn: int | str) -> None:
        """Count a root-model call in the shared budget and this run's usage, and log it."""
        hit = completion.from_cache
        cost = self.tree.budget.record(self.model, self.depth, completion.prompt_tokens,
                                       completion.completion_tokens, completion.cached_tokens, from_cache=hit)
        would_cost = self.tree.budget.prices.cost(self.model, completion.prompt_tokens,
                                                  completion.completion_tokens, completion.cached_tokens)
        priced = self.tree.budget.prices.get(self.model) is not None
        self.usage.add(self.model, self.depth, completion.prompt_tokens, completion.completion_tokens,
                       completion.cached_tokens, would_cost, from_cache=hit, priced=priced)
        event = ModelCallEvent(
            event="model_call", turn=turn, model=self.model,
            messages=message_digest(messages),
            prompt_chars=sum(len(m["content"]) for m in messages),
            reply=completion.text, prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens, cached_tokens=completion.cached_tokens,
            usage_estimated=completion.usage_estimated,
            cost_usd=round(cost, 8) if priced or hit else None,  # null: unknown, not $0
            latency_s=round(completion.latency_s, 4), attempts=completion.attempts,
        )
        if hit:
            event["cache_hit"] = True
        self.emit(event)

    def _replay_record(self) -> dict[str, Any] | None:
        """What `RLM.resume` needs to find this root run's context again."""
        if self.depth or self.trajectory.path is None:
            return None
        try:
            record = record_context(self.context, self.config.effective_runs_dir, self.run_id)
            notes = self.config.notes_dir  # absolute: a resume elsewhere finds the same store
            return {**record, "notes": str(notes.resolve()) if notes is not None else False}
        except OSError as exc:  # the run goes on; only a resume would miss it
            log.warning("could not record the context of run %s for a resume: %s", self.run_id, error_words(exc))
            return None

    def _note_reply_form(self, reply: Reply, turn: int, cut: bool) -> None:
        """Record how a reply was read when it was not plain: reasoning taken out, untagged
        fences run, cut by the token limit, a block left open."""
        if reply.thinking_chars or reply.untagged or cut or reply.open_block:
            self.emit(ReplyFormEvent(event="reply_form", turn=turn, thinking_chars=reply.thinking_chars,
                                     untagged_blocks_run=reply.untagged, cut_by_token_limit=cut,
                                     open_block_not_run=reply.open_block))

    def _refuse_final(self, obs: Observation, turn: int, reason: str, note: str) -> None:
        obs.notes.append(note)
        self.unchecked_refusal = True
        self.emit(FinalRefusedEvent(event="final_refused", turn=turn, reason=reason))

    async def _act(self, reply: Reply, turn: int, *, cut: bool = False) -> tuple[Observation, str | None]:
        """Run the reply's code, then decide whether a final answer stands (a reply cut by the
        token limit runs its whole blocks, but its FINAL line is not taken)."""
        obs = Observation()
        self._note_reply_form(reply, turn, cut)
        if reply.code and not reply.has_final:
            # `FINAL(18 lines contain ERROR)` in a code block: the model meant to finish, in words
            # Python cannot run; taken as the marker it is, not run into a SyntaxError
            markers = [(code, marker_block(code)) for code in reply.code]
            found = [m for _, m in markers if m is not None]
            if found:
                reply.code = [code for code, m in markers if m is None]
                reply.final_kind, reply.final = found[-1]
                self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="marker_in_code"))
        if cut and reply.has_final:
            self._refuse_final(obs, turn, "reply cut by the token limit",
                               prompts.CUT_REPLY.format(final=prompts.CUT_FINAL))
            reply.final_kind = reply.final = None
        elif cut:
            obs.notes.append(prompts.CUT_REPLY.format(final=""))
        elif reply.open_block:
            obs.notes.append(prompts.OPEN_BLOCK)
        if not reply.code and not reply.has_final:
            if cut or reply.open_block:
                return obs, None
            stated = reply.visible.strip()
            seen = "\n".join(self.seen)
            if not stated or len(stated) > PLAIN_ANSWER_CHARS or not supported(stated, seen, self.query):
                obs.notes.append(prompts.NUDGE)
            elif stated == self.last_plain and self._fits_schema(obs, turn, stated):
                # said twice, and what it ran shows it: the answer, marker or not
                self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="plain_answer_taken"))
                return obs, stated
            else:
                obs.notes.append(prompts.plain_answer(stated[:120]))
            self.last_plain = stated
            return obs, None
        self.last_plain = None
        code_final = None
        failed = term_added = False
        self.repeated_cells = 0
        for index, code in enumerate(reply.code):
            if failed:  # the blocks after a failing one rest on it: they are not run
                obs.notes.append(prompts.blocks_not_run(len(reply.code) - index))
                break
            result = await self.run_cell(code, turn, index)
            obs.cells.append(result)
            self.checks.remember(code, result.stdout)
            if self.probe is not None and empty_outcome(result.stdout, result.error):
                misses = await self.blocking(self.probe.misses, code)
                if misses:  # a search that found nothing: why, in the model's own tests
                    again = self.probe.mend_of_repeat(code)
                    if again is not None:  # the note's cell was given and the same one run instead: run it too
                        obs.notes.append(prompts.MEND_RUN)
                        result = await self.run_cell(again, turn, index)
                        obs.cells.append(result)
                        self.checks.remember(again, result.stdout)
                        self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="mend_run"))
                    else:
                        mended = mended_code(code, misses) if len(code) <= MAX_CODE_CHARS else None
                        if mended is not None:
                            self.probe.given(code, mended)
                        obs.notes.append(prompts.pattern_misses([(m.source, m.note) for m in misses], self.probe.name,
                                                                PROBE_BYTES if self.probe.cut_short else None, mended))
                        self.found_nothing = True
                    self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="pattern_miss", count=len(misses)))
            elif result.error is None and result.stdout.strip():
                added = await self.mends.term_cell(obs, code, turn, index)
                if added is not None:  # the filter left out a term of the question: the cell ran again with it
                    term_added = True
                    if result.final is not None or added.final is not None:
                        await self.blocking(self.sb.reset_answer)
                    result = replace(result, final=None)
            failed = failed or result.error is not None
            if result.final is not None and result.error is None:
                code_final = result.final
            times = self.repeats.count(code, result.stdout, result.error)
            if times:
                obs.notes.append(prompts.repeated_cell(times, result.error is not None))
                self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="repeated_cell", times=times))
                self.repeated_cells += 1
        if failed and not reply.has_final:
            meant = failed_marker(reply.code[len(obs.cells) - 1], obs.cells[-1].error)
            if meant is not None:  # an answer in words Python read as names: taken as the marker it is
                reply.final_kind, reply.final = meant
                failed = False
                self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="marker_in_code"))
        copied = [s for code in reply.code[:len(obs.cells)]
                  for s in borrowed_strings(code, prompts.example_literals(), self.query)]
        if copied:
            obs.notes.append(prompts.copied_example(sorted(set(copied))))
            self.emit(LoopCheckEvent(event="loop_check", turn=turn, check="copied_example"))
        obs.notes.extend(dict.fromkeys(self.pending_notes))
        self.pending_notes.clear()
        if term_added and (code_final is not None or reply.has_final):
            # given before the model read the output of its cell run again (a later block's answer or
            # FINAL_VAR reads the mended cell's values)
            await self.blocking(self.sb.reset_answer)
            self._refuse_final(obs, turn, "given before the output of the cell run again with the question's term",
                               prompts.TERM_FINAL)
            return obs, None
        if code_final is not None:
            code_final = self.mends.read_instead(code_final, turn)
            if await self._answer_stands(obs, turn, code_final, same_step=True):
                return obs, code_final
            await self.blocking(self.sb.reset_answer)
            return obs, None
        if not reply.has_final:
            if failed:
                await self.blocking(self.sb.reset_answer)
            return obs, None
        if failed:
            await self.blocking(self.sb.reset_answer)
            self._refuse_final(obs, turn, "the code before it failed", prompts.PREMATURE_FINAL)
            return obs, None
        if reply.final_kind == "text" and (reply.final or "").strip().isidentifier():
            # FINAL(error_count) written as prose: the variable of that name, where there is one
            name = (reply.final or "").strip()
            if name in {v.name for v in await self.blocking(self.sb.variables)}:
                reply.final_kind, reply.final = "var", name
        if reply.final_kind == "var":
            value = await self.blocking(self.sb.read_variable, reply.final)
            if value is None and reply.final == "answer":
                self._refuse_final(obs, turn, "FINAL_VAR(answer) with no content", prompts.UNREADY_ANSWER)
                return obs, None
            if value is None:
                listed = {v.name for v in await self.blocking(self.sb.variables)}
                exists = reply.final in listed
                self._refuse_final(obs, turn, f"FINAL_VAR({reply.final}): "
                                   + ("its value gave no text" if exists else "no such variable"),
                                   prompts.missing_final_var(reply.final or "", exists))
                return obs, None
            answer = value
        else:
            answer = reply.final or ""
        answer = self.mends.read_instead(answer, turn)
        if not await self._answer_stands(obs, turn, answer, same_step=bool(reply.code)):
            return obs, None
        return obs, answer

    async def _answer_stands(self, obs: Observation, turn: int, answer: str, *, same_step: bool) -> bool:
        """May `answer` end the run? Not when it is a sub-model's reply that is no answer, a
        placeholder or a misfit of the schema (each time), nor when it fails one of the run's
        once-asked questions (rlm/answer_checks.py)."""
        preview = answer.strip()[:120]
        if answer.strip() in self.flagged_replies:
            self._refuse_final(obs, turn, "the answer is a sub-model reply that is no answer",
                               prompts.flagged_answer(preview))
            return False
        if prompts.is_placeholder(answer):  # each time: it is never an answer
            self._refuse_final(obs, turn, "the answer is a placeholder of the instructions",
                               prompts.placeholder_answer(preview))
            return False
        if not self._fits_schema(obs, turn, answer):
            return False
        objection = self.checks.objection(answer, self.seen, same_step=same_step, sub_calls=self.sub_calls) \
            if self.config.answer_check else None
        if objection is not None:
            note = await self.mends.note_for(obs, turn, answer, objection)
            self._refuse_final(obs, turn, objection.reason, note)
            return False
        return True

    def _fits_schema(self, obs: Observation, turn: int, answer: str) -> bool:
        """Whether `answer` fits the run's schema (always, without one); when it does not, the
        model is told what failed (each time: the budget bounds the tries)."""
        if self.schema is None:
            return True
        value, problem = self.schema.parse(answer)
        if problem is not None:
            self._refuse_final(obs, turn, "the answer does not fit the schema",
                               prompts.schema_mismatch(self.schema.name, problem))
            return False
        self.typed = (value, self.schema.as_json(value))
        return True

    def _remember_seen(self, obs: Observation) -> None:
        """Keep the text the model has now seen, for checking its answers (bounded)."""
        for cell in obs.cells:
            self.seen.append(cell.stdout)
            if cell.error:  # its message, not the traceback's line numbers and code
                self.seen.append(cell.error.strip().splitlines()[-1])
        while sum(map(len, self.seen)) > SEEN_KEEP_CHARS and len(self.seen) > 1:
            self.seen.pop(0)

    def closing_timeout(self) -> float:
        """The time for a call made after the loop (the last call, the notes turn): the request
        timeout up to 120 s, and never past the wall budget by more than WALL_GRACE_S (a run
        stopped by its wall ends within seconds of it, whatever hangs)."""
        timeout = min(self.config.request_timeout_s, 120.0)
        left = self.tree.budget.wall_left()
        return timeout if left is None else min(timeout, left + WALL_GRACE_S)

    async def run_cell(self, code: str, turn: int | str, index: int) -> ExecResult:
        self.unchecked_refusal = self.found_nothing = False
        self.phase("running code")
        timeout = self.config.sandbox.cell_timeout_s
        wall = self.tree.budget.wall_left()
        if wall is not None:
            timeout = max(1.0, min(timeout, wall))
        self.cell_code = code
        try:
            result: ExecResult = await self.blocking(self.sb.execute, code, timeout)
        finally:
            self.cell_code = None
        if result.restarted and self.lent is not None:
            # a new kernel: what the session's earlier asks made is gone, and the next ask is told
            self.lent.not_replayed = [a.run_id for a in self.lent.earlier]
        self.emit(CellEvent(
            event="cell", turn=turn, block=index, cell=result.cell, code=code,
            stdout=result.stdout, error=result.error, truncated=result.truncated,
            timed_out=result.timed_out, restarted=result.restarted,
            final=result.final, duration_s=round(result.duration_s, 4),
        ))
        return result

    async def _last_call(self, history: History, reason: BudgetStop) -> tuple[RunStatus, str | None, str | None]:
        """A budget ran out: ask once for the best answer, run no code."""
        self.phase("asking for a final answer")
        self.emit(BudgetStopEvent(event="budget_stop", budget=reason))
        draft = await self._draft_quietly()
        if self.closing_timeout() <= 0:
            return reason, draft, None
        messages = history.messages(extra_user=prompts.last_call(_REASONS.get(reason, reason)))
        try:
            completion = await self.model_call(messages, "last", timeout_s=self.closing_timeout())
        except ModelError:
            return reason, draft, None
        reply = parse_reply(completion.text)
        if reply.final_kind is None and reply.code:  # no code runs now: a FINAL written as code is read
            reply.final_kind, reply.final = final_in_code(reply.code)
        # an answer said plainly, without the marker, is still the model's best answer
        stated = reply.visible.strip()[:LAST_CALL_PLAIN_CHARS] if not reply.code and not reply.open_block else ""
        stated = ANSWER_PREFIX.sub("", stated, count=1).strip()
        if prompts.is_own_text(stated):  # the model echoed one of the loop's own notes: no answer
            stated = ""
        answer = draft
        if reply.final_kind == "text":
            answer = reply.final
        elif reply.final_kind == "var":
            answer = await self.blocking(self.sb.read_variable, reply.final) or draft or stated or None
        elif stated and draft is None:
            answer = stated
        if answer is not None and (answer.strip() in self.flagged_replies or prompts.is_placeholder(answer)):
            answer = draft if draft is not None and draft.strip() not in self.flagged_replies else None
        if answer is not None and self.schema is not None:
            value, self.value_error = self.schema.parse(answer)
            if self.value_error is None:
                self.typed = (value, self.schema.as_json(value))
        return reason, answer, None

    async def _draft_quietly(self) -> str | None:
        if self.sandbox is None:
            return None
        try:
            return await asyncio.shield(self.blocking(self.sb.answer_draft))
        except (RLMError, RuntimeError, asyncio.CancelledError):
            return None

    def _finish(self, status: RunStatus, answer: str | None, error: str | None) -> RunResult:
        wall = time.monotonic() - self.started
        if self.typed is not None:  # the answer is the checked value's JSON
            answer = json.dumps(self.typed[1], ensure_ascii=False)
        result = RunResult(
            answer=answer, status=status, usage=self.usage, cost_usd=self.usage.cost_usd,
            run_id=self.run_id, trajectory_path=self.trajectory.path, iterations=self.iterations,
            wall_s=wall, sub_calls=self.sub_calls, error=error, children=list(self.children),
            replayed_turns=self.replayed_turns,
            evidence=answer_evidence(answer, self.citations.evidence(), self.answer_items),
        )
        if self.typed is not None:
            result.value, result.value_json = self.typed
        result.value_error = self.value_error
        if self.depth == 0:
            self.tree.refresh_status().ended = True  # the clock of a live display stops here
        final = FinalEvent(event="final", status=status, answer=answer, error=error)
        if result.evidence:
            final["evidence"] = [e.as_dict() for e in result.evidence]
        self.emit(final)
        self.emit(TotalsEvent(event="totals", usage=self.usage.as_dict(),
                              cost_usd=round(self.usage.cost_usd, 6) if self.usage.priced else None,
                              iterations=self.iterations, sub_calls=self.sub_calls,
                              children=self.children, wall_s=round(wall, 3)))
        return result

    async def _close(self) -> None:
        try:
            lent = self.lent
            if lent is not None and self.sandbox is not None and lent.sandbox is self.sandbox:
                if not self.kernel_spent:
                    # the session's: it stays open for the next ask; this run's thread goes, and
                    # the event loop jupyter_client made for it with it
                    await asyncio.shield(self.tree.loop.run_in_executor(self._executor, close_thread_loop))
                    return
                lent.drop_sandbox()  # cancelled or broken: the next ask starts (and replays) a new one
            if self.sandbox is not None:
                await asyncio.shield(self.blocking(self.sandbox.close))
        except asyncio.CancelledError:
            # a second Ctrl-C: the close goes on in its worker thread, which the interpreter
            # waits for before the process ends (nothing is left behind)
            log.warning("run %s: interrupted again while its sandbox was closing; it is closed before rlm exits",
                        self.run_id)
        except (RLMError, OSError) as exc:
            log.warning("closing the sandbox of run %s failed: %s", self.run_id, error_words(exc))
        finally:
            self.notes.close()
            self.trajectory.close()
            self._executor.shutdown(wait=False)


# the most of a plainly stated last answer (no FINAL marker) that is kept as the answer
LAST_CALL_PLAIN_CHARS = 20_000
WALL_GRACE_S = 2.0  # past the wall budget, the time left to the last call and the notes turn together
# a reply with no code and no marker up to this size may be an answer said plainly
PLAIN_ANSWER_CHARS = 300


class CostRefused(ModelError):
    """A root-model call whose worst-case cost no longer fits the cost budget (none was made)."""


_REASONS = {
    "max_iterations": "the turn limit is reached",
    "max_tokens": "the token budget is spent",
    "max_cost": "the cost budget is spent",
    "max_wall_time": "the time budget is spent",
    "max_sub_calls": "the sub-call budget is spent",
}
