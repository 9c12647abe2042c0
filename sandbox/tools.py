"""Tools: helpers that model code calls in the kernel and the host answers (host side).

A tool set pairs a kernel-side module (a standard-library-only Python file, whose source the
host sends to the kernel to run) with host handlers keyed by op name. The module's `install(kernel, data)`
returns the names it adds to the model's namespace (reserved: restored if model code
overwrites them); its helpers send `kernel.call(op, args)` over the bridge, and the sandbox
hands each request to the handler registered for `op`, knowing nothing of what the ops mean.

    tools = Tools("greeting", Path("my_tools/kernel_greeting.py"),
                  {"greet": lambda request: f"hello {request.args['name']}"})
    sandbox.add_tools(tools)
    sandbox.execute("print(greet('ada'))")   # greet() in the module calls kernel.call("greet", ...)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.results import HostRequest

ToolHandler = Callable[[HostRequest], Any]
"""Answers one request from the kernel with a JSON-able value; runs on a bridge thread.
An exception becomes an error in the calling cell (`HostError: <type>: <message>`)."""


@dataclass(frozen=True)
class Tools:
    """One set of tools: `name` (installing a set of the same name again replaces it),
    `module` (the kernel-side file), `handlers` (op -> ToolHandler), and `data` (a JSON-able
    value handed to the module's `install`, sent as a file like a context, never in a message)."""

    name: str
    module: Path
    handlers: Mapping[str, ToolHandler] = field(default_factory=dict)
    data: Any = None
