"""Serving a run's calls of the user's own tools (rlm/user_tools.py): each call's arguments
checked, the tool run with a timeout (a sync one on a daemon thread, abandoned if it hangs;
an async one on the run's loop), the calls counted against the run's limit, and each recorded
as a `tool_call` event."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rlm.events import ToolCallEvent
from rlm.user_tools import (
    ERROR_CHARS,
    EVENT_CHARS,
    KERNEL_MODULE,
    MAX_HUNG_CALLS,
    MAX_RESULT_CHARS,
    SIGNATURE_CHARS,
    UserTool,
    _cut,
)
from sandbox import HostRequest, Tools
from sandbox.bridge import error_words

if TYPE_CHECKING:
    from rlm.run_handle import RunHandle


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


def _capped(value: Any) -> str:
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= EVENT_CHARS else text[:EVENT_CHARS] + f"… ({len(text):,} characters)"
