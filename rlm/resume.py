"""Resuming a run: what the trajectory records of a root run's input, and how a run is found
and rebuilt from it.

A resumed run is the same query over the same context with the same request settings: the
turns the first run completed take their recorded replies from the trajectory (no model is
asked; their code runs again in the new kernel, and its sub-calls are the same requests, so
the call cache answers them) until the turn the first run did not finish; from there the run
goes on live. The context must
be what it was: files are checked by path, size and modification time, an in-memory context
(a str, bytes, a list or dict) is kept beside the trajectory and checked by its SHA-256;
standard input (or a FIFO) is a file kept beside the trajectory while the run can be
resumed (`rlm.stdin_spool`).
Relative paths are used as they were given when the resume runs in the same directory
(elsewhere they are absolute, the prompts that name them differ, and fewer turns replay).

The resumed run is the run it continues in every setting it recorded: its requests
(REQUEST_FIELDS, always), its budgets and limits (RUN_FIELDS: a setting the resuming RLM was
given explicitly wins, e.g. a raised max_iterations), the sandbox settings that decide what its
cells read and print (SANDBOX_FIELDS; never its isolation, which stays the resumer's), and its
notes store (by the absolute directory it used, wherever the resume runs).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm import stdin_spool
from rlm.config import RLMConfig, without_credentials
from rlm.errors import ContextError
from rlm.events import Kind
from rlm.inputs import Context
from rlm.trajectory import read_jsonl
from sandbox.context import MESSAGE_PATH_CHARS, shown

# what decides the requests a run makes: taken from the recorded run, so that its turns are
# the same requests again (keys come from the resuming settings)
REQUEST_FIELDS = ("model", "sub_model", "base_url", "sub_base_url", "max_depth", "history",
                  "observation_chars", "model_kwargs", "sub_calls", "max_children", "notes_turn",
                  "memory_chars", "memory_tokens", "doc_chars")


# the budgets and limits the run was started with: the recorded run's, unless the resumer gave
# one explicitly (a budget raised to let a stopped run go on)
RUN_FIELDS = ("max_iterations", "max_cost_usd", "max_tokens", "max_wall_s", "max_sub_calls", "max_concurrency",
              "request_timeout_s", "max_retries", "retry_base_s", "retry_max_s", "trajectory_bytes",
              "sub_window_chars", "context_preview_chars", "unstick_temperature", "answer_check", "models",
              "preflight")
# the sandbox settings that decide what the context is and what a cell shows (not the isolation
# layers or resource limits: a trajectory must not be able to loosen those)
SANDBOX_FIELDS = ("hidden_files", "ignore_files", "extract_documents", "max_str_bytes", "cell_timeout_s",
                  "output_limit_chars", "keep_output_chars", "max_source_chars")


STORE_MAX_BYTES = 64 << 20  # an in-memory context up to this size is kept beside the trajectory


def _files_under(root: Path) -> list[Path]:
    """`root`, or the files under it in a stable order; what cannot be listed (a path past
    PATH_MAX, an unreadable directory) is passed over, as reading the context passes it over."""
    if not root.is_dir():
        return [root]
    found: list[Path] = []
    for dirpath, _, filenames in os.walk(root):
        found += [Path(dirpath) / name for name in filenames]
    return sorted(found)


def _files_fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for root in paths:
        for p in _files_under(root):
            try:
                st = p.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            digest.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _stored_bytes(context: Context) -> tuple[bytes, str]:
    if context.kind == "text":
        return context.value.encode("utf-8", "surrogatepass"), "text"
    if context.kind == "bytes":
        return bytes(context.value), "bytes"
    return json.dumps(context.value, ensure_ascii=False).encode("utf-8"), "json"


def record_context(context: Context, runs_dir: Path, run_id: str, *, store: bool = True) -> dict[str, Any]:
    """What a resume needs to find the context again (written with the run's start). `store`:
    keep an in-memory context of up to STORE_MAX_BYTES beside the run (else only its hash)."""
    if context.kind in ("path", "paths"):
        paths = [p.resolve() for p in context.paths()]
        record = {"paths": [str(p) for p in paths], "given": [str(p) for p in context.paths()],
                  "cwd": str(Path.cwd()), "fingerprint": _files_fingerprint(paths)}
        if context.label:  # standard input or a FIFO, kept in a spool file
            record["label"] = context.label
        if context.spooled:  # kept for a resume from now on, until the run answers
            stdin_spool.claim(context.value)
        return record
    if context.kind not in ("text", "bytes", "json"):
        return {}
    data, kind = _stored_bytes(context)
    record = {"kind": kind, "sha256": hashlib.sha256(data).hexdigest()}
    if store and len(data) <= STORE_MAX_BYTES:  # larger: the resumer passes the context again
        runs_dir.mkdir(parents=True, exist_ok=True)
        stored = runs_dir / f"{run_id}.context"
        stored.write_bytes(data)
        record["stored"] = stored.name
    return record


def _spool_place(path: Path, runs_dir: Path) -> bool:
    """Whether `path` lies where `rlm.stdin_spool` keeps spools: the runs directory, or the
    temporary directory (standard input read without one)."""
    places = {runs_dir.resolve(), Path(tempfile.gettempdir()).resolve()}
    return path.resolve().parent in places


def find_run(runs_dir: Path, run_id: str) -> Path:
    """The trajectory of `run_id` (or of the one run whose id starts or ends with it); ContextError
    if there is none, or several. An id is a file name in `runs_dir`, never a path."""
    if not re.fullmatch(r"[\w-][\w.-]*", run_id):
        raise ContextError(f"no run {run_id!r} in {runs_dir}")
    exact = runs_dir / f"{run_id}.jsonl"
    if exact.is_file():
        return exact
    found = sorted(p for p in runs_dir.glob("*.jsonl") if p.stem.startswith(run_id) or p.stem.endswith(run_id))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ContextError(f"no run {run_id!r} in {runs_dir}")
    names = ", ".join(p.stem for p in found[:4])
    raise ContextError(f"{run_id!r} names {len(found)} runs ({names}...); give more of it")


@dataclass(frozen=True)
class RecordedReply:
    """A root-model reply as the trajectory recorded it (turn n is list item n - 1)."""

    text: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ResumePlan:
    query: str
    context: Any
    settings: dict[str, Any]  # the recorded run's settings (public_dict)
    run_id: str
    replies: list[RecordedReply]
    notes: Path | bool | None = None  # the run's notes store (False: none), None if not recorded


def _recorded_notes(start: dict[str, Any]) -> Path | bool | None:
    """The notes store the run used: the absolute directory its replay record names, or (a run
    recorded before that) its notes setting, a relative one taken from where it ran."""
    replay = start.get("replay") or {}
    value = replay["notes"] if "notes" in replay else (start.get("config") or {}).get("notes")
    if value is False:
        return False
    if not isinstance(value, str) or not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        if not isinstance(replay.get("cwd"), str):
            return None
        path = Path(replay["cwd"]) / path
    return path


def recorded_replies(events: list[Any]) -> list[RecordedReply]:
    """The replies of turns 1, 2, ... as long as each was recorded whole."""
    by_turn: dict[int, RecordedReply] = {}
    for e in events:
        if (isinstance(e, dict) and e.get("event") == Kind.MODEL_CALL and isinstance(e.get("turn"), int)
                and isinstance(e.get("reply"), str) and "error" not in e
                and "reply" not in (e.get("cut") or ())):  # a reply cut by the trajectory's caps
            by_turn[e["turn"]] = RecordedReply(e["reply"], int(e.get("prompt_tokens") or 0),
                                               int(e.get("completion_tokens") or 0))
    replies: list[RecordedReply] = []
    while len(replies) + 1 in by_turn:
        replies.append(by_turn[len(replies) + 1])
    return replies


def load_run(runs_dir: Path, run_id: str, context: Any = None) -> ResumePlan:
    """What resuming the root run `run_id` takes: its query, context, settings, full id and recorded replies;
    `context`: the in-memory context again, when the run was too large to keep it. ContextError
    if it cannot be resumed: unknown, not a root run, recorded without what a resume needs, or
    its context changed since."""
    path = find_run(runs_dir, run_id)
    events = list(read_jsonl(path))
    start = next((e for e in events if isinstance(e, dict) and e.get("event") == Kind.RUN_START), None)
    if start is None:
        raise ContextError(f"{path} holds no run_start event; it cannot be resumed")
    if start.get("parent_run_id"):
        raise ContextError(f"run {path.stem} is a child run; resume its root run {start['parent_run_id']}")
    replay = start.get("replay") or {}
    if "paths" in replay:
        paths = [Path(p) for p in replay["paths"]]
        missing = [str(p) for p in paths if not p.exists()]
        if missing and isinstance(replay.get("label"), str):
            raise ContextError(f"the input of run {path.stem} ({replay['label']}) is gone (it is kept only while "
                               "the run can be resumed): start a new run")
        if missing:
            raise ContextError(f"the context of run {path.stem} is gone: {', '.join(missing[:3])}")
        if _files_fingerprint(paths) != replay.get("fingerprint"):
            raise ContextError(f"the context of run {path.stem} changed since it ran (a file was added, removed "
                               "or modified); a resume would not replay it: start a new run")
        if replay.get("cwd") == str(Path.cwd()) and len(replay.get("given") or []) == len(paths):
            paths = [Path(p) for p in replay["given"]]  # as given: the prompts name them so
        value: Any = paths[0] if len(paths) == 1 else paths
        if isinstance(replay.get("label"), str) and len(paths) == 1:
            value = Context(paths[0], "path", label=replay["label"])
            if value.spooled and not _spool_place(paths[0], runs_dir):
                # a spool is removed once its run answers: only one this program kept is
                raise ContextError(f"run {path.stem} names its input {shown(paths[0], MESSAGE_PATH_CHARS)}, "
                                   "which is no spool of rlm's (those are kept in the runs directory)")
    elif "sha256" in replay:
        if context is not None:
            data, _ = _stored_bytes(Context(context, Context.of(context).kind))
        elif "stored" in replay:
            try:
                data = (path.parent / replay["stored"]).read_bytes()
            except OSError as exc:
                raise ContextError(f"the stored context of run {path.stem} cannot be read: {exc}") from None
        else:
            raise ContextError(f"run {path.stem} had an in-memory context too large to keep: "
                               "pass it again (RLM.resume(run_id, context=...))")
        if hashlib.sha256(data).hexdigest() != replay["sha256"]:
            raise ContextError(f"the context of run {path.stem} is not the one it ran on; it cannot be resumed")
        kind = replay.get("kind")
        value = (data.decode("utf-8", "surrogatepass") if kind == "text" else data if kind == "bytes"
                 else json.loads(data))
    else:
        raise ContextError(f"run {path.stem} did not record its context; it cannot be resumed")
    return ResumePlan(str(start.get("query") or ""), value, dict(start.get("config") or {}), path.stem,
                      recorded_replies(events), _recorded_notes(start))


def request_settings(recorded: dict[str, Any]) -> dict[str, Any]:
    """The recorded run's settings that decide its requests (see REQUEST_FIELDS)."""
    out = {k: recorded[k] for k in REQUEST_FIELDS if k in recorded and recorded[k] is not None}
    return out


def resumed_settings(plan: ResumePlan, resumer: RLMConfig, given: Collection[str]) -> dict[str, Any]:
    """The settings a resume of `plan` runs with, as overrides of the resumer's config: the
    run's requests; its budgets and limits, the sandbox settings that decide what its cells see
    and its notes store, each unless named in `given` (what the resumer was told explicitly);
    its prices under the resumer's (a cost budget needs the prices it was admitted with)."""
    recorded = plan.settings
    _check_endpoints(plan, resumer)
    out = request_settings(recorded)
    for field, _ in ENDPOINT_FIELDS:  # checked to be the resumer's own; recorded without credentials
        if field in out:
            out[field] = getattr(resumer, field)
    out.update({k: recorded[k] for k in RUN_FIELDS if k in recorded and k not in given})
    if not isinstance(out.get("models", []), list):
        # named models carry endpoints (and keys, recorded as "set"): only the resumer's own
        # settings may say where requests go, never a trajectory
        del out["models"]
    if "notes" not in given and plan.notes is not None:
        out["notes"] = plan.notes
    if isinstance(recorded.get("prices"), dict):
        out["prices"] = {**recorded["prices"], **resumer.prices}
    sandbox = recorded.get("sandbox")
    if "sandbox" not in given and isinstance(sandbox, dict):
        kept = {k: sandbox[k] for k in SANDBOX_FIELDS
                if k in sandbox and type(sandbox[k]) is type(getattr(resumer.sandbox, k))}
        try:
            out["sandbox"] = dataclasses.replace(resumer.sandbox, **kept)
        except ValueError as exc:  # SandboxConfig checks its values
            raise ContextError(f"run {plan.run_id} recorded sandbox settings that cannot work: {exc}") from None
    return out




ENDPOINT_FIELDS = (("base_url", "--base-url"), ("sub_base_url", "--sub-base-url"))


def _check_endpoints(plan: ResumePlan, resumer: RLMConfig) -> None:
    """A resume sends the resumer's key and the context's text to the run's endpoints: only to
    those the resumer's own settings name (options, environment, its rlm.toml), never to one
    that only the trajectory file says (an edited or shared one could name any host)."""
    for field, option in ENDPOINT_FIELDS:
        ran, own = plan.settings.get(field), getattr(resumer, field)
        if isinstance(ran, str) and ran.rstrip("/") not in {(own or "").rstrip("/"),
                                                            str(without_credentials(own) or "").rstrip("/")}:
            url, yours = shown(ran, MESSAGE_PATH_CHARS), shown(own, MESSAGE_PATH_CHARS) if own else "none given"
            raise ContextError(
                f"run {plan.run_id} used the endpoint {url}, which your settings do not name ({yours}); a resume "
                f"sends your key and your text only to an endpoint you name: give {option} {url} to resume against it")


def recorded_settings(runs_dir: Path, run_id: str) -> dict[str, Any]:
    """The request settings run `run_id` recorded, but its endpoints (they come from the
    resumer: see _check_endpoints); ContextError if there is no such run."""
    path = find_run(runs_dir, run_id)
    start = next((e for e in read_jsonl(path) if isinstance(e, dict) and e.get("event") == Kind.RUN_START), {})
    settings = request_settings(dict(start.get("config") or {}))
    return {k: v for k, v in settings.items() if k not in dict(ENDPOINT_FIELDS)}
