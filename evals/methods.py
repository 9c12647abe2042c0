"""The methods compared (the paper's baselines), all through the public API of `rlm`.

rlm        the root model with its REPL and sub-calls (`RLM.completion`).
rlm-nosub  the same without `llm_query` / `rlm_query` (the paper's ablation).
direct     the whole context in one call, cut to the model's window (the cut is recorded).
summary    an iterative summarisation agent: the sub-model (the paper's smaller compaction
           model) reads window-sized chunks and keeps running notes; the model answers from them.
retrieval  BM25 (bm25s) over chunks of the context, top-k chunks in one call.
codeact    a CodeAct agent (evals/codeact.py): Python in the sandbox in a ReAct loop, the
           context in its prompt (cut to the window), `search()` a BM25 retriever over all of it.
codeact-sub  the same with `llm_query` sub-calls to the sub-model.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.codeact import codeact
from evals.judge import JUDGED_SUITES
from evals.retrieve import Searcher, chunk_text
from evals.tasks import EvalError, Task
from evals.tokens import DEFAULT_TOKENIZER, tokenizer
from rlm import RLM, ConfigError, ModelClient, ModelError, RLMConfig, RLMError
from rlm.config import check_names, resolve
from rlm.events import (
    SCHEMA_VERSION,
    Event,
    FinalEvent,
    Kind,
    ModelCallEvent,
    RunStartEvent,
    Status,
    SubCallEvent,
    TotalsEvent,
    as_run_status,
)
from rlm.trajectory import Trajectory, message_digest, new_run_id, prompt_record
from sandbox import SandboxError

METHODS = ("rlm", "rlm-nosub", "direct", "summary", "retrieval", "codeact", "codeact-sub")
CITING = ("rlm", "rlm-nosub")  # the methods whose code can cite evidence (`cite`); the baselines cannot


MIN_WINDOW = 1024


def check_methods(methods: list[str]) -> None:
    """EvalError for a name that is not one of METHODS (or none at all)."""
    if not methods:
        raise EvalError(f"no method given; known: {', '.join(METHODS)}")
    for m in methods:
        if not m:
            raise EvalError(f"an empty method name (two commas in a row?); known: {', '.join(METHODS)}")
        if m not in METHODS:
            raise EvalError(f"unknown method {m!r}; known: {', '.join(METHODS)}")
    twice = sorted({m for m in methods if methods.count(m) > 1})
    if twice:
        raise EvalError(f"method {', '.join(twice)} named twice: each pair would run (and be paid for) twice")


# what the eval methods change from RLMConfig's defaults: notes off unless asked, slower servers.
# They are passed as arguments, so they win over the environment and rlm.toml (as ever: an eval
# run writes no notes, and waits 300 s per request, whatever rlm.toml says).
# The call cache is off too: a cached reply costs nothing and would make a method look free
# (the baselines never use it), so methods would not be costed alike.
EVAL_DEFAULTS: dict[str, Any] = {"notes": False, "request_timeout_s": 300.0, "cache": False}


def eval_config(**settings: Any) -> RLMConfig:
    """The RLMConfig of an eval run, through the controller's one resolve path: `settings`
    given (RLMConfig fields by name; None: not given), then `EVAL_DEFAULTS`, then the
    environment and rlm.toml, then RLMConfig's defaults; validated. ConfigError if it cannot work."""
    given = {k: v for k, v in settings.items() if v is not None}
    config = resolve({**EVAL_DEFAULTS, **given})
    config.validate()
    return config


