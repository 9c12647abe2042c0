"""Model code's values and exceptions made text for the host (runs inside the kernel):
`as_text` (str() under a time limit, cut at FINAL_MAX_CHARS; `TextError` when it fails),
`exception_line` (`Type: message` without running model code), and `shorten` (an exception's
long arguments cut before its message is made).
"""

from __future__ import annotations

import reprlib
from typing import Any

from sandbox.kernel.caps import cap_final
from sandbox.kernel.signal_guards import _TimeUp, time_limit

# longest the kernel spends making one of model code's values into text for the host outside
# a cell (`str()` of an object whose __str__ never ends, or of a list of millions of items)
TEXT_SECONDS = 10.0


class TextError(ValueError):
    """A value model code left could not be made into text (its str() failed or took too long)."""

    __module__ = "sandbox.kernel.runtime"  # its home before the split, the name model code and the host see


def as_text(value: Any, what: str, seconds: float = TEXT_SECONDS) -> str:
    """`value` as text for the host (str() of a non-string), cut at FINAL_MAX_CHARS. `str()`
    runs model code (a class's __str__, a str subclass's), so it runs under a timer; any
    failure, however it is spelled, becomes a TextError that names `what`."""
    if type(value) is str:
        return cap_final(value)
    try:
        with time_limit(seconds):  # str.__str__: the exact str of a str subclass (or of what a __str__ returned)
            return cap_final(str.__str__(value if isinstance(value, str) else str(value)))
    except _TimeUp:
        raise TextError(f"{what} could not be made text: str() ran past {seconds:g} s") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # model code may raise anything; its message is its own text
        raise TextError(f"{what} could not be made text: {exception_line(exc)}") from None


def _arg_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdict = 20
    r.maxlevel = 3
    r.maxstring = r.maxother = 200
    return r


_ARG_REPR = _arg_repr()  # an exception's container argument, as its message shows it


class _Shown(str):
    """Text that stands for an exception's argument: printed as it is, by str() and repr()."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


def shorten(exc: BaseException, limit: int) -> None:
    """Shorten the arguments of an exception a cell raised where its message shows them (a
    long text, a container, in the builtin exceptions' str()), and drop the exceptions chained
    to it (not shown, but formatting one would make its message too)."""
    exc.__cause__ = exc.__context__ = None
    args = _ARGS.__get__(exc)  # the exception's own, not a class attribute `args` model code set
    if type(exc).__str__ not in (BaseException.__str__, KeyError.__str__):
        return
    shown = []
    for arg in args:
        if type(arg) is str and len(arg) > limit:
            arg = arg[:limit]
        elif isinstance(arg, (list, tuple, dict, set, frozenset)):  # shown as their repr anyway
            arg = _Shown(_ARG_REPR.repr(arg)[:limit])
        shown.append(arg)
    _ARGS.__set__(exc, tuple(shown))


_ARGS = BaseException.__dict__["args"]


def exception_line(exc: BaseException) -> str:
    """`Type: message` of an exception model code raised, the message only where it is
    plain text already (a str() of it could run model code again)."""
    name = type.__dict__["__name__"].__get__(type(exc))
    args = _ARGS.__get__(exc)
    if type(exc).__str__ is BaseException.__str__ and len(args) == 1 and type(args[0]) is str:
        return f"{name}: {args[0][:500]}"
    return name
