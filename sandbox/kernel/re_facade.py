"""The `re` that model code imports (runs inside the kernel): the standard module, whose
functions and compiled patterns also take a Corpus as their subject.

A context above `max_str_bytes` is a memory-mapped Corpus, not a `str`, and the code models
write first is `re.search(r"...", context)`: here that works, with the results it would have
on a `str` of the same text (offsets in bytes, see `sandbox/kernel/corpus.py`). On any other
subject every function is the standard one. `re.sub`, `re.subn` and `re.split` over a Corpus
would build the whole text in memory and are refused with the chunked way to do it.

Both policies hand it out: the restricted import allow-list maps `re` here, and trusted
mode's `__import__` does the same for model code only (the kernel's own code keeps `re`).
"""

from __future__ import annotations

import builtins
import re as _re
import sys
import types
from collections.abc import Iterator
from typing import Any

from sandbox.kernel.corpus import Corpus, CorpusMatch, _chunked_hint


def _unwrap(pattern: Any) -> Any:
    return pattern._rlm_pattern if isinstance(pattern, Pattern) else pattern


def _refuse(what: str, corpus: Corpus) -> TypeError:
    return TypeError(_chunked_hint(what, len(corpus)) + " (re.sub/split each piece)")


class Pattern:
    """A compiled pattern (`re.compile`): the standard one, also taking a Corpus."""

    __slots__ = ("_rlm_pattern",)

    def __init__(self, compiled: _re.Pattern) -> None:
        self._rlm_pattern = compiled

    pattern = property(lambda self: self._rlm_pattern.pattern)
    flags = property(lambda self: self._rlm_pattern.flags)
    groups = property(lambda self: self._rlm_pattern.groups)
    groupindex = property(lambda self: self._rlm_pattern.groupindex)

    def search(self, string: Any, pos: int = 0, endpos: int = sys.maxsize) -> Any:
        if isinstance(string, Corpus):
            return string.search(self._rlm_pattern, pos, endpos)
        return self._rlm_pattern.search(string, pos, endpos)

    def match(self, string: Any, pos: int = 0, endpos: int = sys.maxsize) -> Any:
        if isinstance(string, Corpus):
            return string.match(self._rlm_pattern, pos, endpos)
        return self._rlm_pattern.match(string, pos, endpos)

    def fullmatch(self, string: Any, pos: int = 0, endpos: int = sys.maxsize) -> Any:
        if isinstance(string, Corpus):
            return string.fullmatch(self._rlm_pattern, pos, endpos)
        return self._rlm_pattern.fullmatch(string, pos, endpos)

    def findall(self, string: Any, pos: int = 0, endpos: int = sys.maxsize) -> list:
        if isinstance(string, Corpus):
            return string.findall(self._rlm_pattern, pos, endpos)
        return self._rlm_pattern.findall(string, pos, endpos)

    def finditer(self, string: Any, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[Any]:
        if isinstance(string, Corpus):
            return string.finditer(self._rlm_pattern, pos, endpos)
        return self._rlm_pattern.finditer(string, pos, endpos)

    def sub(self, repl: Any, string: Any, count: int = 0) -> Any:
        if isinstance(string, Corpus):
            raise _refuse("re.sub over a Corpus", string)
        return self._rlm_pattern.sub(repl, string, count)

    def subn(self, repl: Any, string: Any, count: int = 0) -> Any:
        if isinstance(string, Corpus):
            raise _refuse("re.subn over a Corpus", string)
        return self._rlm_pattern.subn(repl, string, count)

    def split(self, string: Any, maxsplit: int = 0) -> Any:
        if isinstance(string, Corpus):
            raise _refuse("re.split over a Corpus", string)
        return self._rlm_pattern.split(string, maxsplit)

    def __eq__(self, other: object) -> bool:
        return self._rlm_pattern == _unwrap(other)

    def __hash__(self) -> int:
        return hash(self._rlm_pattern)

    def __repr__(self) -> str:
        return repr(self._rlm_pattern)


def compile(pattern: Any, flags: int = 0) -> Pattern:  # noqa: A001 - the name re has
    return pattern if isinstance(pattern, Pattern) and not flags else Pattern(_re.compile(_unwrap(pattern), flags))


def search(pattern: Any, string: Any, flags: int = 0) -> Any:
    if isinstance(string, Corpus):
        return string.search(_unwrap(pattern), flags=flags)
    return _re.search(_unwrap(pattern), string, flags)


def match(pattern: Any, string: Any, flags: int = 0) -> Any:
    if isinstance(string, Corpus):
        return string.match(_unwrap(pattern), flags=flags)
    return _re.match(_unwrap(pattern), string, flags)


def fullmatch(pattern: Any, string: Any, flags: int = 0) -> Any:
    if isinstance(string, Corpus):
        return string.fullmatch(_unwrap(pattern), flags=flags)
    return _re.fullmatch(_unwrap(pattern), string, flags)


def findall(pattern: Any, string: Any, flags: int = 0) -> list:
    if isinstance(string, Corpus):
        return string.findall(_unwrap(pattern), flags=flags)
    return _re.findall(_unwrap(pattern), string, flags)


def finditer(pattern: Any, string: Any, flags: int = 0) -> Iterator[Any]:
    if isinstance(string, Corpus):
        return string.finditer(_unwrap(pattern), flags=flags)
    return _re.finditer(_unwrap(pattern), string, flags)


def sub(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
    if isinstance(string, Corpus):
        raise _refuse("re.sub over a Corpus", string)
    return _re.sub(_unwrap(pattern), repl, string, count=count, flags=flags)


def subn(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
    if isinstance(string, Corpus):
        raise _refuse("re.subn over a Corpus", string)
    return _re.subn(_unwrap(pattern), repl, string, count=count, flags=flags)


def split(pattern: Any, string: Any, maxsplit: int = 0, flags: int = 0) -> Any:
    if isinstance(string, Corpus):
        raise _refuse("re.split over a Corpus", string)
    return _re.split(_unwrap(pattern), string, maxsplit=maxsplit, flags=flags)


_OWN = {"Pattern": Pattern, "compile": compile, "search": search, "match": match, "fullmatch": fullmatch,
        "findall": findall, "finditer": finditer, "sub": sub, "subn": subn, "split": split}


def _build() -> types.ModuleType:
    module = types.ModuleType("re", _re.__doc__)
    for name in dir(_re):
        if not name.startswith("_") or name in ("__all__", "__version__"):
            setattr(module, name, getattr(_re, name))
    for name, value in _OWN.items():
        setattr(module, name, value)
    module.CorpusMatch = CorpusMatch  # type: ignore[attr-defined]
    return module


re_module = _build()
"""The module model code gets for `import re`."""


def model_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    """`__import__` for trusted-mode model code: `re` is `re_module`, the rest is the standard import."""
    if name == "re" and level == 0:
        return re_module
    return builtins.__import__(name, globals, locals, fromlist, level)