@dataclass
class MethodSettings:
    """What every method needs: `rlm`, the controller's settings (model, endpoints, key,
    budgets, prices, notes, runs_dir, sandbox: one `RLMConfig`, also read by the baselines for
    their model and endpoint), plus the baselines' own knobs.

    window_tokens: the context window assumed by the baselines (direct, summary, retrieval,
        codeact), counted with `tokenizer` (see `evals.tokens`: o200k_base by default).
    top_k / chunk_chars: retrieval's chunks (and CodeAct's `search`).
    judge_model: grades multidoc answers with an LLM judge (evals/judge.py) on the run's
        endpoint; None: exact match only.
    """

    rlm: RLMConfig
    window_tokens: int = 128_000
    top_k: int = 8
    chunk_chars: int = 4000
    tokenizer: str = DEFAULT_TOKENIZER
    judge_model: str | None = None

    def __post_init__(self) -> None:
        if self.window_tokens < MIN_WINDOW:  # below it the prompt's own text leaves no room for context
            raise EvalError(f"a window of {self.window_tokens:,} tokens is too small: at least {MIN_WINDOW:,} (1k)")
        if self.top_k < 1 or self.chunk_chars < 1:
            raise EvalError("top_k and chunk_chars must be at least 1")

    @classmethod
    def of(cls, *, window_tokens: int = 128_000, top_k: int = 8, chunk_chars: int = 4000,
           tokenizer: str = DEFAULT_TOKENIZER, judge_model: str | None = None, **config: Any) -> MethodSettings:
        """Settings from RLMConfig fields by name (`model=`, `base_url=`, `max_iterations=`...)
        over `EVAL_DEFAULTS` (notes off unless `notes=` names a directory); fields left at None
        are filled from the environment and rlm.toml when the `rlm` method builds its RLM.
        Unknown names raise ConfigError."""
        check_names(config)
        given = {k: v for k, v in config.items() if v is not None}
        return cls(RLMConfig(**{**EVAL_DEFAULTS, **given}), window_tokens, top_k, chunk_chars, tokenizer,
                   judge_model)

    @property
    def model(self) -> str:
        return self.rlm.model or ""

    def as_dict(self) -> dict[str, Any]:
        """The settings without secrets."""
        return {"rlm": self.rlm.public_dict(), "window_tokens": self.window_tokens, "top_k": self.top_k,
                "chunk_chars": self.chunk_chars, "tokenizer": self.tokenizer, "judge_model": self.judge_model}


# a row with one of these statuses is a failure to run, not a result: the next run retries it
FAILED_STATUSES = frozenset({Status.ERROR, Status.MODEL_ERROR, Status.SANDBOX_ERROR, "judge_error"})


def result_settings(method: str, s: MethodSettings, suite: str | None = None) -> dict[str, Any]:
    """The settings that shape `method`'s results on `suite`: rows made with other values are
    kept apart (never skipped as done, never averaged together in a report). The judge model
    counts only on the suites it grades."""
    c = s.rlm
    out: dict[str, Any] = {"model": c.model, "base_url": c.base_url}
    if s.judge_model and suite in JUDGED_SUITES:
        out["judge_model"] = s.judge_model
    if method in ("rlm", "rlm-nosub"):
        out.update(sub_model=c.effective_sub_model if method == "rlm" else None, max_iterations=c.max_iterations,
                   max_depth=c.max_depth, max_cost_usd=c.max_cost_usd, max_tokens=c.max_tokens,
                   max_wall_s=c.max_wall_s, max_sub_calls=c.max_sub_calls)
    else:
        out.update(window_tokens=s.window_tokens, tokenizer=s.tokenizer)
        if method == "retrieval":
            out.update(top_k=s.top_k, chunk_chars=s.chunk_chars)
        if method in ("summary", "codeact-sub"):
            out["sub_model"] = c.effective_sub_model
        if method.startswith("codeact"):
            out.update(max_iterations=c.max_iterations, max_cost_usd=c.max_cost_usd, chunk_chars=s.chunk_chars)
    return out


