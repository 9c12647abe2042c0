"""The host end of the kernel's requests over the bridge: the installed tool sets and their
handlers (op -> handler), and the one-time tokens by which the kernel fetches a context's open
files (`context_fds`: contexts reach the kernel as descriptors, never as bytes in a message)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any

from sandbox.context import ContextSpec, open_regular
from sandbox.errors import ContextError, SandboxError
from sandbox.replies import count
from sandbox.results import HostRequest
from sandbox.tools import ToolHandler, Tools

MAPPED_FDS_PER_PART = 32  # files of a large directory handed to the kernel per request


class HostRequests:
    """Answers the bridge's requests (`handle`, on a bridge thread)."""

    def __init__(self) -> None:
        self.tools: dict[str, tuple[Tools, ContextSpec | None]] = {}
        self._handlers: dict[str, ToolHandler] = {}
        self._tokens: dict[str, ContextSpec] = {}

    def check(self, tools: Tools) -> None:
        """Refuse a tool set whose name is not an identifier, or whose ops another set handles."""
        if not tools.name.isidentifier():
            raise SandboxError(f"a tool set's name must be an identifier, not {tools.name!r}")
        clash = {op for op in tools.handlers if op in self._handlers} - set(
            self.tools[tools.name][0].handlers if tools.name in self.tools else ())
        if clash or "context_fds" in tools.handlers:
            raise SandboxError(f"tool ops already handled by another tool set: {sorted(clash or {'context_fds'})}")

    def set_tools(self, tools: Tools, data_spec: ContextSpec | None) -> None:
        """Install (or replace, by name) a tool set's handlers."""
        previous = self.tools.pop(tools.name, None)
        if previous is not None:
            for op in previous[0].handlers:
                self._handlers.pop(op, None)
        self.tools[tools.name] = (tools, data_spec)
        self._handlers.update(tools.handlers)

    @contextlib.contextmanager
    def token(self, spec: ContextSpec) -> Iterator[str]:
        """A one-time token under which the kernel may fetch `spec`'s files while the block runs."""
        token = secrets.token_hex(16)
        self._tokens[token] = spec
        try:
            yield token
        finally:
            self._tokens.pop(token, None)

    def handle(self, request: dict[str, Any]) -> tuple[Any, list[int]]:
        op = request["op"]
        args = request.get("args") or {}
        if not isinstance(args, dict):
            raise ValueError("a request's args must be an object")
        if op == "context_fds":
            return self._context_fds(args)
        handler = self._handlers.get(op)
        if handler is None:
            raise ValueError(f"unknown request {op!r}")
        request_fds = list(request.get("fds") or [])
        return handler(HostRequest(op=op, args=args, cell=count(request.get("cell")), fds=request_fds)), []

    def _context_fds(self, args: dict[str, Any]) -> tuple[Any, list[int]]:
        """The open files of the context registered under a one-time token: part 0 is the data
        file and its index; parts 1, 2... are the files mapped in place, MAPPED_FDS_PER_PART at
        a time (the token is spent with the last part)."""
        token, part = str(args.get("token")), args.get("part", 0)
        spec = self._tokens.get(token)
        if spec is None or not isinstance(part, int) or part < 0:
            raise PermissionError("unknown or used context token")
        parts = -(-len(spec.mapped) // MAPPED_FDS_PER_PART)
        if part >= parts:
            del self._tokens[token]
        if part == 0:
            paths = [spec.data_path] + ([spec.index_path] if spec.index_path is not None else [])
        else:
            paths = spec.mapped[(part - 1) * MAPPED_FDS_PER_PART:part * MAPPED_FDS_PER_PART]
        fds: list[int] = []
        try:
            for path in paths:
                with open_regular(path) as f:  # never a FIFO swapped in since it was read
                    fds.append(os.dup(f.fileno()))
                    st = os.fstat(f.fileno())
                    spec.handed[str(path)] = (st.st_dev, st.st_ino)
        except (OSError, ContextError):
            for fd in fds:
                os.close(fd)
            raise
        return {"count": len(fds), "mapped": len(spec.mapped)}, fds
