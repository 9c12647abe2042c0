"""The trajectory's vocabulary: every kind of event a run log holds, as a TypedDict of its
fields; the schema version written in `run_start`; the statuses a run can end with; and a
reader that takes the events it knows and passes over the rest. How events are bounded and
written (caps, the byte budget) is rlm/trajectory.py's.

The TypedDicts say what writers write. On disk an event may differ in two ways the writer
owns: a text over its cap is cut (and the field named in `cut`), and past the byte budget a
list or dict field becomes `{"not_recorded": type, "items": n}`. Readers use `.get`.
"""

# no `from __future__ import annotations`: TypedDict reads NotRequired from the evaluated
# annotations (on 3.11 a string annotation makes every key required in __required_keys__)

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, Literal, NotRequired, TypeAlias, TypedDict, cast, get_args

# 1: run_start carries `schema`. A trajectory without it is version 0, written before this
# module; its events have the same kinds and fields.
SCHEMA_VERSION: Final = 1

# ----- statuses ------------------------------------------------------------------------------
BudgetStop: TypeAlias = Literal["max_iterations", "max_tokens", "max_cost", "max_wall_time", "max_sub_calls"]
# what a run ends with (RunResult.status, the final event's status): "error" only in a
# trajectory whose run raised (RLM.completion raises it instead of returning)
RunStatus: TypeAlias = Literal["ok", BudgetStop, "model_error", "sandbox_error", "cancelled", "error"]


class Status:
    """The RunStatus values by name (each typed as its Literal, so it fits a RunStatus)."""

    OK: Final = "ok"
    MAX_ITERATIONS: Final = "max_iterations"
    MAX_TOKENS: Final = "max_tokens"
    MAX_COST: Final = "max_cost"
    MAX_WALL_TIME: Final = "max_wall_time"
    MAX_SUB_CALLS: Final = "max_sub_calls"
    MODEL_ERROR: Final = "model_error"
    SANDBOX_ERROR: Final = "sandbox_error"
    CANCELLED: Final = "cancelled"
    ERROR: Final = "error"


RUN_STATUSES: Final[frozenset[str]] = frozenset(get_args(RunStatus))
BUDGET_STOPS: Final[frozenset[str]] = frozenset(get_args(BudgetStop))
# what a reader says of a run whose file has no final event (not a status a run ends with)
UNFINISHED: Final = "running or crashed"


# ----- event kinds ---------------------------------------------------------------------------
class Kind:
    """The event kinds by name."""

    RUN_START: Final = "run_start"
    CONTEXT_LOADED: Final = "context_loaded"
    NOTES_LOADED: Final = "notes_loaded"
    NOTES_ERROR: Final = "notes_error"
    NOTE: Final = "note"
    NOTES_WRITTEN: Final = "notes_written"
    MODEL_CALL: Final = "model_call"
    TOOL_CALL: Final = "tool_call"
    CITATION: Final = "citation"
    REPLY_FORM: Final = "reply_form"
    LOOP_CHECK: Final = "loop_check"
    FINAL_REFUSED: Final = "final_refused"
    CELL: Final = "cell"
    SUB_CALL: Final = "sub_call"
    CHILD_RUN: Final = "child_run"
    CHILD_DONE: Final = "child_done"
    BUDGET_STOP: Final = "budget_stop"
    FINAL: Final = "final"
    TOTALS: Final = "totals"
    TRAJECTORY_BUDGET: Final = "trajectory_budget"


class _Written(TypedDict, total=False):
    """What the writers add to every event: the run's id, seconds since it started and the UTC
    time (Trajectory.write), its depth (Run.emit), and the fields cut to their caps."""

    run_id: str
    t: float
    ts: str
    depth: int
    cut: list[str]


class PromptRecord(TypedDict, total=False):
    """A sub-call's prompt as kept (rlm.trajectory.prompt_record): whole when short, else its
    head, tail and hash."""

    prompt: str
    prompt_chars: int
    prompt_head: str
    prompt_tail: str
    prompt_sha256: str


