"""The reply protocol: code blocks and final answers in a model's reply.

Compatible with the paper and the official implementation: ```repl blocks (```python and
```py are accepted too), `FINAL(text)` and `FINAL_VAR(name)` at the start of a line outside
code, in any case, with or without the underscore (`Final_VAR(x)`, `final(x)`, `FinalVar(x)`).
(`FINAL_VAR(x)`, `FINAL(x)` and `answer[...]` inside code are seen by the kernel.)

Replies as real models write them:
- reasoning: `<think>...</think>` (also `<thinking>`, an unclosed `<think>` running to the end,
  and a lone `</think>` whose opening tag the server's chat template ate) is taken out before
  anything is parsed: code and final markers drafted while thinking are neither run nor taken;
- a fence without a language tag is run when its text is Python (it parses) and does more than
  show a value (not only a name or a literal, which is how models quote output); a fence tagged
  with another language (bash, text, json...) is never run;
- a fence left open (a reply cut by the token limit) is never run;
- a reply with no fence at all whose whole text is such Python (`llm_query("...")`) is run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^[ \t]*\2[ \t]*$",
                    re.MULTILINE | re.DOTALL)
CODE_LANGS = {"repl", "python", "py", "python3"}
# whatever its case (models write `Final_VAR(x)`, `final(42)`), and with the markdown emphasis
# or backquotes some wrap it in
_FINAL = re.compile(r"^[ \t]*[*_`]{0,3}(FINAL_?VAR|FINAL)\(", re.MULTILINE | re.IGNORECASE)


_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|\Z)", re.DOTALL | re.IGNORECASE)
_LONE_CLOSE = re.compile(r"\A.*?</(think|thinking|reasoning)>", re.DOTALL | re.IGNORECASE)
_OPEN_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})", re.MULTILINE)


@dataclass
class Reply:
    """A parsed reply: code blocks in order, and the final answer written outside code, if any
    (`final_kind` is "text" for FINAL(...) or "var" for FINAL_VAR(name)).

    visible: the reply without its reasoning (what the history keeps); thinking_chars: how much
    reasoning was taken out; untagged: how many of `code` came from fences without a language
    tag; open_block: a code fence was opened and never closed (a cut reply), its code not run."""

    code: list[str] = field(default_factory=list)
    final_kind: str | None = None
    final: str | None = None
    visible: str = ""
    thinking_chars: int = 0
    untagged: int = 0
    open_block: bool = False
    code_end: int = 0  # where the last code block that runs ends, in `visible`

    @property
    def has_final(self) -> bool:
        return self.final_kind is not None


def strip_thinking(text: str) -> tuple[str, int]:
    """`text` without its reasoning sections, and how many characters they held."""
    visible = _LONE_CLOSE.sub("", text, count=1) if _lone_close(text) else text
    visible = _THINK.sub("", visible)
    return visible, len(text) - len(visible)


def _lone_close(text: str) -> bool:
    """A closing reasoning tag before any opening one: the template ate the opening tag."""
    close = re.search(r"</(think|thinking|reasoning)>", text, re.IGNORECASE)
    if close is None:
        return False
    opening = re.search(r"<(think|thinking|reasoning)>", text, re.IGNORECASE)
    return opening is None or opening.start() > close.start()


def _literal(node: ast.AST) -> bool:
    """A value written out (42, 'text', [1, 'a'], {'k': (1, 2)}, -3): what output looks like."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _literal(node.operand)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _literal(k) for k in node.keys) and all(_literal(v) for v in node.values)
    return False


