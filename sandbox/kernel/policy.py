"""The policy layer: what model code may do in restricted mode (runs inside the kernel).

Model code is compiled with RestrictedPython and runs with the guards of the modules below:
attribute access that refuses private names and object-graph pivots, guarded builtins,
and an import allow-list whose modules are handed out as read-only proxies (so that
`json.codecs` or `random._os` lead nowhere). This is a *policy*, not the security
boundary: the OS layers applied by `sandbox/launcher.py` are (docs/isolation.md lists them).

This module compiles a cell (`compile_cell`, with RestrictedPython's transformer and the
additions models need, `ModelCodePolicy`) and exports the policy's public names. The guards:
`attribute_guard` (reads), `write_guard` (writes, the classes model code defines),
`safe_stdlib` (stand-ins for stdlib functions that would reach past the guards),
`allowed_modules` (the import allow-list and its module proxies), `restricted_builtins` (a
cell's builtins and hooks, `x[k] += 1` included).
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import IOPERATOR_TO_STR, RestrictingNodeTransformer

from sandbox.kernel.allowed_modules import ALLOWED_MODULES, ModuleProxy, guarded_import
from sandbox.kernel.attribute_guard import (
    DENIED_ATTRIBUTES,
    READABLE_DUNDERS,
    PolicyError,
    SafeFormatter,
    guard_value,
    guarded_getattr,
    guarded_hasattr,
)
from sandbox.kernel.protected import ProtectedNameError, rebound_names, refusal
from sandbox.kernel.restricted_builtins import build_builtins, restricted_globals
from sandbox.kernel.safe_stdlib import SafeUserString
from sandbox.kernel.write_guard import guarded_delattr, guarded_setattr, guarded_write, model_owned, user_metaclass

# the policy's public names (most of them defined in the modules above)
__all__ = [
    "ALLOWED_MODULES", "DENIED_ATTRIBUTES", "ModelCodePolicy", "ModuleProxy", "PolicyError", "READABLE_DUNDERS",
    "SafeFormatter", "SafeUserString", "build_builtins", "compile_cell", "guard_value", "guarded_delattr",
    "guarded_getattr", "guarded_hasattr", "guarded_import", "guarded_setattr", "guarded_write", "model_owned",
    "restricted_globals", "user_metaclass",
]


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
