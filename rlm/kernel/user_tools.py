"""The user's tools in the kernel: one function per tool the user gave `RLM(tools=...)` (runs
inside the sandbox; standard library only). Each sends its arguments to the host as JSON
(`kernel.call("user_tool", ...)`), where the real function runs; what comes back is its result.
"""

from __future__ import annotations

import json
from typing import Any

MAX_ARGUMENT_CHARS = 1_000_000  # the JSON of one call's arguments (the host refuses more)


def install(kernel: Any, data: Any = None) -> dict[str, Any]:
    """One function per entry of `data["tools"]` ({name, signature, doc})."""
    made: dict[str, Any] = {}
    for spec in (data or {}).get("tools", []):
        made[spec["name"]] = _tool(kernel, spec["name"], spec.get("signature", "(...)"), spec.get("doc", ""))
    return made


def _tool(kernel: Any, name: str, signature: str, doc: str) -> Any:
    def tool(*args: Any, **kwargs: Any) -> Any:
        try:
            sent = json.dumps({"args": list(args), "kwargs": kwargs})
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: arguments must be JSON values (str, int, float, bool, None, "
                            f"lists and dicts of them): {exc}") from None
        if len(sent) > MAX_ARGUMENT_CHARS:
            raise ValueError(f"{name}: the arguments are {len(sent):,} characters of JSON; "
                             f"the most is {MAX_ARGUMENT_CHARS:,}")
        return kernel.call("user_tool", {"name": name, "args": list(args), "kwargs": kwargs})

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = f"{name}{signature}\n\n{doc}".strip()
    return tool