def settings_id(settings: dict[str, Any]) -> str:
    """A short stable name for a settings dict (12 hex digits)."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass
class Outcome:
    """One task solved by one method."""

    answer: str | None
    status: str  # a RunStatus (rlm.events), or a row's own: judge_error, a benchmark's unavailable
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0
    run_id: str | None = None
    trajectory_path: str | None = None
    error: str | None = None
    truncated: bool = False
    memory_tokens: int = 0
    turns: int | None = None  # set by a method that counts its own turns without a trajectory
    # the verified citations (rlm.evidence.Evidence.as_dict()) of a method that can cite (the rlm
    # methods); None for one that cannot (the baselines), which is not the same as none cited
    evidence: list[dict[str, Any]] | None = None


def run_method(method: str, task: Task, base: Path, settings: MethodSettings) -> Outcome:
    """Solve `task` with `method`; model and sandbox failures come back as a status, not raised."""
    check_methods([method])
    started = time.monotonic()
    try:
        if method in ("rlm", "rlm-nosub"):
            out = _rlm(task, base, settings, sub_calls=method == "rlm")
        else:
            out = asyncio.run(_baseline(method, task, base, settings))
    except (RLMError, OSError, ValueError) as exc:
        out = Outcome(None, Status.ERROR, error=f"{type(exc).__name__}: {exc}",
                      evidence=[] if method in CITING else None)  # a failed run cited nothing
    out.wall_s = time.monotonic() - started
    return out


def _rlm(task: Task, base: Path, s: MethodSettings, *, sub_calls: bool) -> Outcome:
    rlm = RLM(s.rlm, sub_calls=sub_calls)
    result = rlm.completion(task.load_context(base), task.question)
    memory_tokens = 0
    if result.trajectory_path and rlm.config.notes_dir is not None:
        from rlm import read_trajectory

        for event in read_trajectory(result.trajectory_path):
            if event["event"] == Kind.NOTES_LOADED:
                memory_tokens = int(event.get("memory_tokens", 0))
                break
    u = result.usage.total
    return Outcome(result.answer, result.status, u.prompt_tokens, u.completion_tokens, result.cost_usd,
                   run_id=result.run_id, trajectory_path=str(result.trajectory_path or "") or None,
                   error=result.error, memory_tokens=memory_tokens, evidence=[e.as_dict() for e in result.evidence])


class _Caller:
    """The model and sub-model endpoints and a running total of tokens and cost, for the baselines."""

    def __init__(self, s: MethodSettings) -> None:
        self.s = s
        c = s.rlm
        root_at, sub_at = c.endpoints()
        # the run's own retry and sampling settings, as the rlm method's client has them
        self.client = ModelClient.for_config(c, *root_at)
        self.sub_client = self.client if sub_at == root_at else ModelClient.for_config(c, *sub_at)
        self.prices = c.price_table()
        self.out = Outcome(None, Status.OK)
        self.trace: Trajectory | None = None
        self.turns = 0
        self.unpriced = False  # a call went to a model without a price: its run page says so, not $0
        self.started = time.monotonic()

    def start_trace(self, task: Task, base: Path, method: str) -> None:
        """Write the run to a trajectory as the rlm methods do (unless `trajectory=False`), so
        that a baseline's row has a run page too: its calls, its cells, its sub-calls."""
        c = self.s.rlm
        if not c.trajectory:
            return
        run_id = new_run_id()
        path = c.effective_runs_dir / f"{run_id}.jsonl"
        try:
            self.trace = Trajectory(path, run_id)
        except (OSError, ConfigError):  # a runs directory that cannot be written: the run goes on without its page
            return
        self.out.run_id, self.out.trajectory_path = run_id, str(path)
        ctx = task.load_context(base)
        context = {"kind": "text", "chars": len(ctx)} if isinstance(ctx, str) else {"kind": "path", "path": str(ctx)}
        self.emit(RunStartEvent(event="run_start", schema=SCHEMA_VERSION, query=task.question, model=self.s.model,
                                method=method, depth=0, config=c.public_dict(), context=context))

    def emit(self, event: Event) -> None:
        if self.trace is not None:
            self.trace.write(event)

    def end_trace(self) -> None:
        if self.trace is None:
            return
        out = self.out
        # a baseline's outcome holds a run status: judge_error is set later, on its row
        self.emit(FinalEvent(event="final", status=as_run_status(out.status), answer=out.answer, error=out.error))
        total = {"prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
                 "total_tokens": out.prompt_tokens + out.completion_tokens}
        self.emit(TotalsEvent(event="totals", usage={"total": total},
                              cost_usd=None if self.unpriced else round(out.cost_usd, 6),
                              iterations=self.turns, wall_s=round(time.monotonic() - self.started, 3)))
        self.trace.close()

    async def chat(self, messages: list[dict[str, Any]], *, sub: bool = False, cell: int | None = None) -> str:
        model = self.s.rlm.effective_sub_model if sub else self.s.model
        if not sub:
            self.turns += 1
        what: SubCallEvent | ModelCallEvent = (
            SubCallEvent(event="sub_call", depth=1, cell=cell, model=model,
                         **prompt_record(str(messages[-1]["content"])))
            if sub else ModelCallEvent(event="model_call", turn=self.turns, model=model,
                                       messages=message_digest(messages)))
        try:
            c = await (self.sub_client if sub else self.client).chat(model, messages)
        except ModelError as exc:
            what["error"] = str(exc)
            self.emit(what)
            raise
        cost = self.prices.cost(model, c.prompt_tokens, c.completion_tokens, c.cached_tokens)
        priced = self.prices.get(model) is not None
        self.unpriced = self.unpriced or not priced
        self.out.prompt_tokens += c.prompt_tokens
        self.out.completion_tokens += c.completion_tokens
        self.out.cost_usd += cost
        what.update({"reply": c.text, "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                     "cached_tokens": c.cached_tokens, "cost_usd": round(cost, 8) if priced else None,
                     "latency_s": round(c.latency_s, 4), "attempts": c.attempts})
        self.emit(what)
        return c.text

    async def ask(self, prompt: str, *, sub: bool = False, cell: int | None = None) -> str:
        return await self.chat([{"role": "user", "content": prompt}], sub=sub, cell=cell)

    async def close(self) -> None:
        await self.client.aclose()
        if self.sub_client is not self.client:
            await self.sub_client.aclose()


