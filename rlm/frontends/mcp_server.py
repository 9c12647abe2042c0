"""An MCP server (`rlm mcp --root DIR`): agents that speak the Model Context Protocol ask an
RLM about files, search its notes and read its runs.

Built on the official `mcp` SDK (`MCPServer`), over stdio or streamable HTTP. Tools:

- `query(paths, question, max_iterations?, max_cost_usd?)`: runs an RLM over files or
  directories under the allowed roots; returns answer, status, cost, tokens, run id. While it
  runs, progress notifications say the turn, the sub-calls, tokens and cost.
- `session_open(paths, name?, max_iterations?, max_cost_usd?)`, `session_ask(session_id, question)`,
  `session_close(session_id)`: a session over files under the roots (rlm/session.py): loaded
  once, its kernel's variables and earlier answers kept between questions; at most MAX_SESSIONS
  open, one question at a time each; a saved session is continued only over the same files.
- `notes_list(path?, kind?)`, `notes_search(query, path?, k?)`: the notes a corpus's runs left.
- `runs_list(n?)`, `runs_show(run_id)`: earlier runs, a run's turns (code, output) and answer:
  only runs whose inputs all lay under the allowed roots (and their child runs); a run of any
  other place (another directory, text from stdin, the Python API) is neither listed nor found.

What the calling agent cannot choose: the allowed roots (`--root`) and the model settings
(model, endpoints, keys, depth, the budgets' ceilings) are the server's, from its options, the
environment and rlm.toml. A path is resolved (symbolic links followed, `..` refused) and must
fall under a root; a directory is refused if a link inside it leads out of the roots. An agent
may lower `max_iterations` and `max_cost_usd`, never raise them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import errno
import os
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from rlm._rlm import RLM
from rlm.errors import ConfigError, RLMError
from rlm.events import Kind
from rlm.frontends.display import status_line
from rlm.notes import NotesError, NotesStore, notes_dir_for
from rlm.results import RunResult, RunStatus
from rlm.session import Session
from rlm.trajectory import read_trajectory, summarise_run

PROGRESS_INTERVAL_S = 0.5
MAX_SESSIONS = 8  # open at once on one server (each holds a kernel)
MAX_RUN_DEPTH = 64  # parent links followed from a child run to its root run
_RUN_ID = re.compile(r"[\w-][\w.-]*")
SHOW_CHARS = 4_000  # of each reply and output in runs_show


class PathRefused(RLMError):
    """A path the server will not read."""


class Roots:
    """The directories the server may read, resolved once."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]]) -> None:
        if not roots:
            raise ConfigError("give at least one --root DIR: the directories the server may read")
        resolved = []
        for r in roots:
            p = Path(r).expanduser()
            if not p.is_dir():
                raise ConfigError(f"--root {r}: not a directory")
            resolved.append(p.resolve(strict=True))
        self.dirs = resolved

    def contains(self, path: Path) -> bool:
        return any(path == r or path.is_relative_to(r) for r in self.dirs)

    def resolve(self, raw: str) -> Path:
        """The real path of `raw` (absolute, or relative to the first root that has it), if it
        is under a root; PathRefused otherwise."""
        if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
            raise PathRefused("an empty or malformed path")
        given = Path(raw)
        if ".." in given.parts:
            raise PathRefused(f"{raw}: '..' is not allowed in a path")
        candidates = [given] if given.is_absolute() else [r / given for r in self.dirs]
        for candidate in candidates:
            if not os.path.lexists(candidate):
                continue
            try:
                real = candidate.resolve(strict=True)
            except (OSError, RuntimeError) as exc:
                raise PathRefused(f"{raw}: cannot be resolved ({exc})") from exc
            if not self.contains(real):
                raise PathRefused(f"{raw}: outside the directories this server may read")
            if real.is_dir():
                self._check_links(real, raw)
            return real
        if given.is_absolute() and not self.contains(Path(os.path.abspath(given))):
            raise PathRefused(f"{raw}: outside the directories this server may read")
        raise PathRefused(f"{raw}: no such file or directory under the allowed roots")

    def _check_links(self, directory: Path, raw: str) -> None:
        """Refuse a directory in which a link leads out of the roots (it would be read)."""
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames + dirnames:
                p = Path(dirpath) / name
                if p.is_symlink():
                    try:
                        target = p.resolve(strict=True)
                    except (OSError, RuntimeError):
                        continue  # a dangling link is not read
                    if not self.contains(target):
                        raise PathRefused(f"{raw}: {p.relative_to(directory)} links outside the directories "
                                          "this server may read")


