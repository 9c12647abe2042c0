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

import asyncio
import contextlib
import inspect
import json
import keyword
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from rlm.errors import ConfigError
from rlm.events import ToolCallEvent
from sandbox import HostRequest, Tools
from sandbox.bridge import error_words

if TYPE_CHECKING:
    from rlm.run_handle import RunHandle

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


class ToolServer:
    """Answers one run's tool calls: checks, runs with a timeout, counts and records each."""

    def __init__(self, run: RunHandle, tools: Sequence[UserTool], *, timeout_s: float, max_calls: int) -> None:
        self.run = run
        self.tools = {t.name: t for t in tools}
        self.timeout_s = timeout_s
        self.max_calls = max_calls

    def tool_set(self) -> Tools:
        data = {"tools": [{"name": t.name, "signature": _cut(t.signature, SIGNATURE_CHARS), "doc": t.doc[:4000]}
                          for t in self.tools.values()]}
        return Tools("user_tools", KERNEL_MODULE, {"user_tool": self.handle}, data=data)

    def handle(self, request: HostRequest) -> Any:
        """On a bridge thread: hop onto the run's event loop."""
        return asyncio.run_coroutine_threadsafe(self._serve(request), self.run.tree.loop).result()

    async def _serve(self, request: HostRequest) -> Any:
        name = request.args.get("name")
        args, kwargs = request.args.get("args"), request.args.get("kwargs")
        began = time.monotonic()
        result: Any = None
        error: str | None = None
        try:
            tool = self.tools.get(name) if isinstance(name, str) else None
            if tool is None:
                raise LookupError(f"no tool named {str(name)[:80]!r}")
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise TypeError("malformed tool call")
            self.run.tree.tool_calls += 1
            if self.run.tree.tool_calls > self.max_calls:
                raise RuntimeError(f"the limit of {self.max_calls} tool calls per run (its sub-runs included) "
                                   "is reached")
            result = await self._call(tool, args, kwargs)
            return result
        except Exception as exc:
            error = error_text(exc)
            raise
        finally:
            self.run.emit(ToolCallEvent(
                event="tool_call", cell=request.cell, name=str(name)[:200],
                arguments=_capped({"args": args, "kwargs": kwargs}), result=None if error else _capped(result),
                error=error, duration_s=round(time.monotonic() - began, 4)))

    async def _call(self, tool: UserTool, args: list[Any], kwargs: dict[str, Any]) -> Any:
        args, kwargs = tool.check(args, kwargs)

        async def invoke() -> Any:
            value = await _in_daemon_thread(tool.name, lambda: tool.run(args, kwargs))
            return await value if inspect.isawaitable(value) else value

        try:
            value = await asyncio.wait_for(invoke(), self.timeout_s)
        except TimeoutError:
            raise TimeoutError(f"{tool.name} did not answer within {self.timeout_s:g} s") from None
        except Exception as exc:  # the tool's own error, whatever its type: one clear line
            raise RuntimeError(f"{tool.name} raised {error_text(exc)}") from None
        shaped = tool.shape(value)
        text = json.dumps(shaped)  # the kernel gets JSON: anything else is the tool's mistake
        if len(text) > MAX_RESULT_CHARS:
            raise ValueError(f"{tool.name} returned {len(text):,} characters of JSON; the most is "
                             f"{MAX_RESULT_CHARS:,}")
        return shaped


async def _in_daemon_thread(name: str, fn: Callable[[], Any]) -> Any:
    """`fn()` on a daemon thread of its own. A sync tool that hangs leaves the loop free; on
    timeout it is abandoned (a thread cannot be stopped) and neither the run's end nor the
    process's exit waits for it, as they would for an executor's thread. An async tool's
    coroutine (only made there) runs on the run's loop, where a timeout cancels it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(value)

    def work() -> None:
        try:
            value, error = fn(), None
        except BaseException as exc:  # handed to the caller, whatever it is
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the run ended (its loop closed) while it hung: nobody waits
            loop.call_soon_threadsafe(settle, value, error)

    call = _hung.start()  # refused while too many abandoned calls still run
    try:
        threading.Thread(target=lambda: _hung.run(call, work), name=f"rlm-tool-{name}", daemon=True).start()
    except BaseException:
        _hung.end(call)
        raise
    try:
        return await future
    except asyncio.CancelledError:  # timed out (or the run was cancelled): the thread is left to itself
        _hung.abandon(call)
        raise


class _HungCalls:
    """The tool threads of this process whose call was given up (timed out or cancelled) while
    they still run: a sync tool that hangs cannot be stopped, and each call of it would leave
    one more thread behind, for every run, child run and session ask of the process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    def start(self) -> list[bool]:
        """A new call's state ([abandoned, ended]); RuntimeError when `limit` calls hang."""
        with self._lock:
            if self.count >= self.limit:
                raise RuntimeError(f"{self.count} earlier tool calls still hang past their timeout; no more "
                                   "tool calls are started until some of them end")
        return [False, False]

    def run(self, call: list[bool], work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            self.end(call)

    def end(self, call: list[bool]) -> None:
        with self._lock:
            if call[0] and not call[1]:
                self.count -= 1
            call[1] = True

    def abandon(self, call: list[bool]) -> None:
        with self._lock:
            if not call[0] and not call[1]:
                self.count += 1
            call[0] = True


_hung = _HungCalls(MAX_HUNG_CALLS)


def error_text(exc: BaseException) -> str:
    """`Type: message` of an exception, cut at ERROR_CHARS (a broken __str__ is said so)."""
    return error_words(exc)[:ERROR_CHARS]


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


def _capped(value: Any) -> str:
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= EVENT_CHARS else text[:EVENT_CHARS] + f"… ({len(text):,} characters)"
