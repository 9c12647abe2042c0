"""The builtins and hook names restricted model code runs with (runs inside the kernel):
`build_builtins` (RestrictedPython's safe builtins, plus the guarded getattr / setattr /
import / type / dir, and builtins that take iterables through `iter`), and
`restricted_globals`, the names RestrictedPython's compiled code calls (augmented assignments
included: `counts[k] += 1`, `self.n += 1`).
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable
from typing import Any

from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
)

from sandbox.kernel.allowed_modules import guarded_import
from sandbox.kernel.attribute_guard import (
    DENIED_ATTRIBUTES,
    PolicyError,
    _guarded_type,
    guarded_getattr,
    guarded_hasattr,
)
from sandbox.kernel.write_guard import guarded_delattr, guarded_setattr, guarded_write, user_metaclass


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    fn = _INPLACE_OPS.get(op)
    if fn is None:
        raise PolicyError(f"operator {op} is not allowed in this sandbox")
    return fn(x, y)


_INPLACE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "<<=": operator.ilshift, ">>=": operator.irshift, "|=": operator.ior,
    "&=": operator.iand, "^=": operator.ixor, "@=": operator.imatmul,
}


def _inplace_item(obj: Any, key: Any, op: str, value: Any) -> None:
    """`obj[key] op= value` for model code; `obj` has passed `_write_` (see visit_AugAssign)."""
    obj[key] = _inplacevar(op, obj[key], value)


def _inplace_attr(obj: Any, name: str, op: str, value: Any) -> None:
    """`obj.name op= value` for model code: a guarded read, then a guarded write."""
    guarded_setattr(obj, name, _inplacevar(op, guarded_getattr(obj, name), value))


def _iter_args(fn: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*iterables: Any, **kwargs: Any) -> Any:
        return fn(*(iter(it) for it in iterables), **kwargs)

    guarded.__name__ = fn.__name__
    guarded.__doc__ = fn.__doc__
    return guarded


def _guarded_map(func: Callable[..., Any], *iterables: Any) -> Any:
    return map(func, *(iter(it) for it in iterables))


def _guarded_filter(func: Any, iterable: Any) -> Any:
    return filter(func, iter(iterable))


def _guarded_minmax(fn: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1:
            return fn(iter(args[0]), **kwargs)
        return fn(*args, **kwargs)

    guarded.__name__ = fn.__name__
    guarded.__doc__ = fn.__doc__
    return guarded


def _guarded_dir(obj: Any = None) -> list[str]:
    if obj is None:
        raise PolicyError("dir() without an argument is not available; use SHOW_VARS()")
    return sorted(n for n in dir(obj) if not n.startswith("_") and n not in DENIED_ATTRIBUTES)


def build_builtins() -> dict[str, Any]:
    """The builtins model code sees in restricted mode."""
    b: dict[str, Any] = dict(safe_builtins)
    b.pop("_getattr_", None)
    for name in (
        "list", "dict", "set", "frozenset", "bytes", "bytearray", "object", "property",
        "staticmethod", "classmethod", "super", "format", "iter", "next", "reversed",
        "NotImplemented", "Ellipsis", "StopAsyncIteration", "ascii", "bin",
    ):
        b[name] = getattr(builtins, name)
    for name in ("zip", "any", "all"):
        b[name] = _iter_args(getattr(builtins, name))
    b["sorted"] = lambda iterable, /, **kw: sorted(iter(iterable), **kw)
    b["tuple"] = lambda iterable=(), /: tuple(iter(iterable))
    b["enumerate"] = lambda iterable, start=0: enumerate(iter(iterable), start)
    b["sum"] = lambda iterable, /, start=0: sum(iter(iterable), start)
    b["map"] = _guarded_map
    b["filter"] = _guarded_filter
    b["min"] = _guarded_minmax(min)
    b["max"] = _guarded_minmax(max)
    b["type"] = _guarded_type
    b["dir"] = _guarded_dir
    b["getattr"] = guarded_getattr
    b["hasattr"] = guarded_hasattr
    b["setattr"] = guarded_setattr
    b["delattr"] = guarded_delattr
    b["__import__"] = guarded_import
    return b


def restricted_globals(print_factory: Any) -> dict[str, Any]:
    """The hook names RestrictedPython's compiled code expects in its globals."""
    return {
        "__builtins__": build_builtins(),
        "__metaclass__": user_metaclass,
        "__name__": "__rlm__",
        "_getattr_": guarded_getattr,
        "_getitem_": lambda obj, key: obj[key],
        "_getiter_": iter,
        "_write_": guarded_write,
        "_print_": print_factory,
        "_apply_": lambda fn, *args, **kwargs: fn(*args, **kwargs),
        "_inplacevar_": _inplacevar,
        "_inplace_item_": _inplace_item,
        "_inplace_attr_": _inplace_attr,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    }