@dataclasses.dataclass
class ServerSettings:
    """What the server runs with: the roots, the RLM settings (any RLMConfig field), notes."""

    roots: list[str]
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    config_file: str | None = None
    notes: str | bool | None = None  # None: beside the files, as `rlm query`; False: off; a directory


class RLMService:
    """The tools' logic, apart from the protocol (tested through the real server)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.roots = Roots(settings.roots)
        overrides = {k: v for k, v in settings.overrides.items() if v is not None}
        self.rlm = RLM(config_file=settings.config_file, **overrides)  # ConfigError: the server does not start
        self.runs_dir = self.rlm.config.effective_runs_dir
        self.sessions: dict[str, Session] = {}
        self.busy: set[str] = set()
        self._sessions_lock = threading.Lock()

    # ----- query ------------------------------------------------------------------------
    def prepare(self, paths: list[str], max_iterations: int | None, max_cost_usd: float | None) -> tuple[RLM, Any]:
        if not paths:
            raise PathRefused("give at least one path")
        resolved = [self.roots.resolve(p) for p in paths]
        context: Any = resolved[0] if len(resolved) == 1 else resolved
        config = self.rlm.config
        changes: dict[str, Any] = {}
        if max_iterations is not None:
            changes["max_iterations"] = max(1, min(int(max_iterations), config.max_iterations))
        if max_cost_usd is not None:
            ceiling = config.max_cost_usd
            changes["max_cost_usd"] = float(max_cost_usd) if ceiling is None else min(float(max_cost_usd), ceiling)
        notes = self.settings.notes
        # not named: the library's one rule (rlm.notes.default_notes_dir) picks the corpus's store
        changes["notes"] = False if notes is False else Path(notes) if isinstance(notes, str) else None
        rlm = RLM(dataclasses.replace(config, **changes))
        rlm._cache = self.rlm._cache  # one call cache for the server
        return rlm, context

    # ----- sessions ---------------------------------------------------------------------
    def session_open(self, paths: list[str], name: str | None, max_iterations: int | None,
                     max_cost_usd: float | None) -> dict[str, Any]:
        with self._sessions_lock:
            if len(self.sessions) >= MAX_SESSIONS:
                raise PathRefused(f"{MAX_SESSIONS} sessions are open; close one first (session_close)")
            rlm, context = self.prepare(paths, max_iterations, max_cost_usd)  # confined to the roots
            session = rlm.session(context, name=name)  # a saved one only over these same files
            if session.name in self.sessions:
                session.close()
                raise PathRefused(f"session {session.name!r} is open already")
            self.sessions[session.name] = session
        return {"session_id": session.name, "asks": [{"question": a.question, "answer": a.answer, "status": a.status}
                                                     for a in session.asks]}

    def session_for(self, session_id: str) -> Session:
        """The open session `session_id`, marked busy until `session_done` (one ask at a time)."""
        with self._sessions_lock:
            session = self.sessions.get(session_id) if isinstance(session_id, str) else None
            if session is None:
                raise PathRefused(f"no open session {str(session_id)[:80]!r}")
            if session_id in self.busy:
                raise PathRefused(f"session {session_id!r} is answering another question; wait for it")
            self.busy.add(session_id)
            return session

    def session_done(self, session_id: str) -> None:
        with self._sessions_lock:
            self.busy.discard(session_id)

    def session_close(self, session_id: str) -> dict[str, Any]:
        with self._sessions_lock:
            if session_id in self.busy:
                raise PathRefused(f"session {session_id!r} is answering a question; close it after")
            session = self.sessions.pop(session_id, None) if isinstance(session_id, str) else None
        if session is None:
            raise PathRefused(f"no open session {str(session_id)[:80]!r}")
        session.close()
        return {"closed": session_id, "asks": len(session.asks)}

    def close_sessions(self) -> None:
        """Stop every open session's kernel (the server is stopping)."""
        with self._sessions_lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            session.close()

    # ----- notes ------------------------------------------------------------------------
    def notes_dir(self, path: str | None) -> Path:
        notes = self.settings.notes
        if notes is False:
            raise PathRefused("notes are off on this server")
        if isinstance(notes, str):
            return Path(notes)
        target = self.roots.resolve(path) if path else self.roots.dirs[0]
        return notes_dir_for(target)  # the store a query over `target` uses, read only

    def notes_entries(self, path: str | None, kind: str | None, query: str | None, k: int) -> list[dict[str, Any]]:
        directory = self.notes_dir(path)
        if not (directory / "notes.db").exists():
            return []
        if kind not in (None, "memory", "doc"):
            raise PathRefused("kind is memory or doc")
        try:
            with NotesStore(directory) as store:
                entries = ([e for e, _ in store.search(query, k)] if query is not None
                           else store.entries(kind)[:k])
        except NotesError as exc:
            raise PathRefused(str(exc)) from exc
        return [{"id": e.id, "kind": e.kind, "title": e.title, "text": e.text, "created": e.created,
                 "source_run": e.source_run, "source_query": e.source_query} for e in entries
                if kind is None or e.kind == kind]

    # ----- runs -------------------------------------------------------------------------
    def in_scope(self, path: Path, hops: int = 0) -> bool:
        """Whether the run of trajectory `path` read only files under the roots (a child run:
        whether its root run did). Its start event records the resolved input paths."""
        try:
            start = next(iter(read_trajectory(path)), None)
        except (OSError, ValueError):
            return False
        if not isinstance(start, dict) or start.get("event") != Kind.RUN_START:
            return False
        parent = start.get("parent_run_id")
        if parent:
            parent_path = self.runs_dir / f"{parent}.jsonl"
            return (hops < MAX_RUN_DEPTH and isinstance(parent, str) and _RUN_ID.fullmatch(parent) is not None
                    and parent_path.is_file() and self.in_scope(parent_path, hops + 1))
        replay = start.get("replay")
        paths = replay.get("paths") if isinstance(replay, dict) else None
        return isinstance(paths, list) and bool(paths) and all(
            isinstance(p, str) and self.roots.contains(Path(p)) for p in paths)

    def run_path(self, run_id: str) -> Path:
        """The trajectory of `run_id` (or of the one run in scope whose id starts or ends with
        it): runs out of scope are not found, and not named."""
        missing = PathRefused(f"no run {run_id[:80]!r} of the allowed roots")
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or not self.runs_dir.is_dir():
            raise missing
        found = [p for p in sorted(self.runs_dir.glob("*.jsonl"))
                 if (p.stem.startswith(run_id) or p.stem.endswith(run_id)) and self.in_scope(p)]
        exact = [p for p in found if p.stem == run_id]
        if exact or len(found) == 1:
            return (exact or found)[0]
        if not found:
            raise missing
        names = ", ".join(p.stem for p in found[:4])
        raise PathRefused(f"{run_id!r} names {len(found)} runs ({names}...); give more of it")

    def runs_list(self, n: int) -> list[dict[str, Any]]:
        if not self.runs_dir.is_dir():
            return []
        out: list[dict[str, Any]] = []
        for path in sorted(self.runs_dir.glob("*.jsonl"), reverse=True):
            if len(out) >= max(1, min(n, 200)):
                break
            if not self.in_scope(path):
                continue
            info = summarise_run(path)
            if not info.get("parent"):
                out.append({k: info.get(k) for k in ("run_id", "status", "iterations", "tokens", "cost_usd",
                                                     "query", "answer", "started")})
        return out

    def runs_show(self, run_id: str) -> dict[str, Any]:
        path = self.run_path(run_id)
        turns: dict[str, dict[str, Any]] = {}
        sub_calls: dict[Any, int] = {}
        for e in read_trajectory(path):
            kind = e.get("event")
            if kind == Kind.MODEL_CALL and "reply" in e:
                turns.setdefault(str(e.get("turn")), {"turn": e.get("turn"), "cells": []})["reply"] = \
                    _cut(e["reply"])
            elif kind == Kind.CELL:
                turn = turns.setdefault(str(e.get("turn")), {"turn": e.get("turn"), "cells": []})
                turn["cells"].append({"cell": e.get("cell"), "code": _cut(e.get("code")),
                                      "output": _cut(e.get("stdout")), "error": _cut(e.get("error")) or None,
                                      "duration_s": e.get("duration_s")})
            elif kind == Kind.SUB_CALL:
                sub_calls[e.get("cell")] = sub_calls.get(e.get("cell"), 0) + 1
        for turn in turns.values():
            for cell in turn["cells"]:
                cell["sub_calls"] = sub_calls.get(cell["cell"], 0)
        info = summarise_run(path)
        from rlm.frontends.viewer import Redactor

        return Redactor().any({**{k: info.get(k) for k in ("run_id", "status", "query", "answer", "iterations",
                                                           "tokens", "cost_usd", "wall_s", "model", "started")},
                               "turns": list(turns.values())})


