"""What restricted model code may read of an object (runs inside the kernel): `guarded_getattr`
and `guarded_hasattr` (no private names, no pivots to frames, code or globals, a module only
as its read-only proxy), `guard_value` (no metaclass, no unguarded `str.format`), the
one-argument `type`, and the format strings' guard (`SafeFormatter`). `PolicyError` is the
error of every guard of the policy.
"""

from __future__ import annotations

import string
import types
from collections.abc import Callable
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

# Attributes that lead from ordinary objects to frames, code or globals.
DENIED_ATTRIBUTES = frozenset(INSPECT_ATTRIBUTES) | {
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await",
    "ag_frame", "ag_code", "ag_await", "tb_frame", "tb_next", "f_back", "f_globals",
    "f_builtins", "f_locals", "f_code", "func_globals", "func_code", "mro",
}

_FRAME_TYPES = (types.FrameType, types.TracebackType, types.CodeType)
# dunders model code may read (`type(x).__name__`): text about an object, never a way into it;
# only a str (or None) is handed out
READABLE_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})


class PolicyError(Exception):
    """Model code asked for something the restricted policy does not allow."""

    __module__ = "sandbox.kernel.policy"  # its home before the split, the name model code sees


def guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    """getattr for model code: no private names, no pivots to frames, globals or modules,
    and nothing that `guard_value` would not hand out."""
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name in READABLE_DUNDERS:
        value = getattr(obj, name, None)
        if value is None or type(value) is str:
            return value
        raise AttributeError(f'"{name}" of this object is not readable in this sandbox')
    if name.startswith("_"):
        raise AttributeError(f'"{name}" is not allowed: names starting with "_" are private')
    if name in DENIED_ATTRIBUTES or isinstance(obj, _FRAME_TYPES):
        raise AttributeError(f'"{name}" is not allowed in this sandbox')
    if name == "obj" and isinstance(obj, BaseException):
        raise AttributeError('"obj" of an exception is not allowed in this sandbox')
    if isinstance(obj, types.ModuleType):
        raise AttributeError("direct module access is not allowed in this sandbox")
    try:
        value = getattr(obj, name)
    except AttributeError:
        if default:
            return default[0]
        raise
    if isinstance(value, types.ModuleType):
        if _module_proxy is None:  # no allow-list registered: no module is handed out
            raise AttributeError("direct module access is not allowed in this sandbox")
        return _module_proxy(value)
    return guard_value(value)


# how a module reached as an attribute is handed out: the allow-list's proxy, which
# `sandbox.kernel.allowed_modules` (built on this module's guards) registers when imported
_module_proxy: Callable[[types.ModuleType], Any] | None = None


def set_module_proxy(maker: Callable[[types.ModuleType], Any]) -> None:
    global _module_proxy
    _module_proxy = maker


_STR_FORMATS = ("format", "format_map")


def guard_value(value: Any) -> Any:
    """What model code may hold in place of `value`, whatever route it came by (an attribute, a
    module's name, a module function's result). Two kinds of object are never handed out:
    - a metaclass (the real `type`, `abc.ABCMeta` behind typing and collections.abc...): called
      with three arguments it builds a class from any dict, past `user_metaclass`; it comes back
      as the guarded one-argument `type`;
    - `str.format` / `str.format_map`, bound (to any str, also through `super()` in a str
      subclass) or unbound: the C implementation reads attributes named in the format string
      unguarded; they come back as the SafeFormatter's."""
    if isinstance(value, type):
        return _guarded_type if issubclass(value, type) else value
    if isinstance(value, types.BuiltinMethodType) and value.__name__ in _STR_FORMATS \
            and isinstance(value.__self__, str):
        return _bound_safe_format(value.__self__, value.__name__)
    if isinstance(value, types.MethodDescriptorType) and value.__name__ in _STR_FORMATS \
            and issubclass(value.__objclass__, str):
        return _unbound_safe_format(value.__name__)
    return value


def guarded_hasattr(obj: Any, name: str) -> bool:
    try:
        guarded_getattr(obj, name)
    except (AttributeError, PolicyError):
        return False
    return True


class SafeFormatter:
    """`string.Formatter` for model code: the same methods, with attribute lookups in fields
    routed through the guard. It wraps a Formatter rather than subclassing one, so neither
    `super()` in a model's subclass nor the class's bases lead to an unguarded `get_field`."""

    __module__ = "sandbox.kernel.policy"  # its home before the split, the name model code sees

    def __init__(self) -> None:
        self._impl = _GuardedFormatterImpl(self)

    def format(self, format_string: str, /, *args: Any, **kwargs: Any) -> str:
        return self.vformat(format_string, args, kwargs)

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        return self._impl.vformat(format_string, args, kwargs)

    def parse(self, format_string: str) -> Any:
        return self._impl.parse(format_string)

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        first, rest = _formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            obj = guarded_getattr(obj, key) if is_attr else obj[key]
        return obj, first

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return args[key] if isinstance(key, int) else kwargs[key]

    def check_unused_args(self, used_args: Any, args: Any, kwargs: Any) -> None:
        pass

    def format_field(self, value: Any, format_spec: str) -> str:
        return format(value, format_spec)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return string.Formatter.convert_field(self._impl, value, conversion)


class _GuardedFormatterImpl(string.Formatter):
    """The engine behind SafeFormatter; every hook calls back the (possibly subclassed)
    SafeFormatter, whose methods model code can override only with restricted code."""

    def __init__(self, outer: SafeFormatter) -> None:
        self._outer = outer

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        return self._outer.get_field(field_name, args, kwargs)

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return self._outer.get_value(key, args, kwargs)

    def check_unused_args(self, used_args: Any, args: Any, kwargs: Any) -> None:
        self._outer.check_unused_args(used_args, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> str:
        return self._outer.format_field(value, format_spec)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return super().convert_field(value, conversion)


def _formatter_field_name_split(field_name: str) -> Any:
    import _string

    return _string.formatter_field_name_split(field_name)


SAFE_FORMATTER = SafeFormatter()


def _bound_safe_format(text: str, name: str) -> Callable[..., str]:
    if name == "format":
        return lambda *args, **kwargs: SAFE_FORMATTER.vformat(text, args, kwargs)
    return lambda mapping: SAFE_FORMATTER.vformat(text, (), mapping)


def _unbound_safe_format(name: str) -> Callable[..., str]:
    def unbound(text: str, /, *args: Any, **kwargs: Any) -> str:
        if not isinstance(text, str):
            raise TypeError(f"descriptor '{name}' requires a 'str' object")
        return _bound_safe_format(text, name)(*args, **kwargs)

    return unbound


def _guarded_type(obj: Any) -> Any:
    """type(obj) with one argument only; a metaclass (`type(type(1))` is the real `type`,
    which builds classes from any dict, past the class checks) comes back as this guarded
    function itself."""
    result = type(obj)
    if issubclass(result, type):
        return _guarded_type
    return result
