"""Guarded stand-ins for the functions of allowed modules that would reach past the guards
(runs inside the kernel): `functools.update_wrapper` / `wraps`, `dataclasses.dataclass`,
`collections.UserString`, `typing.get_args`, `operator.attrgetter` / `methodcaller` /
`setitem` / `delitem`, `random.shuffle` and `string.Formatter`, by module in
`MODULE_OVERRIDES`, which the module proxies hand out in their place.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import keyword
import types
from collections.abc import Callable, Sequence
from typing import Any

from sandbox.kernel.attribute_guard import SAFE_FORMATTER, PolicyError, SafeFormatter, guard_value, guarded_getattr
from sandbox.kernel.write_guard import guarded_write, model_owned


def _safe_field_name(name: Any) -> bool:
    """A name that generated code (dataclasses' __init__ / __eq__...) may spell: an identifier,
    public, not a keyword."""
    return type(name) is str and name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")


def _guarded_update_wrapper(wrapper: Any, wrapped: Any, assigned: Any = None, updated: Any = None) -> Any:
    """functools.update_wrapper for model code: the default attribute lists only (custom ones
    would copy any attribute, private ones included, past the guard), onto a function or class
    model code made; only text metadata, annotations (PolicyError if one is not named by a
    public identifier) and the public entries of `wrapped.__dict__` are copied."""
    if assigned is not None or updated is not None:
        raise PolicyError("update_wrapper/wraps with custom attribute lists is not allowed in this sandbox")
    if not model_owned(wrapper):
        raise PolicyError("update_wrapper/wraps can only update functions and classes defined in the sandbox")
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        value = getattr(wrapped, attr, None)
        if value is None or type(value) is str:
            with _suppress_attribute_errors():
                setattr(wrapper, attr, value)
    annotations = getattr(wrapped, "__annotations__", None)
    if type(annotations) is dict:
        bad = [k for k in annotations if not _safe_field_name(k) and k != "return"]
        if bad:
            raise PolicyError(f"update_wrapper: annotation name {str(bad[0])[:80]!r} is not a public identifier")
        with _suppress_attribute_errors():
            wrapper.__annotations__ = dict(annotations)
    source, target = getattr(wrapped, "__dict__", None), getattr(wrapper, "__dict__", None)
    if isinstance(source, (dict, types.MappingProxyType)) and type(target) is dict:
        target.update({k: v for k, v in source.items() if _safe_field_name(k)})
    with _suppress_attribute_errors():
        wrapper.__wrapped__ = wrapped
    return wrapper


def _suppress_attribute_errors() -> contextlib.suppress:
    return contextlib.suppress(AttributeError, TypeError)


def _guarded_wraps(wrapped: Any, assigned: Any = None, updated: Any = None) -> Callable[[Any], Any]:
    if assigned is not None or updated is not None:
        raise PolicyError("update_wrapper/wraps with custom attribute lists is not allowed in this sandbox")
    return lambda wrapper: _guarded_update_wrapper(wrapper, wrapped)


def _guarded_dataclass(cls: Any = None, /, **options: Any) -> Any:
    """dataclasses.dataclass for classes model code defined, whose field names (its own
    annotations and its dataclass bases' fields) are public identifiers: dataclasses compiles
    them into the generated methods, which run with the real builtins."""
    def make(klass: Any) -> Any:
        if not isinstance(klass, type) or not model_owned(klass):
            raise PolicyError("dataclass() applies to classes defined in the sandbox")
        for base in klass.__mro__:
            names = list(base.__dict__.get("__annotations__", {}) or ())
            fields = base.__dict__.get("__dataclass_fields__", {})
            names += list(fields) + [getattr(f, "name", None) for f in fields.values()]
            bad = [n for n in names if not _safe_field_name(n)]
            if bad:
                raise PolicyError(f"dataclass field name {str(bad[0])[:80]!r} is not a public identifier")
        return dataclasses.dataclass(klass, **options)

    return make if cls is None else make(cls)


def _guarded_typing_args(tp: Any) -> tuple[Any, ...]:
    import typing

    return tuple(guard_value(a) for a in typing.get_args(tp))


def _guarded_attrgetter(*names: str) -> Callable[[Any], Any]:
    def resolve(obj: Any, dotted: str) -> Any:
        for part in dotted.split("."):
            obj = guarded_getattr(obj, part)
        return obj

    if len(names) == 1:
        return lambda obj: resolve(obj, names[0])
    return lambda obj: tuple(resolve(obj, n) for n in names)


def _guarded_methodcaller(name: str, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    return lambda obj: guarded_getattr(obj, name)(*args, **kwargs)


def _user_string_class() -> type:
    """collections.UserString for model code, whose format / format_map go through the
    SafeFormatter (the stdlib's call `self.data.format(...)`, the real str.format). A copy of
    the stdlib class's methods on a class of its own, never a subclass: with the stdlib class
    among its bases, `super(UserString, s).format(...)` reached the real one."""
    def format(self: Any, /, *args: Any, **kwargs: Any) -> str:
        return SAFE_FORMATTER.vformat(self.data, args, kwargs)

    def format_map(self: Any, mapping: Any) -> str:
        return SAFE_FORMATTER.vformat(self.data, (), mapping)

    skip = {"__dict__", "__weakref__", "_abc_impl", "__abstractmethods__", "format", "format_map"}
    namespace = {k: v for k, v in vars(collections.UserString).items() if k not in skip}
    namespace.update(format=format, format_map=format_map, __qualname__="UserString")
    return type("UserString", (Sequence,), namespace)


SafeUserString = _user_string_class()


def _guarded_setitem(obj: Any, key: Any, value: Any) -> None:
    guarded_write(obj)[key] = value


def _guarded_delitem(obj: Any, key: Any) -> None:
    del guarded_write(obj)[key]


def _guarded_shuffle(x: Any) -> None:
    import random

    random.shuffle(guarded_write(x))


MODULE_OVERRIDES: dict[str, dict[str, Any]] = {
    "string": {"Formatter": SafeFormatter},
    "functools": {"update_wrapper": _guarded_update_wrapper, "wraps": _guarded_wraps},
    "dataclasses": {"dataclass": _guarded_dataclass},
    "collections": {"UserString": SafeUserString},
    "typing": {"get_args": _guarded_typing_args},
    # what writes an item must pass the write guard as `obj[k] = v` does
    "operator": {"attrgetter": _guarded_attrgetter, "methodcaller": _guarded_methodcaller,
                 "setitem": _guarded_setitem, "delitem": _guarded_delitem},
    "random": {"shuffle": _guarded_shuffle},
}