async def _reported(ctx: Context, run: _BackgroundRun) -> dict[str, Any]:
    """Start `run`, report its progress to the client until it ends, and return its result."""
    future = asyncio.wrap_future(run.start())
    sent, progress = 0, 0
    try:
        while not future.done():
            await asyncio.wait({future}, timeout=PROGRESS_INTERVAL_S)
            if run.changes != sent and run.status is not None:
                sent, progress = run.changes, progress + 1
                await ctx.report_progress(progress, None, status_line(run.status).plain)
        result = future.result()
    except asyncio.CancelledError:
        run.cancel()
        raise
    except RLMError as exc:
        raise ToolError(str(exc)) from exc
    await ctx.report_progress(progress + 1, progress + 1, f"{result.status} · {result.iterations} turns")
    return result_dict(result)


def _cut(text: Any) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= SHOW_CHARS else s[:SHOW_CHARS] + f"\n... ({len(s) - SHOW_CHARS:,} more characters)"


def result_dict(result: RunResult) -> dict[str, Any]:
    return {"answer": result.answer, "status": result.status,
            "cost_usd": round(result.cost_usd, 6) if result.priced else None,  # null: a model without a price
            "tokens": result.usage.total.total_tokens, "iterations": result.iterations,
            "sub_calls": result.sub_calls, "wall_s": round(result.wall_s, 3), "run_id": result.run_id,
            "trajectory_path": str(result.trajectory_path) if result.trajectory_path else None,
            "error": result.error, "evidence": [e.as_dict() for e in result.evidence]}


