"""The import allow-list of the restricted policy (runs inside the kernel): `ALLOWED_MODULES`,
`guarded_import`, and `ModuleProxy`, the read-only view each allowed module is handed out as
(public names only, minus the few that evaluate strings; a module reached through it is a
proxy too; the stand-ins of `safe_stdlib` in place of the functions they replace), so that
`json.codecs` or `random._os` lead nowhere.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

from sandbox.kernel.attribute_guard import guard_value, set_module_proxy
from sandbox.kernel.safe_stdlib import MODULE_OVERRIDES

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


class ModuleProxy:
    """A read-only view of an allowed module: public names only, no module pivots."""

    __module__ = "sandbox.kernel.policy"  # its home before the split, the name model code sees

    __slots__ = ("_rlm_module", "_rlm_name")

    def __init__(self, module: types.ModuleType) -> None:
        object.__setattr__(self, "_rlm_module", module)
        object.__setattr__(self, "_rlm_name", module.__name__)

    def __getattr__(self, name: str) -> Any:
        mod_name = object.__getattribute__(self, "_rlm_name")
        if name.startswith("_") or name in _MODULE_DENIED.get(mod_name, ()):
            raise AttributeError(f"{mod_name}.{name} is not allowed in this sandbox")
        overrides = MODULE_OVERRIDES.get(mod_name, {})
        if name in overrides:
            return overrides[name]
        value = getattr(object.__getattribute__(self, "_rlm_module"), name)
        if isinstance(value, types.ModuleType):
            return proxy_for(value)
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


def proxy_for(module: types.ModuleType) -> ModuleProxy:
    name = module.__name__
    if name not in ALLOWED_MODULES:
        raise AttributeError(f"module '{name}' is not allowed in this sandbox")
    if name == "re":  # the re whose functions also take a Corpus
        from sandbox.kernel.re_facade import re_module

        module = re_module
    if name not in _PROXIES:
        _PROXIES[name] = ModuleProxy(module)
    return _PROXIES[name]


set_module_proxy(proxy_for)


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
    return proxy_for(module)
