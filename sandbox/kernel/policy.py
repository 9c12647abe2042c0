"""The policy layer: what model code may do in restricted mode (runs inside the kernel).

Model code is compiled with RestrictedPython and runs with the guards defined here:
attribute access that refuses private names and object-graph pivots, guarded builtins,
and an import allow-list whose modules are handed out as read-only proxies (so that
`json.codecs` or `random._os` lead nowhere). This is a *policy*, not the security
boundary: the OS layers applied by `sandbox/launcher.py` are (docs/isolation.md lists them).
"""

from __future__ import annotations

import ast
import builtins
import collections
import contextlib
import dataclasses
import functools
import keyword
import operator
import string
import types
from collections.abc import Callable, Collection, Sequence
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, IOPERATOR_TO_STR, RestrictingNodeTransformer

from sandbox.kernel.protected import ProtectedNameError, rebound_names, refusal

ALLOWED_MODULES = frozenset(
    {
        "re", "json", "math", "collections", "collections.abc", "itertools", "functools",
        "statistics", "datetime", "string", "textwrap", "difflib", "heapq", "bisect",
        "random", "hashlib", "base64", "unicodedata", "csv", "operator", "typing",
        "dataclasses", "fnmatch",
    }
)

# Names inside allowed modules that evaluate strings or walk attributes unguarded.
_MODULE_DENIED = {
    "typing": {"get_type_hints", "ForwardRef", "get_overloads", "TYPE_CHECKING"},
    "dataclasses": {"make_dataclass"},
    # register() evaluates string annotations with eval(), outside the policy
    "functools": {"singledispatch", "singledispatchmethod"},
    "string": set(),
    "operator": set(),
}

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
        return _proxy_for(value)
    return guard_value(value)


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


_SAFE_FORMATTER = SafeFormatter()


def _bound_safe_format(text: str, name: str) -> Callable[..., str]:
    if name == "format":
        return lambda *args, **kwargs: _SAFE_FORMATTER.vformat(text, args, kwargs)
    return lambda mapping: _SAFE_FORMATTER.vformat(text, (), mapping)


def _unbound_safe_format(name: str) -> Callable[..., str]:
    def unbound(text: str, /, *args: Any, **kwargs: Any) -> str:
        if not isinstance(text, str):
            raise TypeError(f"descriptor '{name}' requires a 'str' object")
        return _bound_safe_format(text, name)(*args, **kwargs)

    return unbound


def model_owned(obj: Any) -> bool:
    """Whether model code made `obj`: a function it defined, a class it defined or an instance
    of one (the only objects besides plain containers whose attributes it may set)."""
    if isinstance(obj, types.FunctionType):
        return obj.__globals__.get("_getattr_") is guarded_getattr
    return bool(getattr(obj if isinstance(obj, type) else type(obj), "_rlm_user_class", False))


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
        return _SAFE_FORMATTER.vformat(self.data, args, kwargs)

    def format_map(self: Any, mapping: Any) -> str:
        return _SAFE_FORMATTER.vformat(self.data, (), mapping)

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


