"""Tools from MCP servers the user names (`RLM(mcp_servers=[...])`, `rlm query --mcp CMD`): each
server is started over stdio for a run, its tools are listed and become user tools
(rlm/user_tools.py) that model code calls like functions; each call goes to the server.

A server is started with the MCP library's default environment (HOME, PATH, SHELL, TERM, not the
user's whole environment: no API key reaches it) plus what `env` the caller gives. Only the caller
names servers: a project's rlm.toml cannot (it could start any program). A tool's arguments are
checked against its input schema before the call; its result is its structured content when it
has one, else the text of its content; a result marked as an error raises in the calling cell.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import keyword
import re
import shlex
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client

from rlm.errors import ConfigError
from rlm.typed_answers import validator_of
from rlm.user_tools import MAX_TOOLS, RESERVED, UserTool

START_TIMEOUT_S = 30.0  # to start a server and list its tools


@dataclass(frozen=True)
class McpServer:
    """How to start one MCP server: `command` (argv, or one shell-quoted string) and extra env."""

    command: Sequence[str] | str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def argv(self) -> list[str]:
        argv = shlex.split(self.command) if isinstance(self.command, str) else [str(a) for a in self.command]
        if not argv:
            raise ConfigError("an MCP server's command is empty")
        return argv


def servers_of(given: Sequence[Any] | None) -> list[McpServer]:
    """`RLM(mcp_servers=...)` as McpServers: each a command string, an argv list, or an McpServer."""
    servers = []
    for s in given or []:
        server = s if isinstance(s, McpServer) else McpServer(s)
        server.argv  # noqa: B018 - refused now, not at the first run
        servers.append(server)
    return servers


@contextlib.asynccontextmanager
async def mcp_tools(servers: Sequence[McpServer], taken: Collection[str] = ()) -> AsyncIterator[list[UserTool]]:
    """Start `servers`, list their tools as UserTools (named apart from `taken`, the names of the
    user's own tools, and from each other), and stop them when the block ends. The
    servers are stopped before an error of the block goes on, so that it goes on as itself (not
    wrapped in the exception group of the MCP client's task groups)."""
    if not servers:
        yield []
        return
    import anyio

    stack = contextlib.AsyncExitStack()
    tools: list[UserTool] = []
    names = set(taken)  # the kernel names given out so far
    failure: str | None = None
    body_error: BaseException | None = None
    try:
        for server in servers:
            argv = server.argv
            params = StdioServerParameters(command=argv[0], args=argv[1:],
                                           env={**get_default_environment(), **server.env})
            try:
                read, write = await stack.enter_async_context(stdio_client(params))
                session = await stack.enter_async_context(ClientSession(read, write))
                with anyio.fail_after(START_TIMEOUT_S):
                    await session.initialize()
                    listed = await session.list_tools()
            except Exception as exc:  # the server's failure, however it shows
                failure = (f"the MCP server {shlex.join(argv)[:200]} could not be started and listed: "
                           f"{type(exc).__name__}: {exc}")[:600]
                break
            if len(tools) + len(listed.tools) > MAX_TOOLS:
                failure = (f"the MCP server {shlex.join(argv)[:200]} lists {len(listed.tools):,} tools; "
                           f"a run may have at most {MAX_TOOLS} tools in all")
                break
            for spec in listed.tools:
                tools.append(_tool(session, spec, taken=names))
                names.add(tools[-1].name)
        if failure is None:
            try:
                yield tools
            except BaseException as exc:  # raised again below, once the servers are stopped
                body_error = exc
    finally:
        with contextlib.suppress(Exception):
            await stack.aclose()
    if body_error is not None:
        raise body_error
    if failure is not None:
        raise ConfigError(failure)


# names a server's tool may not take as they are: the kernel's helpers, and Python's builtins (a
# tool named `len` would get, and answer, every len(...) the model's code makes)
_TAKEN = RESERVED | frozenset(dir(builtins))


def _tool(session: ClientSession, spec: Any, taken: Collection[str] = ()) -> UserTool:
    name = str(spec.name)
    py_name = re.sub(r"[^0-9A-Za-z_]", "_", name[:60])  # the name model code calls it by; the server gets its own
    if (not py_name.isidentifier() or keyword.iskeyword(py_name) or py_name.startswith("_")
            or py_name in _TAKEN or py_name in taken):
        py_name = f"mcp_{py_name.lstrip('_')}"
    base, n = py_name, 1
    while py_name in taken:  # two of a server's names made one (`a-b`, `a_b`), or another server's
        n += 1
        py_name = f"{base}_{n}"

    schema = spec.input_schema if isinstance(spec.input_schema, dict) else {"type": "object"}
    found = schema.get("properties")
    properties: dict[str, Any] = found if isinstance(found, dict) else {}
    order = list(properties)
    validator = validator_of(schema)
    declares_no_output = not getattr(spec, "output_schema", None)

    def check(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        if len(args) > len(order):
            raise TypeError(f"{name} takes at most {len(order)} positional arguments ({', '.join(order)})")
        merged = dict(zip(order, args, strict=False))
        for key, value in kwargs.items():
            if key in merged:
                raise TypeError(f"{name} got two values for argument {key!r}")
            merged[key] = value
        error = next(iter(validator.iter_errors(merged)), None)  # the first is enough (all may be many)
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)[:200]
            raise TypeError(f"{name[:80]}: {'argument ' + repr(where) + ': ' if where else ''}{error.message[:300]}")
        return [], merged

    async def call(args: list[Any], kwargs: dict[str, Any]) -> Any:
        result = await session.call_tool(name, kwargs)
        texts = [getattr(c, "text", "") for c in (getattr(result, "content", None) or []) if hasattr(c, "text")]
        if getattr(result, "is_error", False):
            raise RuntimeError(" ".join(texts)[:2000] or "the tool reported an error")
        structured = getattr(result, "structured_content", None)
        if structured is not None:
            # a bare return value is wrapped as {"result": value} by MCP servers: unwrapped here
            bare = isinstance(structured, dict) and set(structured) == {"result"}
            return structured["result"] if bare else structured
        text = "\n".join(texts)
        if declares_no_output and len(texts) == 1 and text.lstrip()[:1] in ("{", "["):
            # a server without an output schema sends a dict or list as its JSON text: given back as
            # the dict or list (a tool that returns a str has an output schema, so its text stays text)
            with contextlib.suppress(ValueError):
                return json.loads(text)
        return text

    def shown(key: str) -> str:
        prop: Any = properties.get(key) or {}
        kind = prop.get("type", "any") if isinstance(prop, dict) else "any"
        optional = key not in (schema.get("required") or [])
        return f"{key}: {kind}" + (" = ..." if optional else "")

    return UserTool(py_name, "(" + ", ".join(shown(k) for k in order) + ")", str(spec.description or ""),
                    lambda a, k: call(a, k), check)
