"""The public entry point: `RLM(...).completion(context, query)`.

The async path (`acompletion`) is the only implementation; `completion` runs it on a fresh
event loop (in a worker thread when the caller already has a running loop, e.g. Jupyter).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlm import stdin_spool
from rlm._run import EventCallback, Run, Tree
from rlm.blocking import run_blocking
from rlm.cache import CallCache
from rlm.client import ModelClient
from rlm.config import RLMConfig, check_names, resolve
from rlm.errors import ConfigError, ContextError
from rlm.events import Status
from rlm.inputs import Context
from rlm.local_run import local_model_for
from rlm.mcp_tools import McpServer, mcp_tools, servers_of
from rlm.model_window import DEFAULT_WINDOW_CHARS, chars_for_tokens, server_window_tokens
from rlm.results import RunResult
from rlm.resume import RecordedReply, load_run, resumed_settings
from rlm.session import Session
from rlm.typed_answers import AnswerSchema, schema_of
from rlm.user_tools import UserTool, tools_of


class RLM:
    """A recursive language model: answers questions about contexts far larger than a
    model's window by letting the model explore them with code in a sandboxed kernel.

        rlm = RLM(model="gpt-5-mini", sub_model="gpt-5-nano")
        result = rlm.completion(Path("logs/"), "Which service failed first, and why?")
        print(result.answer, result.status, result.cost_usd)

    Settings not given here come from the environment (OPENAI_API_KEY, OPENAI_BASE_URL,
    RLM_MODEL, RLM_SUB_MODEL, ...), then rlm.toml; see `RLMConfig` for every option.
    """

    def __init__(self, config: RLMConfig | None = None, /, *,
                 config_file: str | os.PathLike[str] | None = None,
                 tools: Sequence[Callable[..., Any] | UserTool] | None = None,
                 mcp_servers: Sequence[str | Sequence[str] | McpServer] | None = None, **overrides: Any) -> None:
        """`config` (an RLMConfig) and/or `overrides` (any RLMConfig field by name, e.g.
        `model="gpt-5-mini", max_iterations=20`; an override wins over the same field of
        `config`). Fields left at None (or not given) are filled from the environment, then
        rlm.toml (`config_file`, else ./rlm.toml over ~/.rlm/rlm.toml, a project's ./rlm.toml
        limited to harmless settings until the user trusts it: `rlm.trust`), then the defaults.
        `tools`: typed Python functions model code may call in the kernel; each runs here, on the
        host, with the host's rights (rlm.user_tools says how calls are checked and bounded).
        `mcp_servers`: MCP servers (a command line, an argv list, or an McpServer) started over
        stdio for each run; their tools join `tools` (rlm.mcp_tools).
        Raises ConfigError for an unknown name or settings that cannot work."""
        check_names(overrides)
        self.tools: list[UserTool] = tools_of(tools)
        self.mcp_servers: list[McpServer] = servers_of(mcp_servers)
        args: dict[str, Any] = {}
        if config is not None:
            if not isinstance(config, RLMConfig):
                hint = " (pass the model by name: RLM(model=...))" if isinstance(config, str) else ""
                raise ConfigError(f"config must be an RLMConfig, not {type(config).__name__}{hint}")
            args = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        args.update(overrides)
        # what this RLM was told (by name, or in a config where it differs from the default):
        # a resume keeps the resumed run's own setting for everything else
        defaults = RLMConfig()
        self._given = frozenset(k for k, v in args.items() if v is not None
                                and (k in overrides or v != getattr(defaults, k)))
        self.config: RLMConfig = resolve(args, config_file)
        self.config.validate()
        self._checked: set[str] = set()
        self._cache: CallCache | None = None

    def completion(self, context: Any, query: str, *, on_event: EventCallback | None = None,
                   schema: Any = None) -> RunResult:
        """Answer `query` about `context` (str, bytes, list, dict, Path, list of Paths, or a
        directory). Blocks until the run ends; see `RunResult.status` for how it ended.
        `schema`: the answer's form (a pydantic model, a dataclass, a type, or a JSON Schema
        dict): the answer is validated, refused until it fits, and given as `result.value`."""
        coro = self.acompletion(context, query, on_event=on_event, schema=schema)
        return run_blocking(coro)

    async def acompletion(self, context: Any, query: str, *,
                          on_event: EventCallback | None = None, schema: Any = None) -> RunResult:
        """The async form of `completion`."""
        if not isinstance(query, str) or not query.strip():
            raise ContextError("the query must be a non-empty string")
        form = schema_of(schema)  # refused here, before anything starts
        return await self._arun(Context.of(context), query, on_event, schema=form)  # classified and checked once

    def session(self, context: Any = None, *, name: str | None = None) -> Session:
        """A session over `context`: ask any number of questions (`session.ask(q)`, or
        `await session.aask(q)`) in one kernel, the context loaded once, the variables and the
        earlier answers kept. `name` (letters, digits, `.`, `_`, `-`): a session saved under that
        name is opened again (its context may then be left out), else a new one is saved under it;
        unnamed, it is saved as `session.name`. Close it, or use it as a context manager:

            with RLM(model="gpt-5-mini").session(Path("logs/"), name="incident") as s:
                s.ask("Which services log errors?")
                s.ask("Of those, which failed first?")
        """
        return Session(self, context, name=name)

    async def _arun(self, value: Context, query: str, on_event: EventCallback | None,
                    replay: list[RecordedReply] | None = None, *, session: Session | None = None,
                    schema: AnswerSchema | None = None) -> RunResult:
        config = self.config
        if config.notes is None or config.notes is True:
            # the default store is the corpus's own (as `rlm query` keeps it), never one shared
            # by every corpus: a run over one must not read the memories and documents of another
            config = dataclasses.replace(config, notes=_default_notes_dir(value))
        own = {t.name for t in self.tools}
        async with local_model_for(config) as config, mcp_tools(self.mcp_servers, own) as served:
            tools = tools_of([*self.tools, *served]) if served else self.tools
            root_at, sub_at = config.endpoints()
            root = self._client(*root_at)
            sub = root if sub_at == root_at else self._client(*sub_at)
            routes, named_clients = self._routes(config, sub, sub_at)
            # the wall budget counts from here: the checks of the endpoint below are in it
            started = time.monotonic()

            def wall_left(cap: float) -> float:
                if config.max_wall_s is None:
                    return cap
                return max(0.1, min(cap, config.max_wall_s - (time.monotonic() - started)))

            try:
                if config.preflight:
                    await self._preflight(root, sub, timeout_s=wall_left(PREFLIGHT_TIMEOUT_S))
                if config.sub_window_chars is None:
                    tokens = await server_window_tokens(*sub_at, config.effective_sub_model,
                                                       timeout_s=wall_left(WINDOW_PROBE_TIMEOUT_S))
                    config = dataclasses.replace(
                        config, sub_window_chars=chars_for_tokens(tokens) if tokens else DEFAULT_WINDOW_CHARS)
                tree = Tree.create(config, root, sub, on_event, started=started, tools=tools, routes=routes)
                if session is not None:
                    await session.prepare(tree)
                    return await session.run_for(tree, query, schema).execute()  # the session owns the spool
                try:
                    result = await Run(tree, value, query, replay=replay, schema=schema).execute()
                except ContextError:  # the input was refused: a resume would be refused alike
                    if value.spooled:
                        stdin_spool.release(value.value)
                    raise
                if value.spooled and result.status == Status.OK:  # answered: nothing will resume it
                    stdin_spool.release(value.value)
                return result
            finally:
                await root.aclose()
                if sub is not root:
                    await sub.aclose()
                for client in named_clients:
                    await client.aclose()

    def resume(self, run_id: str, *, context: Any = None, on_event: EventCallback | None = None) -> RunResult:
        """Continue the root run `run_id` (a unique prefix or suffix will do) that was
        interrupted or stopped by a budget: the same query over the same context, with the
        settings it recorded (model, budgets, notes store...); the turns it completed are replayed
        with their recorded replies (`result.replayed_turns` says how many), then it goes on live.
        A setting this RLM was given explicitly (by name, or in a config where it differs from
        the default) overrides the run's own: `RLM(max_iterations=60).resume(run_id)`.
        `context`: the in-memory context again, when the run was too large to keep it.
        ContextError if the run cannot be found or its context changed."""
        coro = self.aresume(run_id, context=context, on_event=on_event)
        return run_blocking(coro)

    async def aresume(self, run_id: str, *, context: Any = None,
                      on_event: EventCallback | None = None) -> RunResult:
        """The async form of `resume`."""
        plan = load_run(self.config.effective_runs_dir, run_id, context)
        settings = resumed_settings(plan, self.config, self._given)
        resumer = RLM(dataclasses.replace(self.config, **settings))
        resumer._cache = self._cache
        resumer.tools, resumer.mcp_servers = self.tools, self.mcp_servers
        result = await resumer._arun(Context.of(plan.context), plan.query, on_event, plan.replies)
        result.resumed_from = plan.run_id
        return result

    def _routes(self, config: RLMConfig, sub: ModelClient, sub_at: tuple[str | None, str | None]
                ) -> tuple[dict[str, tuple[ModelClient, str]], list[ModelClient]]:
        """The named models' routes (name -> client, model id) and the clients made for them: a
        named model on the sub-model's endpoint shares its client; its own key goes only to its
        own endpoint (a base_url without a key gets none of the others')."""
        routes: dict[str, tuple[ModelClient, str]] = {}
        made: dict[tuple[str | None, str | None], ModelClient] = {}
        for name, spec in config.named_models.items():
            base = spec.get("base_url") or sub_at[0]
            # a key goes only where it belongs: the named model's own, else the sub-model's when
            # it is the sub-model's endpoint; another endpoint without a key of its own gets none
            key = spec.get("api_key") or (sub_at[1] if base == sub_at[0] else None)
            at = (base, key)
            if at == sub_at:
                routes[name] = (sub, spec["model"])
                continue
            if at not in made:
                made[at] = self._client(*at)
            routes[name] = (made[at], spec["model"])
        return routes, list(made.values())

    def _client(self, base_url: str | None, api_key: str | None) -> ModelClient:
        return ModelClient.for_config(self.config, base_url, api_key, cache=self._call_cache())

    def _call_cache(self) -> CallCache | None:
        """The call cache of this RLM (one store, shared by its clients), or None when off."""
        path = self.config.cache_path
        if path is None:
            return None
        if self._cache is None or self._cache.path != path:
            try:
                self._cache = CallCache(path, self.config.cache_max_bytes)
            except (OSError, ValueError, sqlite3.Error) as exc:
                said = f"cannot open the call cache {path}: {exc}"
                raise ConfigError(f"{said} (cache=False turns it off)",
                                  cli_message=f"{said} (--no-cache turns it off)") from exc
        return self._cache

    async def _preflight(self, *clients: ModelClient, timeout_s: float) -> None:
        for client in dict.fromkeys(clients):
            if client.endpoint not in self._checked:
                await client.preflight(timeout_s)
                self._checked.add(client.endpoint)


PREFLIGHT_TIMEOUT_S = 15.0  # the check that the endpoint answers, before the sandbox starts
WINDOW_PROBE_TIMEOUT_S = 5.0  # asking the server for its context window (all its requests together)


def _default_notes_dir(context: Context) -> Path:
    from rlm.notes import default_notes_dir

    return default_notes_dir(context.value, from_stdin=context.spooled)
