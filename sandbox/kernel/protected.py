"""Names a cell may not rebind: the context, its documents, the tools and the protocol's
functions. A cell that assigns to one of them at module level (`context = "sample data"`,
`def llm_query(...)`, `import json as context`, `global context` in a function, `del docs`) is
refused before it runs, so that nothing it computes rests on a stand-in for the real data. (The
runtime also puts any such name back after every cell, for routes this check cannot see, such
as `globals()["context"] = ...`.)"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator


class ProtectedNameError(Exception):
    """A cell binds a protected name (its message is `refusal(...)`)."""


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def rebound_names(tree: ast.AST, protected: Iterable[str]) -> list[str]:
    """The names of `protected` that the module-level code of `tree` binds or deletes, in order."""
    names = set(protected)
    found: list[str] = []
    for name in _bound(tree):
        if name in names and name not in found:
            found.append(name)
    return found


def _bound(node: ast.AST, top: bool = True) -> Iterator[str]:
    if isinstance(node, ast.Global):
        yield from node.names
        return
    if top:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            yield node.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, ast.alias):
            yield node.asname or node.name.split(".")[0]
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            yield node.name  # `except E as name`, `case name`, `case [*name]`
        elif isinstance(node, ast.MatchMapping) and node.rest:
            yield node.rest  # `case {**name}`
    inner = top and not isinstance(node, _SCOPES)
    for field, child in ast.iter_fields(node):
        if isinstance(node, ast.comprehension) and field == "target":
            continue  # a comprehension's loop variable is its own
        for item in child if isinstance(child, list) else [child]:
            if isinstance(item, ast.AST):
                yield from _bound(item, inner)


def refusal(names: list[str]) -> str:
    """The error a refused cell reports."""
    listed = ", ".join(f"`{n}`" for n in names)
    return (f"ProtectedName: this cell assigns to {listed}, which the kernel provides (the real "
            "context and its helpers); it was not run. Keep your own values under other names, "
            "e.g. `sample = ...`, and work on the real `context`.")