class RunStartEvent(_Written):
    event: Literal["run_start"]
    schema: int
    query: str
    model: str
    config: dict[str, Any]
    context: dict[str, Any]
    parent_run_id: NotRequired[str | None]  # not written by the eval baselines
    replay: NotRequired[dict[str, Any]]  # a root run's context, for a resume
    method: NotRequired[str]  # an eval baseline's method
    session: NotRequired[dict[str, Any]]  # an ask of a session: {id, ask (1, 2, ...), earlier_run_ids}


class ToolCallEvent(_Written):
    event: Literal["tool_call"]
    cell: int | None
    name: str
    arguments: str  # their JSON, cut to 2,000 characters
    result: str | None  # its JSON, cut alike (None when the call failed)
    error: str | None
    duration_s: float


class CitationEvent(_Written):
    event: Literal["citation"]
    cell: int | None
    id: int | None  # the kept citation's number (None: refused)
    refused: str | None  # why it was refused
    evidence: NotRequired[dict[str, Any]]  # rlm.evidence.Evidence.as_dict() of a kept one
    claim: NotRequired[dict[str, Any]]  # what a refused one claimed: context, start, end, quote (cut)


class ContextLoadedEvent(_Written):
    event: Literal["context_loaded"]
    name: str
    type: str
    size: int
    description: str
    docs: int
    skipped: dict[str, list[str]]
    decoded: dict[str, str]
    extraction: dict[str, Any]
    load_s: NotRequired[float]  # seconds from starting the sandbox to the context loaded
    reused: NotRequired[bool]  # a session's later ask: its kernel already held the context


class NotesLoadedEvent(_Written):
    event: Literal["notes_loaded"]
    directory: str
    memories: int
    memory_tokens: int
    memory_ids: list[int]
    docs: int
    memory_texts: list[str]
    prompt_chars: int
    store_ms: float


class NotesErrorEvent(_Written):
    event: Literal["notes_error"]
    error: str


class NoteEvent(_Written):
    event: Literal["note"]
    cell: int
    op: str
    request: dict[str, str]
    id: int | None
    message: str


class NotesWrittenEvent(_Written):
    event: Literal["notes_written"]
    writes: list[dict[str, Any]]


class ModelCallEvent(_Written):
    """A root-model call: its reply and counts, or its `error` (then no reply or counts)."""

    event: Literal["model_call"]
    turn: int | str  # "last" (the call after a budget stop), "notes" (the notes turn)
    model: str
    messages: list[dict[str, Any]]
    prompt_chars: NotRequired[int]
    reply: NotRequired[str]
    prompt_tokens: NotRequired[int]
    completion_tokens: NotRequired[int]
    cached_tokens: NotRequired[int]
    usage_estimated: NotRequired[bool]
    cost_usd: NotRequired[float | None]  # None: the model has no price
    latency_s: NotRequired[float]
    attempts: NotRequired[int]
    cache_hit: NotRequired[bool]
    error: NotRequired[str]


class ReplyFormEvent(_Written):
    event: Literal["reply_form"]
    turn: int
    thinking_chars: int
    untagged_blocks_run: int
    cut_by_token_limit: bool
    open_block_not_run: bool


class LoopCheckEvent(_Written):
    event: Literal["loop_check"]
    check: str
    turn: NotRequired[int]
    times: NotRequired[int]
    count: NotRequired[int]
    longest: NotRequired[int]
    temperature: NotRequired[float]


class FinalRefusedEvent(_Written):
    event: Literal["final_refused"]
    turn: int
    reason: str


class CellEvent(_Written):
    event: Literal["cell"]
    turn: int | str  # "notes": a cell of the notes turn
    block: int
    cell: int
    code: str
    stdout: str
    error: str | None
    truncated: bool
    timed_out: bool
    restarted: bool
    final: str | None
    duration_s: float


