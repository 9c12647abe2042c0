"""Code that shows what a count counted, written from the model's own counting code.

A count is only as good as the test behind it, and a model that prints only the number never sees
that test at work (a real one counted `5\\d{3}`, four digits, for a 5xx status). Asked to "print a
few of the lines you counted", a small model reran the same cell; handed code that does it, it can
run that. `show_counted(code)` rewrites the counting cell so that what it counted is collected
and printed: in a `for` loop, each `n += 1` becomes `hits.append(<the loop's item>)`; a
`len([...])` or `sum(1 for ...)` becomes the list itself; a filtered list the cell kept and took
the `len` of is printed. Anything else gives None.
"""

from __future__ import annotations

import ast

__all__ = ["show_counted"]

MAX_CODE_CHARS = 4000  # a counting cell longer than this is not rewritten
SHOW = "hits"  # the name the rewritten code collects into
_PRINT = f"print(len({SHOW}))\nprint({SHOW}[:5])\n"


def show_counted(code: str) -> str | None:
    """Code that prints how many items `code`'s count counted and the first five, or None when
    `code` has no count this module can rewrite."""
    if len(code) > MAX_CODE_CHARS:
        return None
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    try:
        shown = _from_loop(tree) or _from_comprehension(tree) or _from_list(tree)
    except (ValueError, TypeError, RecursionError, AttributeError):  # ast.unparse of an odd tree
        return None
    # it is shown inside a ``` block: a string holding a fence would close it early
    return None if shown is None or "```" in shown or "~~~" in shown else shown


def _is_increment(node: ast.AST) -> bool:
    return (isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name)
            and isinstance(node.value, ast.Constant) and node.value.value == 1)


class _Collect(ast.NodeTransformer):
    """`n += 1` under an `if` -> `hits.append(item)`, for the counters `n` (set to 0 before the
    loop); a `while` loop or a function inside is left as it is (its `i += 1` moves a position,
    and collecting there would loop forever)."""

    def __init__(self, item: ast.expr, counters: set[str]) -> None:
        self.item = item
        self.counters = counters
        self.done = 0
        self.tests = 0  # how many `if`s the visit is inside: a count made under none counts every item

    def visit_If(self, node: ast.If) -> ast.AST:
        self.tests += 1
        try:
            return self.generic_visit(node)
        finally:
            self.tests -= 1

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        if not _is_increment(node) or not isinstance(node.target, ast.Name) or node.target.id not in self.counters \
                or not self.tests:
            return node
        self.done += 1
        call = ast.Call(func=ast.Attribute(value=ast.Name(SHOW, ast.Load()), attr="append", ctx=ast.Load()),
                        args=[self.item], keywords=[])
        return ast.copy_location(ast.Expr(call), node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node

    def visit_While(self, node: ast.While) -> ast.AST:
        return node


def _from_loop(tree: ast.Module) -> str | None:
    """The last top-level `for` loop that counts with `+= 1` a name set to 0 before it,
    collecting its item instead."""
    for index in range(len(tree.body) - 1, -1, -1):
        node = tree.body[index]
        if not isinstance(node, ast.For):
            continue
        counters = {target.id for before in tree.body[:index] if isinstance(before, ast.Assign)
                    and isinstance(before.value, ast.Constant) and before.value.value == 0
                    for target in before.targets if isinstance(target, ast.Name)}
        item = ast.parse(ast.unparse(node.target), mode="eval").body  # the loop's item, as a value
        collect = _Collect(item, counters)
        loop = collect.visit(ast.parse(ast.unparse(node)).body[0])
        if collect.done:
            return f"{SHOW} = []\n{ast.unparse(ast.fix_missing_locations(loop))}\n{_PRINT}"
    return None


def _from_comprehension(tree: ast.Module) -> str | None:
    """`len([x for x in xs if t])` or `sum(1 for x in xs if t)`: the list of the x it counted."""
    found: ast.ListComp | ast.GeneratorExp | None = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or len(node.args) != 1:
            continue
        arg = node.args[0]
        if not isinstance(arg, ast.ListComp | ast.GeneratorExp):
            continue
        if node.func.id == "len" or node.func.id == "sum" and isinstance(arg, ast.GeneratorExp) \
                and isinstance(arg.elt, ast.Constant):
            found = arg
    if found is None or not found.generators:
        return None
    first = found.generators[0]
    if not any(g.ifs for g in found.generators):
        return None  # counting everything: nothing of a test to see
    item = ast.parse(ast.unparse(first.target), mode="eval").body
    shown = ast.ListComp(elt=item if isinstance(found.elt, ast.Constant) else found.elt, generators=found.generators)
    return f"{SHOW} = {ast.unparse(ast.fix_missing_locations(shown))}\n{_PRINT}"


def _from_list(tree: ast.Module) -> str | None:
    """`xs = [... if t]` then `len(xs)`: the list is in the kernel already; print some of it."""
    filtered = {target.id for node in tree.body if isinstance(node, ast.Assign)
                and isinstance(node.value, ast.ListComp) and any(g.ifs for g in node.value.generators)
                for target in node.targets if isinstance(target, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len" \
                and len(node.args) == 1 and isinstance(node.args[0], ast.Name) and node.args[0].id in filtered:
            name = node.args[0].id
            return f"print(len({name}))\nprint({name}[:5])\n"
    return None