class _BackgroundRun:
    """A run on its own thread and event loop (the server's loop keeps answering), cancellable:
    `run(on_event)` is the coroutine (a completion, or a session's ask)."""

    def __init__(self, run: Callable[[Any], Awaitable[RunResult]]) -> None:
        self.status: RunStatus | None = None
        self.changes = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[RunResult] | None = None
        self._ready = threading.Event()
        self._run = run

    def _on_event(self, event: dict[str, Any], status: RunStatus) -> None:
        self.status = dataclasses.replace(status)
        self.changes += 1

    def _main(self) -> RunResult:
        async def main() -> RunResult:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            self._ready.set()
            return await self._run(self._on_event)

        try:
            return asyncio.run(main())
        finally:
            self._ready.set()

    def start(self) -> concurrent.futures.Future[RunResult]:
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rlm-mcp-run")
        future = pool.submit(self._main)
        pool.shutdown(wait=False)
        return future

    def cancel(self) -> None:
        self._ready.wait(5)
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)


def build_server(settings: ServerSettings) -> Any:
    """The MCPServer with the rlm tools (ConfigError for settings that cannot work)."""
    service = RLMService(settings)
    roots = ", ".join(str(r) for r in service.roots.dirs)
    server: Any = MCPServer(
        "rlm", instructions=(
            "Answers questions about files and directories far larger than a model's window: a model "
            "explores them with code in a sandboxed Python kernel and asks sub-models about the parts that "
            f"matter. Paths must be under: {roots}. A query can take minutes; progress is reported."),
        log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, open_world_hint=True))
    async def query(paths: list[str], question: str, ctx: Context, max_iterations: int | None = None,
                    max_cost_usd: float | None = None) -> dict[str, Any]:
        """Answer a question about files or directories (absolute, or relative to the server's first
        allowed root). A recursive language model reads them with code and sub-model calls, however
        large they are. Returns answer, status ("ok" or the budget that stopped the run), cost_usd (null: unpriced),
        tokens, iterations, sub_calls, run_id (for runs_show) and evidence: the passages the answer
        rests on, each checked against the files (document, start/end bytes, lines, page, quote).
        max_iterations and max_cost_usd can only lower the server's limits."""
        try:
            rlm, context = service.prepare(paths, max_iterations, max_cost_usd)
        except RLMError as exc:
            raise ToolError(str(exc)) from exc
        return await _reported(ctx, _BackgroundRun(
            lambda on_event: rlm.acompletion(context, question, on_event=on_event)))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, open_world_hint=False))
    def session_open(paths: list[str], name: str | None = None, max_iterations: int | None = None,
                     max_cost_usd: float | None = None) -> dict[str, Any]:
        """Open a session over files or directories under the allowed roots: then ask in it
        (session_ask) any number of questions; the files are loaded once and the kernel's variables
        and earlier answers are kept between questions. `name` continues a saved session over the
        same files (else a new one is named). max_iterations and max_cost_usd (per question) can
        only lower the server's limits. Returns session_id and the earlier asks (when continued)."""
        try:
            return service.session_open(paths, name, max_iterations, max_cost_usd)
        except RLMError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, open_world_hint=True))
    async def session_ask(session_id: str, question: str, ctx: Context) -> dict[str, Any]:
        """Ask a question in an open session (session_open): the same result as `query`."""
        try:
            session = service.session_for(session_id)
        except RLMError as exc:
            raise ToolError(str(exc)) from exc
        try:
            return await _reported(ctx, _BackgroundRun(lambda on_event: session.aask(question, on_event=on_event)))
        finally:
            service.session_done(session_id)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, open_world_hint=False))
    def session_close(session_id: str) -> dict[str, Any]:
        """Close a session: its kernel stops; the saved session stays (session_open with its name
        continues it)."""
        try:
            return service.session_close(session_id)
        except RLMError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(annotations=read_only)
    def notes_list(path: str | None = None, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The live notes (memories and documents) that earlier runs left for the corpus at `path`
        (default: the first allowed root). kind: memory or doc."""
        try:
            return service.notes_entries(path, kind, None, limit)
        except RLMError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(annotations=read_only)
    def notes_search(query: str, path: str | None = None, k: int = 10) -> list[dict[str, Any]]:
        """Full-text search (BM25) over the live notes of the corpus at `path` (default: the first
        allowed root)."""
        try:
            return service.notes_entries(path, None, query, k)
        except RLMError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(annotations=read_only)
    def runs_list(n: int = 10) -> list[dict[str, Any]]:
        """The server's most recent runs: run_id, status, turns, tokens, cost, question, answer."""
        return service.runs_list(n)

    @server.tool(annotations=read_only)
    def runs_show(run_id: str) -> dict[str, Any]:
        """One run: its question, answer, status, cost and each turn's reply and cells (code,
        output, error, sub-call count), long texts cut."""
        try:
            return service.runs_show(run_id)
        except RLMError as exc:
            raise ToolError(str(exc)) from exc

    server.rlm_service = service
    return server


def serve(settings: ServerSettings, *, http: bool = False, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Build the server and serve it until the client goes away (stdio) or forever (HTTP)."""
    server = build_server(settings)
    try:
        _serve(server, http=http, host=host, port=port)
    finally:
        server.rlm_service.close_sessions()  # their kernels stop with the server


def _serve(server: Any, *, http: bool, host: str, port: int) -> None:
    if not http:
        server.run("stdio")
        return
    check_can_listen(host, port)
    try:
        server.run("streamable-http", host=host, port=port)
    except SystemExit as exc:  # uvicorn exits with its own code (3) when it cannot start
        if exc.code not in (0, None):
            raise ConfigError(f"the HTTP server on {host}:{port} could not start (see the line above)") from None
        raise


def check_can_listen(host: str, port: int) -> None:
    """ConfigError, in words, when the HTTP server could not listen on `host`:`port` (a port
    another process holds, an address that is not this machine's), before it tries."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
            probe.bind(address)
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        taken = getattr(exc, "errno", None) == errno.EADDRINUSE
        hint = "; another program holds it: choose another port" if taken else ""
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}{hint}",
                          cli_message=f"cannot listen on {host}:{port}: {reason}"
                                      + (f"{hint} (--port N)" if taken else " (--host, --port)")) from exc


__all__ = ["PathRefused", "Roots", "ServerSettings", "build_server", "serve"]