class SubCallEvent(_Written, PromptRecord):
    """An llm_query call: its reply and counts, or its `error` (then no reply or counts)."""

    event: Literal["sub_call"]
    cell: int | None
    model: str
    images: NotRequired[int]
    reply: NotRequired[str]
    prompt_tokens: NotRequired[int]
    completion_tokens: NotRequired[int]
    cached_tokens: NotRequired[int]
    cost_usd: NotRequired[float | None]
    latency_s: NotRequired[float]
    attempts: NotRequired[int]
    cache_hit: NotRequired[bool]
    saved_usd: NotRequired[float | None]
    error: NotRequired[str]


class ChildRunEvent(_Written, PromptRecord):
    event: Literal["child_run"]
    cell: int
    child_run_id: str
    trajectory: str | None


class ChildDoneEvent(_Written):
    event: Literal["child_done"]
    child_run_id: str
    status: RunStatus
    answer_chars: int
    cost_usd: float | None


class BudgetStopEvent(_Written):
    event: Literal["budget_stop"]
    budget: BudgetStop


class FinalEvent(_Written):
    event: Literal["final"]
    status: RunStatus
    answer: str | None
    error: str | None
    dropped_events: NotRequired[int]  # events past the byte budget, counted, not written
    evidence: NotRequired[list[dict[str, Any]]]  # the verified citations (rlm.evidence.Evidence.as_dict())


class TotalsEvent(_Written):
    event: Literal["totals"]
    usage: dict[str, Any]
    cost_usd: float | None
    iterations: int
    wall_s: float
    sub_calls: NotRequired[int]  # not written by the eval baselines
    children: NotRequired[list[str]]


class TrajectoryBudgetEvent(_Written):
    event: Literal["trajectory_budget"]
    budget_bytes: int
    written_bytes: int
    message: str


Event: TypeAlias = (
    RunStartEvent | ContextLoadedEvent | NotesLoadedEvent | NotesErrorEvent | NoteEvent | NotesWrittenEvent
    | ModelCallEvent | ReplyFormEvent | LoopCheckEvent | FinalRefusedEvent | CellEvent | SubCallEvent | ChildRunEvent
    | ChildDoneEvent | BudgetStopEvent | FinalEvent | TotalsEvent | TrajectoryBudgetEvent | ToolCallEvent
    | CitationEvent)

EVENT_TYPES: Final[dict[str, type]] = {get_args(t.__annotations__["event"])[0]: t for t in get_args(Event)}
KINDS: Final[frozenset[str]] = frozenset(EVENT_TYPES)


def required_keys(kind: str) -> frozenset[str]:
    """The keys every event of `kind` carries as written (those the writer adds aside);
    empty for an unknown kind."""
    t = EVENT_TYPES.get(kind)
    return frozenset(getattr(t, "__required_keys__", ()))


def as_run_status(value: str) -> RunStatus:
    """`value` as a RunStatus; ValueError when it is none (a status from untyped code)."""
    if value not in RUN_STATUSES:
        raise ValueError(f"{value!r} is not a run status (one of {', '.join(sorted(RUN_STATUSES))})")
    return cast(RunStatus, value)


# ----- reading -------------------------------------------------------------------------------
def read_event(obj: Any) -> Event | None:
    """`obj` as an Event when it is a dict whose `event` is a known kind; None for anything else
    (an unknown or newer kind, a line that is not an event), so readers pass over it. The
    fields are not checked: an older or short-form event is still read."""
    if isinstance(obj, dict) and isinstance(obj.get("event"), str) and obj["event"] in KINDS:
        return cast(Event, obj)
    return None


def events_of(values: Iterable[Any]) -> Iterator[Event]:
    """The known events among `values` (parsed JSON lines, e.g. rlm.trajectory.read_trajectory),
    in order."""
    for value in values:
        event = read_event(value)
        if event is not None:
            yield event


def schema_of(start: Mapping[str, Any] | None) -> int:
    """The schema version of a trajectory from its run_start event (0: written before versions)."""
    version = (start or {}).get("schema", 0)
    return version if isinstance(version, int) and not isinstance(version, bool) else 0
