"""The model's variables as the host lists them, and loaded contexts as it previews them (runs
inside the kernel): names, types and sizes (a class's own `__len__` bounded in time), and the
first characters of a context (a list or dict as JSON written piece by piece, no model method
run).
"""

from __future__ import annotations

import inspect
import itertools
import json
import sys
import time
import types
from typing import TYPE_CHECKING, Any

from sandbox.kernel.signal_guards import time_limit
from sandbox.kernel.value_text import TEXT_SECONDS

# names the runtime itself reserves (tools add theirs when they are installed)
RESERVED_FUNCTIONS = ("SHOW_VARS", "FINAL_VAR", "FINAL")


MAX_LISTED_VARIABLES = 1000  # described for the host each turn
MAX_SHOWN_VARIABLES = 10_000  # listed by SHOW_VARS()


def _is_empty(value: Any) -> bool:
    try:
        return len(value) == 0
    except TypeError:
        return False


_JSON_SCALARS = (bool, int, float, type(None))
_JSON_DEPTH = 50  # nesting written out in a preview; deeper containers show as [...] / {...}


def _json_head(value: Any, chars: int) -> str:
    """`value` as JSON, cut to `chars`: written piece by piece until `chars` characters are
    there (a long string is cut before it is written out). Only JSON's own types are written
    (and tuples, as lists); anything else a cell put in a context shows as "<TypeName>": no
    method of a model's object runs here, and no container is walked further than needed."""
    pieces: list[str] = []
    used = 0
    for piece in _json_pieces(value, chars, 0):
        pieces.append(piece)
        used += len(piece)
        if used >= chars:
            break
    return "".join(pieces)[:chars]


def _json_pieces(value: Any, chars: int, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        yield json.dumps(value[:chars], ensure_ascii=False)
    elif kind in _JSON_SCALARS:
        try:
            yield json.dumps(value)
        except ValueError:  # an int past Python's digit limit
            yield f'"<{kind.__name__}>"'
    elif kind is list or kind is tuple:
        if depth >= _JSON_DEPTH:
            yield "[...]"
            return
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from _json_pieces(item, chars, depth + 1)
        yield "]"
    elif kind is dict:
        if depth >= _JSON_DEPTH:
            yield "{...}"
            return
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            if i:
                yield ", "
            yield _json_key(key, chars)
            yield ": "
            yield from _json_pieces(item, chars, depth + 1)
        yield "}"
    else:
        yield json.dumps(f"<{kind.__name__}>")


def _json_key(key: Any, chars: int) -> str:
    """A dict key as JSON writes one (a str; a number, bool or None as its text)."""
    if type(key) is str:
        return json.dumps(key[:chars], ensure_ascii=False)
    if type(key) in _JSON_SCALARS:
        try:
            return json.dumps(str(json.dumps(key)))
        except ValueError:
            pass
    return json.dumps(f"<{type(key).__name__}>")


def _items_head(items: Any, chars: int) -> str:
    """Lines of `items` (texts) until about `chars` characters are written."""
    lines: list[str] = []
    used = 0
    for item in items:
        if used >= chars:
            break
        lines.append(item[:chars - used])
        used += len(lines[-1]) + 1
    return "\n".join(lines)


def describe_value(value: Any, seconds: float = TEXT_SECONDS) -> tuple[str, int]:
    """(type name, size) of a variable: len() where there is one, else its size in bytes. A
    class's own __len__ is model code: it gets at most `seconds`, and where it fails the size
    is in bytes (as `object` counts them where __sizeof__ is the class's own)."""
    kind = type(value)
    name = type.__dict__["__name__"].__get__(kind)  # not a metaclass's __name__
    length = _slot(kind, "__len__")
    if length == "native":
        return name, len(value)
    if length == "own":
        try:
            with time_limit(seconds):
                return name, len(value)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - whatever model code raised, the listing goes on
            pass
    return name, sys.getsizeof(value) if _slot(kind, "__sizeof__") == "native" else object.__sizeof__(value)


def _slot(kind: type, name: str) -> str:
    """Whether `kind`'s method `name` is "native" (a builtin type's: calling it runs no model
    code), its "own" (Python code), or "none"."""
    found = inspect.getattr_static(kind, name, None)
    if found is None:
        return "none"
    return "native" if isinstance(found, (types.WrapperDescriptorType, types.MethodDescriptorType)) else "own"


class VariableListing:
    """The model's variables listed, and loaded contexts previewed, for the host (a part of
    `Runtime`)."""

    ns: dict[str, Any]
    reserved: dict[str, Any]
    context_names: set[str]
    _hook_names: set[str]

    if TYPE_CHECKING:
        def _is_tool_name(self, name: str) -> bool: ...

    def user_variables(self, limit: int = MAX_LISTED_VARIABLES) -> dict[str, Any]:
        """The first `limit` user variables described, and how many there are in all (a cell
        can define millions; the host lists them every turn)."""
        result: list[dict[str, Any]] = []
        total = 0
        deadline = time.monotonic() + TEXT_SECONDS  # for all the model's __len__ methods together
        for name, value in list(self.ns.items()):
            if type(name) is not str or name.startswith("_") or name in self._hook_names \
                    or name in RESERVED_FUNCTIONS or name == "Out":
                continue
            if self._is_tool_name(name) and (callable(value) or _is_empty(value)):
                continue
            total += 1
            if len(result) < limit:
                kind, size = describe_value(value, deadline - time.monotonic())
                result.append({"name": name[:200], "type": kind[:200], "size": size})
        return {"variables": result, "total": total}

    def preview(self, name: str, chars: int) -> str | None:
        """The first `chars` characters of loaded context `name` as the model would print them
        (a list or dict: its first items as JSON), or None if there is no such context. Reads the
        loaded value, never a variable model code bound."""
        value = self.reserved.get(name) if name in self.context_names else None
        chars = max(0, min(chars, 20_000))
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return repr(bytes(value[:chars]))[:chars]
        if isinstance(value, (list, tuple)):
            return _items_head((_json_head(v, chars) for v in value[:50]), chars)
        if isinstance(value, dict):
            return _items_head((f"{_json_key(k, 200)}: {_json_head(v, chars)}"
                                for k, v in itertools.islice(value.items(), 50)), chars)
        return str(value[:chars])
