"""The reply protocol: code blocks and final answers in a model's reply.

Compatible with the paper and the official implementation: ```repl blocks (```python and
```py are accepted too), `FINAL(text)` and `FINAL_VAR(name)` at the start of a line outside
code. (`FINAL_VAR(x)`, `FINAL(x)` and `answer[...]` inside code are seen by the kernel.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$",
                    re.MULTILINE | re.DOTALL)
CODE_LANGS = {"repl", "python", "py", "python3"}
_FINAL = re.compile(r"^[ \t]*(FINAL_VAR|FINAL)\(", re.MULTILINE)


@dataclass
class Reply:
    """A parsed reply: code blocks in order, and the final answer written outside code, if any
    (`final_kind` is "text" for FINAL(...) or "var" for FINAL_VAR(name))."""

    code: list[str] = field(default_factory=list)
    final_kind: str | None = None
    final: str | None = None

    @property
    def has_final(self) -> bool:
        return self.final_kind is not None


def _strip_quotes(text: str) -> str:
    text = text.strip()
    for q in ('"""', "'''", '"', "'"):
        if len(text) >= 2 * len(q) and text.startswith(q) and text.endswith(q):
            inner = text[len(q):-len(q)]
            if q not in inner:
                return inner
    return text


def _final_argument(prose: str, start: int) -> str:
    """The text from just after `FINAL(` to its closing parenthesis: the last `)` that ends a
    line in this stretch of prose (so answers may span lines and contain parentheses)."""
    rest = prose[start:]
    closing = [m.start() for m in re.finditer(r"\)[ \t]*$", rest, re.MULTILINE)]
    if closing:
        return rest[: closing[-1]]
    line_end = rest.find("\n")
    return rest if line_end < 0 else rest[:line_end]


def parse_reply(text: str) -> Reply:
    reply = Reply()
    prose_parts: list[str] = []
    pos = 0
    for m in _FENCE.finditer(text):
        prose_parts.append(text[pos:m.start()])
        pos = m.end()
        lang = m.group(2).lower()
        if lang in CODE_LANGS:
            code = m.group(3)
            if code.strip():
                reply.code.append(code.rstrip() + "\n")
    prose_parts.append(text[pos:])
    for prose in prose_parts:
        marker = _FINAL.search(prose)
        if marker is None:
            continue
        argument = _final_argument(prose, marker.end())
        if marker.group(1) == "FINAL_VAR":
            reply.final_kind, reply.final = "var", _strip_quotes(argument).strip()
        else:
            reply.final_kind, reply.final = "text", _strip_quotes(argument)
        # the last final marker in the reply wins
    return reply
