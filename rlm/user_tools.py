"""The user's own tools: plain typed Python functions given to `RLM(tools=[...])` (or tools of an
MCP server, rlm/mcp_tools.py) that model code calls in the kernel and that run here, on the host.

A tool is described to the model by its signature and docstring. A call's arguments arrive as
JSON; they are bound to the signature and checked against each parameter's annotation (pydantic,
lax: "3" for an int is taken as 3) before the function runs; its result must fit the return
annotation and be JSON, up to MAX_RESULT_CHARS. A tool that raises, hangs past its timeout,
or answers with something that does not fit gives the calling cell one clear error
(`HostError: ...`) and the run goes on. Each run may make `max_tool_calls` calls; each is a
`tool_call` event in the trajectory.

A tool runs with the host's rights, outside the sandbox: it can do what model code cannot (the
network, the user's files, a database). Give only functions you would let the model call with
arguments it chose.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from rlm.errors import ConfigError

KERNEL_MODULE = Path(__file__).resolve().parent / "kernel" / "user_tools.py"
MAX_RESULT_CHARS = 1_000_000  # the JSON of one tool result handed back to the kernel
MAX_TOOLS = 64
EVENT_CHARS = 2_000  # of a call's arguments and result, kept in the trajectory
ERROR_CHARS = 2_000  # of a tool's error, as the calling cell and the trajectory get it
# what the system prompt shows of one tool (an MCP server's descriptions and schemas are not the user's)
SIGNATURE_CHARS = 300
DOC_LINE_CHARS = 300
# tool threads of this process still running after their call timed out (a hung sync tool's
# thread cannot be stopped): past this many, calls are refused until some end
MAX_HUNG_CALLS = 32
# names the kernel already gives a meaning to: a tool may not take them
RESERVED = frozenset({
    "context", "docs", "answer", "FINAL", "FINAL_VAR", "SHOW_VARS", "Out", "print", "llm_query",
    "llm_query_batched", "rlm_query", "rlm_query_batched", "remember", "revise", "forget", "document",
    "archive", "archive_search", "re", "json", "math", "collections", "csv", "itertools", "statistics",
    "datetime", "kernel", "place_of",
})


@dataclass(frozen=True)
class UserTool:
    """One tool: its name in the kernel, what the model is told of it, and how a call is checked
    and run. Build it with `UserTool.of(function)` (or `rlm.mcp_tools` for an MCP server's)."""

    name: str
    signature: str  # "(customer_id: int) -> dict", as the model sees it
    doc: str
    run: Callable[[list[Any], dict[str, Any]], Any | Awaitable[Any]]  # checked arguments -> result
    check: Callable[[list[Any], dict[str, Any]], tuple[list[Any], dict[str, Any]]] = field(
        default=lambda args, kwargs: (args, kwargs))
    shape: Callable[[Any], Any] = field(default=lambda value: _jsonable("the tool", value))

    @classmethod
    def of(cls, fn: Callable[..., Any], name: str | None = None) -> UserTool:
        """A tool of the typed function `fn` (sync or async), named `name` or its own name."""
        if not callable(fn):
            raise ConfigError(f"a tool must be a function, not {type(fn).__name__}")
        tool_name = str(name or getattr(fn, "__name__", ""))
        try:
            sig = inspect.signature(fn, eval_str=True)  # annotations written as strings become types
        except (TypeError, ValueError, NameError, SyntaxError) as exc:
            raise ConfigError(f"tool {tool_name!r}: its signature cannot be read ({exc})") from None
        adapters = {p.name: TypeAdapter(p.annotation) for p in sig.parameters.values()
                    if p.annotation is not inspect.Parameter.empty}
        returns = None if sig.return_annotation is inspect.Signature.empty else TypeAdapter(sig.return_annotation)

        def check(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{tool_name}{_shown(sig)}: {exc}") from None
            for pname, value in list(bound.arguments.items()):
                adapter = adapters.get(pname)
                if adapter is None:
                    continue
                kind = sig.parameters[pname].kind
                try:
                    if kind is inspect.Parameter.VAR_POSITIONAL:
                        bound.arguments[pname] = tuple(adapter.validate_python(v) for v in value)
                    elif kind is inspect.Parameter.VAR_KEYWORD:
                        bound.arguments[pname] = {k: adapter.validate_python(v) for k, v in value.items()}
                    else:
                        bound.arguments[pname] = adapter.validate_python(value)
                except ValidationError as exc:
                    raise TypeError(f"{tool_name}: argument {pname!r}: {_first_error(exc)}") from None
            return list(bound.args), dict(bound.kwargs)

        def shape(value: Any) -> Any:
            if returns is not None:
                try:
                    return returns.dump_python(returns.validate_python(value), mode="json")
                except ValidationError as exc:
                    raise TypeError(f"{tool_name} returned a value that does not fit its return type "
                                    f"{_annotation(sig.return_annotation)}: {_first_error(exc)}") from None
            return _jsonable(tool_name, value)

        return cls(tool_name, _shown(sig), inspect.getdoc(fn) or "", lambda a, k: fn(*a, **k), check, shape)

    def describe(self) -> str:
        """One line for the system prompt: the signature and the docstring's first paragraph, cut."""
        first = " ".join(self.doc.strip().split("\n\n")[0].split()) if self.doc.strip() else "(no description)"
        return f"- `{self.name}{_cut(self.signature, SIGNATURE_CHARS)}`: {_cut(first, DOC_LINE_CHARS)}"


def tools_of(given: Sequence[Any] | None) -> list[UserTool]:
    """The tools `RLM(tools=...)` was given (functions or UserTools), checked: unique names that
    are identifiers and not the kernel's own; ConfigError otherwise."""
    tools = [t if isinstance(t, UserTool) else UserTool.of(t) for t in (given or [])]
    if len(tools) > MAX_TOOLS:
        raise ConfigError(f"{len(tools)} tools; the most is {MAX_TOOLS}")
    seen: set[str] = set()
    for t in tools:
        if not t.name.isidentifier() or keyword.iskeyword(t.name) or t.name.startswith("_"):
            raise ConfigError(f"a tool's name must be a Python name not starting with '_': {t.name!r}")
        if t.name in RESERVED:
            raise ConfigError(f"tool name {t.name!r} is taken by the kernel's own helpers; name it otherwise")
        if t.name in seen:
            raise ConfigError(f"two tools are named {t.name!r}")
        seen.add(t.name)
    return tools


def tools_block(tools: Sequence[UserTool]) -> str:
    """What the system prompt says of the user's tools ("" without any)."""
    if not tools:
        return ""
    lines = ["- Tools the user gave you, functions you call in code like any other (they run outside the "
             "kernel; arguments and results are JSON values; an error comes back as an exception):"]
    lines += ["  " + t.describe() for t in tools]
    return "\n".join(lines) + "\n"


def _jsonable(name: str, value: Any) -> Any:
    try:
        return to_jsonable_python(value)
    except Exception as exc:  # pydantic's serialisation error, or a value's own failure
        raise TypeError(f"{name} returned a value that is not JSON ({type(value).__name__}): {exc}"[:500]) from None


def _shown(sig: inspect.Signature) -> str:
    return str(sig).replace("typing.", "")


def _annotation(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)[:300]
    e = errors[0]
    where = ".".join(str(p) for p in e.get("loc", ()))
    return (f"{where}: " if where else "") + str(e.get("msg", ""))[:300]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