async def _baseline(method: str, task: Task, base: Path, s: MethodSettings) -> Outcome:
    """Run one baseline with its own client; a model failure becomes the outcome's status."""
    caller = _Caller(s)
    try:
        caller.start_trace(task, base, method)
        await _BASELINES[method](task, base, s, caller)
    except ModelError as exc:
        caller.out.status, caller.out.error = Status.MODEL_ERROR, str(exc)
    except SandboxError as exc:
        caller.out.status, caller.out.error = Status.SANDBOX_ERROR, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a bad context file, a bug: the row and the run page say so
        caller.out.status, caller.out.error = Status.ERROR, f"{type(exc).__name__}: {exc}"
    except BaseException:  # Ctrl-C, a cancelled task: the run page says it did not finish
        caller.out.status = Status.CANCELLED
        raise
    finally:
        try:
            caller.end_trace()
        finally:
            await caller.close()
    return caller.out


# tokens kept free in a baseline's window: the reply, the instructions around the text, and
# for summary the running notes (asked to stay under 1,500 words)
_ANSWER_ROOM = 1024
_NOTES_ROOM = 3072


def _room(s: MethodSettings, question: str, reserve: int) -> int:
    """Tokens of context that fit in the window beside the question and `reserve` (at most half
    the window: summary's 4k reserve left a small window only a 256-token floor of context)."""
    return max(256, s.window_tokens - tokenizer(s.tokenizer).count(question) - min(reserve, s.window_tokens // 2))


async def _direct(task: Task, base: Path, s: MethodSettings, caller: _Caller) -> None:
    text = task.context_text(base)
    kept = tokenizer(s.tokenizer).head(text, _room(s, task.question, _ANSWER_ROOM))
    caller.out.truncated = len(kept) < len(text)
    cut = "[the context was cut here to fit the window]" if caller.out.truncated else ""
    prompt = f"{kept}\n\n{cut}\n\nQuestion: {task.question}"
    caller.out.answer = await caller.ask(prompt)


async def _summary(task: Task, base: Path, s: MethodSettings, caller: _Caller) -> None:
    text = task.context_text(base)
    notes, done = "", 0
    for chunk in tokenizer(s.tokenizer).chunks(text, _room(s, task.question, _ANSWER_ROOM + _NOTES_ROOM)):
        notes = await caller.ask(
            f"You are reading a long text in parts to answer a question later.\nQuestion: {task.question}\n\n"
            f"Your notes so far:\n{notes or '(none)'}\n\nNext part ({done:,} to {done + len(chunk):,} of "
            f"{len(text):,} characters):\n{chunk}\n\nRewrite your notes: keep every fact that may help "
            "answer the question, and counts so far; at most 1,500 words.", sub=True)
        done += len(chunk)
    caller.out.answer = await caller.ask(f"Your notes on a long text:\n{notes}\n\nQuestion: {task.question}")


async def _retrieval(task: Task, base: Path, s: MethodSettings, caller: _Caller) -> None:
    chunks = chunk_text(task.context_text(base), s.chunk_chars)
    ranked = Searcher(chunks).top(task.question, s.top_k)
    # the best-ranked passages that fit the window, in the context's order
    tok, room = tokenizer(s.tokenizer), _room(s, task.question, _ANSWER_ROOM)
    picked: list[int] = []
    for i in ranked:
        room -= tok.count(chunks[i]) + 8
        if room < 0 and picked:
            break
        picked.append(i)
    picked.sort()
    passages = "\n\n".join(f"[passage {n + 1}]\n{chunks[i]}" for n, i in enumerate(picked))
    caller.out.truncated = len(chunks) > len(picked)
    caller.out.answer = await caller.ask(
        f"Passages retrieved from a long text:\n\n{passages}\n\nQuestion: {task.question}")


async def _codeact(task: Task, base: Path, s: MethodSettings, caller: _Caller, *, sub_calls: bool) -> None:
    limit = s.rlm.max_cost_usd

    def afford(prompt_tokens: int, sub_prompt_tokens: int, sub_calls: int) -> bool:
        """Each call's prompt, and an answer of ANSWER_ALLOWANCE tokens to each."""
        assert limit is not None
        cost = caller.prices.cost(s.model, prompt_tokens, ANSWER_ALLOWANCE)
        if sub_calls:
            cost += caller.prices.cost(s.rlm.effective_sub_model, sub_prompt_tokens, ANSWER_ALLOWANCE * sub_calls)
        return caller.out.cost_usd + cost <= limit

    done = await codeact(task.context_text(base), task.question, chat=caller.chat,
                         ask_sub=(lambda prompt, cell: caller.ask(prompt, sub=True, cell=cell)) if sub_calls else None,
                         tok=tokenizer(s.tokenizer), window_tokens=s.window_tokens, chunk_chars=s.chunk_chars,
                         max_turns=s.rlm.max_iterations, sandbox_config=s.rlm.sandbox,
                         afford=None if limit is None else afford, emit=caller.emit)
    caller.out.answer, caller.out.status, caller.out.truncated = done.answer, done.status, done.truncated


ANSWER_ALLOWANCE = 500  # completion tokens a codeact call is assumed to cost, before it is made

_BASELINES: dict[str, Callable[[Task, Path, MethodSettings, _Caller], Awaitable[None]]] = {
              "direct": _direct, "summary": _summary, "retrieval": _retrieval,
              "codeact": functools.partial(_codeact, sub_calls=False),
              "codeact-sub": functools.partial(_codeact, sub_calls=True)}