_MODULE_OVERRIDES: dict[str, dict[str, Any]] = {
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


class ModuleProxy:
    """A read-only view of an allowed module: public names only, no module pivots."""

    __slots__ = ("_rlm_module", "_rlm_name")

    def __init__(self, module: types.ModuleType) -> None:
        object.__setattr__(self, "_rlm_module", module)
        object.__setattr__(self, "_rlm_name", module.__name__)

    def __getattr__(self, name: str) -> Any:
        mod_name = object.__getattribute__(self, "_rlm_name")
        if name.startswith("_") or name in _MODULE_DENIED.get(mod_name, ()):
            raise AttributeError(f"{mod_name}.{name} is not allowed in this sandbox")
        overrides = _MODULE_OVERRIDES.get(mod_name, {})
        if name in overrides:
            return overrides[name]
        value = getattr(object.__getattribute__(self, "_rlm_module"), name)
        if isinstance(value, types.ModuleType):
            return _proxy_for(value)
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
            return _guarded_function(value)
        return guard_value(value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("modules are read-only in this sandbox")

    def __dir__(self) -> list[str]:
        mod_name = object.__getattribute__(self, "_rlm_name")
        module = object.__getattribute__(self, "_rlm_module")
        return sorted(
            n for n in dir(module)
            if not n.startswith("_") and n not in _MODULE_DENIED.get(mod_name, ())
        )

    def __repr__(self) -> str:
        return f"<module '{object.__getattribute__(self, '_rlm_name')}' (sandboxed)>"


_PROXIES: dict[str, ModuleProxy] = {}
_GUARDED_FUNCTIONS: dict[Any, Callable[..., Any]] = {}


def _guarded_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A module's function whose result passes `guard_value` (typing.get_origin(typing.Type)
    is the real `type`), the same object each time it is looked up."""
    guarded = _GUARDED_FUNCTIONS.get(fn)
    if guarded is None:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            return guard_value(fn(*args, **kwargs))

        guarded = _GUARDED_FUNCTIONS[fn] = functools.wraps(fn)(guarded)
    return guarded


def _proxy_for(module: types.ModuleType) -> ModuleProxy:
    name = module.__name__
    if name not in ALLOWED_MODULES:
        raise AttributeError(f"module '{name}' is not allowed in this sandbox")
    if name == "re":  # the re whose functions also take a Corpus
        from sandbox.kernel.re_facade import re_module

        module = re_module
    if name not in _PROXIES:
        _PROXIES[name] = ModuleProxy(module)
    return _PROXIES[name]


def _internal_time() -> types.SimpleNamespace:
    """What `datetime`'s C code takes from the `time` it imports (strftime, timetuple, today)."""
    import time

    return types.SimpleNamespace(strftime=time.strftime, struct_time=time.struct_time, time=time.time)


# modules that allowed modules' C code imports while model code runs (through the `__import__`
# of the running frame's builtins, with a *list* `fromlist`, which an `import` statement never
# passes): the few functions that code calls, never the module
_INTERNAL_IMPORTS: dict[str, Callable[[], Any]] = {"time": _internal_time}


def guarded_import(
    name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
) -> Any:
    if level != 0:
        raise ImportError("relative imports are not allowed in this sandbox")
    if type(fromlist) is list and name in _INTERNAL_IMPORTS:  # PyImport_Import, from C code
        return _INTERNAL_IMPORTS[name]()
    top = name.split(".")[0]
    if name not in ALLOWED_MODULES or top not in ALLOWED_MODULES:
        allowed = ", ".join(sorted(m for m in ALLOWED_MODULES if "." not in m))
        raise ImportError(
            f"import of '{name}' is not allowed in this sandbox; allowed modules: {allowed}"
        )
    module = __import__(name, fromlist=["_"] if "." in name else ())
    if "." in name and not fromlist:
        module = __import__(top)
    return _proxy_for(module)


# containers model code may write to: the plain ones and the collections models count with
# (`counts[k] += 1` on a Counter or defaultdict)
_WRITABLE_TYPES = (dict, list, set, bytearray, collections.Counter, collections.defaultdict,
                   collections.OrderedDict, collections.deque)


def guarded_write(obj: Any) -> Any:
    """Allow attribute/item writes on containers and on instances of model-defined classes."""
    if type(obj) in _WRITABLE_TYPES or getattr(type(obj), "_rlm_user_class", False):
        return obj
    if isinstance(obj, type) and getattr(obj, "_rlm_user_class", False):
        return obj
    raise PolicyError(f"cannot modify objects of type {type(obj).__name__} in this sandbox")


def guarded_setattr(obj: Any, name: str, value: Any) -> None:
    if type(name) is not str or name.startswith("_"):
        raise AttributeError(f'"{name}" is not allowed: names starting with "_" are private')
    setattr(guarded_write(obj), name, value)


def guarded_delattr(obj: Any, name: str) -> None:
    if type(name) is not str or name.startswith("_"):
        raise AttributeError(f'"{name}" is not allowed: names starting with "_" are private')
    delattr(guarded_write(obj), name)


def user_metaclass(name: str, bases: tuple, namespace: dict, **kwargs: Any) -> type:
    """Metaclass for classes defined by model code; marks them so their instances are writable."""
    for base in bases:
        if not isinstance(base, type):
            raise PolicyError(f"cannot subclass {base!r}: not a class")
        if isinstance(base, type) and base.__module__ == "builtins" and base not in _SUBCLASSABLE:
            raise PolicyError(f"subclassing {base.__name__} is not allowed in this sandbox")
    meta = type(bases[0]) if bases else type
    if meta is not type and not getattr(meta, "_rlm_user_class", False):
        meta = type
    namespace["_rlm_user_class"] = True
    return meta(name, bases, namespace, **kwargs)


_SUBCLASSABLE = frozenset(
    {object, dict, list, set, tuple, str, int, float, Exception, ValueError, KeyError,
     RuntimeError, TypeError, LookupError, frozenset}
)


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


def _guarded_type(obj: Any) -> Any:
    """type(obj) with one argument only; a metaclass (`type(type(1))` is the real `type`,
    which builds classes from any dict, past the class checks) comes back as this guarded
    function itself."""
    result = type(obj)
    if issubclass(result, type):
        return _guarded_type
    return result


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


class ModelCodePolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus annotated assignments (`x: int = 1`, dataclass fields),
    which models write constantly; the annotation and value are still checked node by node."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        """`counts[k] += 1` and `self.n += 1`, which models write constantly: the target's
        object goes through `_write_` as in a plain assignment, then `_inplace_item_` /
        `_inplace_attr_` read the old value (guarded like any read) and store the new one."""
        if not isinstance(node.target, (ast.Subscript, ast.Attribute)):
            return super().visit_AugAssign(node)
        op = IOPERATOR_TO_STR.get(type(node.op))
        if op is None:
            self.error(node, "this augmented assignment operator is not allowed; write x = x <op> y")
            return node
        node = self.node_contents_visit(node)  # the target becomes _write_(obj)[key] / _write_(obj).name
        target = node.target
        if isinstance(target, ast.Subscript):
            call = ast.Call(func=ast.Name("_inplace_item_", ast.Load()),
                            args=[target.value, target.slice, ast.Constant(op), node.value], keywords=[])
        else:
            assert isinstance(target, ast.Attribute)
            call = ast.Call(func=ast.Name("_inplace_attr_", ast.Load()),
                            args=[target.value, ast.Constant(target.attr), ast.Constant(op), node.value], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(ast.Expr(call), node))

    def visit_Nonlocal(self, node: ast.Nonlocal) -> Any:
        """`nonlocal` rebinds a name of an enclosing function, as `global` (allowed) does a
        module's; the names are checked like any other."""
        for name in node.names:
            self.check_name(node, name)
        return self.node_contents_visit(node)

    def visit_Match(self, node: ast.AST) -> Any:
        """Refused (class patterns read attributes past the guard), with the allowed way."""
        self.error(node, "match statements are not allowed in this sandbox; use if/elif (with isinstance, "
                         "==, `in` or unpacking) instead")
        return node

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        """`x.__name__` and the other READABLE_DUNDERS, read through the guard."""
        if node.attr in READABLE_DUNDERS and isinstance(node.ctx, ast.Load):
            node = self.node_contents_visit(node)
            call = ast.Call(func=ast.Name("_getattr_", ast.Load()), args=[node.value, ast.Constant(node.attr)],
                            keywords=[])
            return ast.fix_missing_locations(ast.copy_location(call, node))
        return super().visit_Attribute(node)

    def visit_Name(self, node: ast.Name) -> Any:
        """`__name__` may be read (`if __name__ == "__main__":`); it is "__rlm__"."""
        if node.id == "__name__" and isinstance(node.ctx, ast.Load):
            return node
        return super().visit_Name(node)


def compile_cell(source: str, filename: str, restricted: bool,
                 protected: Collection[str] = ()) -> tuple[Any, Any]:
    """Compile a cell into (body code, last-expression code or None).

    The last statement, when it is an expression, is compiled apart so that the
    runtime can echo its value like a REPL does. ProtectedNameError if the cell would rebind
    one of `protected` (sandbox/kernel/protected.py).
    """
    tree = ast.parse(source, filename, "exec")
    rebound = rebound_names(tree, protected) if protected else []
    if rebound:
        raise ProtectedNameError(refusal(rebound))
    last_expr = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last_expr = ast.Expression(tree.body.pop().value)  # type: ignore[attr-defined]
    if not restricted:
        body = compile(tree, filename, "exec")
        tail = compile(last_expr, filename, "eval") if last_expr is not None else None
        return body, tail
    result = compile_restricted_exec(tree, filename, policy=ModelCodePolicy)
    errors = list(result.errors)
    tail = None
    if last_expr is not None:
        tail_result = compile_restricted_eval(last_expr, filename, policy=ModelCodePolicy)
        errors.extend(tail_result.errors)
        tail = tail_result.code
    if errors:
        raise PolicyError("\n".join(errors))
    return result.code, tail
