"""What restricted model code may change (runs inside the kernel): plain containers and the
objects it made (`guarded_write`, `guarded_setattr`, `guarded_delattr`, `model_owned`), and
the classes it may define and subclass (`user_metaclass`).
"""

from __future__ import annotations

import collections
import types
from typing import Any

from sandbox.kernel.attribute_guard import PolicyError, guarded_getattr

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


def model_owned(obj: Any) -> bool:
    """Whether model code made `obj`: a function it defined, a class it defined or an instance
    of one (the only objects besides plain containers whose attributes it may set)."""
    if isinstance(obj, types.FunctionType):
        return obj.__globals__.get("_getattr_") is guarded_getattr
    return bool(getattr(obj if isinstance(obj, type) else type(obj), "_rlm_user_class", False))


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