def looks_like_python(code: str) -> bool:
    """Run an untagged fence? Only Python that does something: it must parse, and not be only
    values written out (models quote output that way: ```\n42\n['a line']\n```; run, it would
    echo the invented output back as if the kernel had printed it)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
        # model text: nesting deep enough to exhaust the parser is no code to run (CPython 3.11
        # reports some of it as a SystemError, "AST constructor recursion depth mismatch")
        return False
    return any(not (isinstance(node, ast.Expr) and _literal(node.value)) for node in tree.body)


_OPERATORS = (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


def _names_and_values(code: str) -> bool:
    """Is `code` one line that is only names, values and operators (`5039-NIMBUS`, `Oldbury`)?
    An answer said plainly that Python happens to parse (a real model's `5039-NIMBUS`, run, was a
    NameError twice); code that does something calls, reads an attribute or assigns."""
    if "\n" in code.strip():
        return False
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
        return False
    return len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) and all(
        isinstance(n, (ast.Expr, ast.Name, ast.Constant, ast.Load, *_OPERATORS)) for n in ast.walk(tree.body[0]))


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
    closing = [m.start() for m in re.finditer(r"\)[ \t]*[*_`]{0,3}[ \t]*$", rest, re.MULTILINE)]
    if closing:
        return rest[: closing[-1]]
    line_end = rest.find("\n")
    return rest if line_end < 0 else rest[:line_end]


def _outdent(code: str, indent: int) -> str:
    """The code of a fence indented by `indent` (a block inside a list item): each line loses
    up to that much leading whitespace, as Markdown reads it (else Python sees an indent)."""
    if not indent:
        return code
    return "".join(line[min(indent, len(line) - len(line.lstrip(" \t"))):]
                   for line in code.splitlines(keepends=True))


def parse_reply(text: str) -> Reply:
    visible, thinking = strip_thinking(text)
    reply = Reply(visible=visible, thinking_chars=thinking)
    text = visible
    prose_parts: list[str] = []
    pos = 0
    for m in _FENCE.finditer(text):
        prose_parts.append(text[pos:m.start()])
        pos = m.end()
        lang, code = m.group(3).lower(), _outdent(m.group(4), len(m.group(1)))
        if not code.strip():
            continue
        if lang in CODE_LANGS:
            reply.code.append(code.rstrip() + "\n")
            reply.code_end = m.end()
        elif not lang and looks_like_python(code):
            reply.code.append(code.rstrip() + "\n")
            reply.untagged += 1
            reply.code_end = m.end()
    rest = text[pos:]
    opened = _OPEN_FENCE.search(rest)
    if opened is not None:  # a fence opened and never closed: its code is cut, and not prose either
        reply.open_block = True
        rest = rest[:opened.start()]
    prose_parts.append(rest)
    bare = text.strip()
    if not reply.code and pos == 0 and not reply.open_block and not _FINAL.search(text) and looks_like_python(bare) \
            and not _names_and_values(bare):
        # no fence at all, and the whole reply is Python that does something: code written
        # without its fence (`llm_query("...")`), which prose never parses as
        reply.code.append(bare + "\n")
        reply.untagged += 1
        reply.code_end = len(text)
        return reply
    for prose in prose_parts:
        marker = _FINAL.search(prose)
        if marker is None:
            continue
        argument = _final_argument(prose, marker.end())
        if marker.group(1).upper() != "FINAL" and not _is_prose(_strip_quotes(argument).strip()):
            reply.final_kind, reply.final = "var", _strip_quotes(argument).strip()
        else:  # FINAL(text), or FINAL_VAR(words no variable holds): the words are the answer
            reply.final_kind, reply.final = "text", _strip_quotes(argument)
        # the last final marker in the reply wins
    return reply


_CODE_FINAL = re.compile(r"^[ \t]*(?:print\([ \t]*(FINAL_?VAR|FINAL)\((.*)\)[ \t]*\)|(FINAL_?VAR|FINAL)\((.*)\))"
                         r"[ \t]*;?[ \t]*$", re.MULTILINE | re.IGNORECASE)
_LITERAL = re.compile(r"""^(?:"([^"\\]*)"|'([^'\\]*)'|(-?\d+(?:\.\d+)?))$""")
ANSWER_PREFIX = re.compile(r"^[*_`#\s]*(?:final answer|answer)[*_`\s]*:[*_`\s]*", re.IGNORECASE)


_MARKER_BLOCK = re.compile(r"\A\s*(FINAL_?VAR|FINAL)\((.*)\)\s*;?\s*\Z", re.DOTALL | re.IGNORECASE)


def marker_block(code: str) -> tuple[str, str] | None:
    """A code block that is only a final-answer marker written as prose, which Python cannot
    run (`FINAL(18 lines contain ERROR)`): ("text", the text) or ("var", a name); else None (a
    marker that is valid code runs in the kernel, where FINAL is a function)."""
    m = _MARKER_BLOCK.match(code)
    if m is None:
        return None
    try:
        compile(code, "<reply>", "exec")
    except SyntaxError:
        inner = m.group(2).strip()
        if m.group(1).upper() != "FINAL":
            return ("var", inner) if inner.isidentifier() else None
        return ("text", inner) if inner and "\n" not in inner else None
    except (ValueError, OverflowError, RecursionError, MemoryError):
        return None
    return None


_MARKER_WORDS = re.compile(r"[^\W\d]\w*|\w+(?:-\w+)+")


def failed_marker(code: str, error: str | None) -> tuple[str, str] | None:
    """A block that is one final-answer marker whose argument names nothing the kernel has
    (`FINAL_VAR(sales-lakeview)`, `FINAL(RC-5Z4F)`: Python reads a subtraction of unknown names
    and fails with NameError): the marker as the model meant it, ("var", name) for a name (so
    that the model is told no such variable exists), else ("text", the words); None for any
    other block or error."""
    m = _MARKER_BLOCK.match(code)
    last = (error or "").strip().splitlines()[-1:]
    if m is None or not last or not last[0].startswith("NameError"):
        return None
    inner = _strip_quotes(m.group(2).strip()).strip()
    # a name, or a code joined by hyphens; an expression (`total_sales - total_refund`,
    # `counts[best]`) is code that failed, not words
    if not _MARKER_WORDS.fullmatch(inner):
        return None
    return ("var" if inner.isidentifier() else "text"), inner


def _is_prose(argument: str) -> bool:
    """Words, not a name or an expression: `FINAL_VAR(the code is RC-56AS)` from a small model
    that meant FINAL (in code, FINAL_VAR of a string gives that string too)."""
    if not argument or argument.isidentifier() or not any(c.isspace() for c in argument):
        return False
    try:
        ast.parse(argument, mode="eval")
    except SyntaxError:
        return True
    return False


def final_in_code(blocks: list[str]) -> tuple[str | None, str | None]:
    """A final answer written as code (`FINAL(total)`, `print(FINAL_VAR("n"))`, `FINAL(42)`) when
    no code will run: ("var", name) for a variable, ("text", value) for a literal, else
    (None, None). The last one in the blocks wins."""
    found: tuple[str | None, str | None] = (None, None)
    for block in blocks:
        for m in _CODE_FINAL.finditer(block):
            marker, argument = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            argument = argument.strip()
            literal = _LITERAL.match(argument)
            if argument.isidentifier():
                found = ("var", argument)
            elif literal is not None:
                text = next(g for g in literal.groups() if g is not None)
                found = ("var", text) if marker.upper() != "FINAL" and text.isidentifier() else ("text", text)
    return found
