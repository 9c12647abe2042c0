"""The question's own search terms that a cell's line filter left out, and the cell with them put in.

A question names what it asks about in terms the text spells exactly: a path (`/api/checkout`), a
code (`S-19`, `T-77762`), a quoted value ("lumen-api"), a date (`1 December 2024`). A small model
filters lines by some of them and leaves one out: it counts every 5xx response, not the checkout
ones; it prints the first five checkout outages, none of them the one on the asked date; then it
answers from what it printed. This module reads the terms from the sentence that asks (not from the
sentences that set a question up: "Find the agent of ticket T-77762." names the first step's key,
which the count of the second step must not be filtered by), finds the first loop of a cell that
tests its lines (`for line in lines: ... 'x' in line`, `[l for l in lines if re.search(p, l)]`),
and, where a term stands in lines that pass the loop's tests but not in all of them (tried on the
start of the context), writes the cell with the term added to that loop: `if 'term' not in line:
continue` first in a `for` body, one more `if 'term' in line` in a comprehension. The cell is
rebuilt from its syntax tree (its comments are lost); nothing of it is run on the host.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass

import regex

from rlm.pattern_probe import PROBE_SECONDS, Test, count_passing, tests_of

__all__ = ["TermMend", "asking_sentence", "changes_earlier_values", "left_out", "question_terms", "term_mend"]

MAX_TERMS = 8
QUESTION_CHARS = 4000  # the head of a question its terms are read from
MAX_TERM_CHARS = 80
_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
_DATE = regex.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)? (?:{_MONTHS})\.? \d{{4}}\b"
                      rf"|\b(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b")
_BOUND = regex.compile(r"\b(?:before|after|since|until|till|by|from|between|through|to|within|during|prior to)"
                       r"\W+(?:\w+\W+){0,2}$", regex.I)
_QUOTED = regex.compile(r'"([^"\n]{1,80})"|\u201c([^\u201d\n]{1,80})\u201d|(?<!\w)\'([^\'\n]{1,80})\'(?!\w)')
_TOKEN = regex.compile(r"[\w/\[\]@.:=#-]+")
_INNER = regex.compile(r"\w[/_@.:#-]\w|^/\w|^\[\w.*\]$|^#\w")  # a path, a code, a [tag], an e-mail, a #tag
_MIXED = regex.compile(r"(?=.*\d)(?=.*[^\W\d_])")  # letters and digits: S19, 5xx, v2
_CAPS = regex.compile(r"^[A-Z]{3,}$")  # ERROR, LATAM
_SENTENCE = regex.compile(r"[^.?!\n]+(?:[.?!]+|$)")
_ASKING = regex.compile(r"^\s*(?:how|what|which|who|whom|whose|when|where|why|is|are|was|were|do|does|did|in which|"
                        r"to which|on which|at which|for which|from which|count|list|give|name|find)\b", regex.I)
_NUMBER = regex.compile(r"^[\d.,:/-]+$")
# methods that change their value in place: a cell run again adds to what its first run left there
_IN_PLACE = {"append", "extend", "add", "update", "insert", "appendleft", "extendleft", "setdefault"}


@dataclass(frozen=True)
class TermMend:
    """A cell with one of the question's terms added to its first line filter."""

    term: str
    test: str  # the test added, as the cell spells it (`'/api/checkout' in line`)
    code: str  # the cell, rebuilt with the test
    before: int  # lines of the context's start that pass the loop's tests
    after: int  # ... and the term's


def asking_sentence(question: str) -> str:
    """The sentences of `question` that ask (end in `?` or start with a question word); all of it
    when none does."""
    sentences = [s.group() for s in _SENTENCE.finditer(question[:QUESTION_CHARS])]
    asking = [s for s in sentences if s.rstrip().endswith("?")] or [s for s in sentences if _ASKING.match(s)]
    return " ".join(asking) if asking else question[:QUESTION_CHARS]


def question_terms(question: str) -> list[str]:
    """The terms of the asking sentence a text would spell exactly: quoted values, dates, paths,
    codes, words in capitals (in the order they stand, at most MAX_TERMS)."""
    sentence = asking_sentence(question)
    found: list[str] = []
    for match in _QUOTED.finditer(sentence):
        found.append(next(g for g in match.groups() if g is not None).strip())
    dates = list(_DATE.finditer(sentence))
    # a date that bounds a range ("after 1 May 2024", "2024-03-01 to 2024-03-31") is no key to test
    if len(dates) == 1 and not _BOUND.search(sentence[max(0, dates[0].start() - 80):dates[0].start()]):
        found.append(dates[0].group())
    for match in _TOKEN.finditer(sentence):
        token = match.group().rstrip(".,:;=?!").lstrip("=")
        if not token or _NUMBER.match(token) or token.count("[") != token.count("]") \
                or any(token in d.group() for d in dates):
            continue
        if _INNER.search(token) or _MIXED.match(token) or _CAPS.match(token):
            found.append(token)
    terms = [t for t in dict.fromkeys(found) if 0 < len(t) <= MAX_TERM_CHARS and not t.isspace()]
    return terms[:MAX_TERMS]


def term_mend(code: str, question: str, lines: list[str], seconds: float = PROBE_SECONDS) -> TermMend | None:
    """`code` with the first of the question's terms it leaves out added to its first loop that
    tests its lines, where lines of `lines` (the context's start) pass that loop's tests with the
    term and others pass them without it; None otherwise, or when the tries take over `seconds`."""
    deadline = time.monotonic() + seconds
    if not lines:
        return None
    found = _left_out(code, question, deadline)
    if found is None:
        return None
    terms, tree, (node, variable, kept) = found
    if changes_earlier_values(tree):
        return None
    before = count_passing(kept, lines, deadline)
    if not before:
        return None
    for term in terms:
        added, expression = _term_test(term, variable)
        after = count_passing([*kept, added], lines, deadline)
        if after is None or not 0 < after < before:
            continue
        mended = _with_test(tree, node, expression)
        if mended is not None:
            return TermMend(term, ast.unparse(expression), mended, before, after)
    return None


def changes_earlier_values(tree: ast.AST) -> bool:
    """Does the cell change in place a value it does not make itself (`hits.append(line)`, `n += 1`,
    `counts[k] += 1`, where `hits`, `n` and `counts` are an earlier cell's)? Run a second time, it
    would add to what its first run left: 100 lines found, then 100 + 40 printed for the 40."""
    changed: set[str] = set()
    augmented: set[int] = set()
    for node in ast.walk(tree):
        target: ast.expr | None = None
        if isinstance(node, ast.AugAssign):
            target = node.target
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _IN_PLACE:
            target = node.func.value
        while isinstance(target, (ast.Subscript, ast.Attribute)):
            target = target.value
        if isinstance(target, ast.Name):
            changed.add(target.id)
            augmented.add(id(target))
    if not changed:
        return False
    made: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and id(node) not in augmented:
            made.add(node.id)
        elif isinstance(node, ast.arg):
            made.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            made.update((a.asname or a.name).partition(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            made.add(node.name)
    return not changed <= made


def _term_test(term: str, variable: str) -> tuple[Test, ast.expr]:
    """The test that `variable` holds `term` (where the term starts or ends with a digit, not as
    a part of a longer number: '1 December 2024' is no test for the 21st, nor 'S-19' for S-190),
    for the probe and as code."""
    line = ast.Name(variable, ast.Load())
    if not (term[0].isdigit() or term[-1].isdigit()):
        return Test("in", term, 0, "", f"{term!r} in {variable}", subject=variable), \
            ast.Compare(ast.Constant(term), [ast.In()], [line])
    pattern = ("(?<!\\d)" if term[0].isdigit() else "") + regex.escape(term, literal_spaces=True) \
        + ("(?!\\d)" if term[-1].isdigit() else "")
    call = ast.Call(ast.Attribute(ast.Name("re", ast.Load()), "search", ast.Load()), [ast.Constant(pattern), line], [])
    return Test("regex", pattern, 0, "", ast.unparse(call), subject=variable), call


def left_out(code: str, question: str) -> list[str]:
    """The terms of the question that `code`'s strings do not hold, where it has a loop that
    tests the lines it walks (empty otherwise)."""
    found = _left_out(code, question)
    return found[0] if found is not None else []


def _left_out(code: str, question: str, deadline: float | None = None,
              ) -> tuple[list[str], ast.Module, tuple[ast.AST, str, list[Test]]] | None:
    parsed = tests_of(code, deadline)
    if parsed is None:
        return None
    tree, tests = parsed
    # the code's strings, not its comments (a real model wrote the question's path in a comment only)
    written = "\n".join(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    terms = [t for t in question_terms(question) if t.lower() not in written.lower()]
    loop = _first_filter(tree, tests) if terms else None
    return (terms, tree, loop) if loop is not None else None


def _targets(target: ast.expr) -> set[str]:
    """The names a loop's target binds to what it walks (not `self` of `for self.x in lines`)."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Starred):
        return _targets(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return {name for element in target.elts for name in _targets(element)}
    return set()


def _binds_re(tree: ast.Module) -> bool:
    """Does the cell bind `re` to something other than the module (`re = ...`, `def re`, `import json as re`)?"""
    for node in ast.walk(tree):
        bound: list[str | None]
        if isinstance(node, ast.Import):  # `import re`, `import regex as re`: the module still
            bound = [a.asname or a.name.partition(".")[0] for a in node.names if a.name not in ("re", "regex")]
        elif isinstance(node, ast.ImportFrom):
            bound = [a.asname or a.name for a in node.names]
        elif isinstance(node, ast.Name):
            bound = [node.id] if not isinstance(node.ctx, ast.Load) else []
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound = list(node.names)
        elif isinstance(node, ast.arg):
            bound = [node.arg]
        elif isinstance(node, ast.MatchMapping):
            bound = [node.rest]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, ast.MatchAs,
                               ast.MatchStar)):
            bound = [node.name]
        else:
            continue
        if "re" in bound:
            return True
    return False


def _first_filter(tree: ast.Module, tests: dict[int, Test]) -> tuple[ast.AST, str, list[Test]] | None:
    """The first loop (a `for`, or a comprehension's `for`) that tests the lines it walks: the
    node, the name of the line, and its tests of that name."""
    loops: list[tuple[tuple[int, int], ast.AST, str, list[Test]]] = []
    walked = {name for node in ast.walk(tree) if isinstance(node, (ast.For, ast.comprehension))
              for name in _targets(node.target)}
    for node in ast.walk(tree):
        scope: list[ast.stmt] | list[ast.expr]
        if isinstance(node, ast.For):
            names, scope = _targets(node.target), node.body
        elif isinstance(node, ast.comprehension):
            names, scope = _targets(node.target), node.ifs
        else:
            continue
        if any(isinstance(n, ast.Name) and n.id in walked for n in ast.walk(node.iter)):
            continue  # the words of a line (`for w in line.split()`): the term was tried on whole lines
        found = [tests[id(n)] for part in scope for n in ast.walk(part) if id(n) in tests]
        for name in sorted(names):
            mine = [t for t in found if t.subject == name]
            if mine:
                where = (node.target.lineno, node.target.col_offset)
                loops.append((where, node, name, mine))
                break
    if not loops:
        return None
    _, node, name, mine = min(loops, key=lambda loop: loop[0])
    return node, name, mine


def _with_test(tree: ast.Module, node: ast.AST, test: ast.expr) -> str | None:
    """The cell rebuilt with `test` required by the loop `node` (the tree is changed in place)."""
    if isinstance(test, ast.Call) and _binds_re(tree):  # the model's own `re` would stand for the module
        return None
    if isinstance(node, ast.For):
        failing: ast.expr = ast.Compare(test.left, [ast.NotIn()], test.comparators) if isinstance(test, ast.Compare) \
            else ast.UnaryOp(ast.Not(), test)
        node.body.insert(0, ast.If(test=failing, body=[ast.Continue()], orelse=[]))
    elif isinstance(node, ast.comprehension):
        node.ifs.append(test)
    else:
        return None
    if isinstance(test, ast.Call):  # re.search: `re` imported first (again, where the cell imports it)
        # after the docstring and `from __future__` imports, which must come first
        at = int(bool(tree.body) and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant)
                 and isinstance(tree.body[0].value.value, str))
        while at < len(tree.body) and isinstance(tree.body[at], ast.ImportFrom) \
                and getattr(tree.body[at], "module", None) == "__future__":
            at += 1
        tree.body.insert(at, ast.Import([ast.alias("re")]))
    try:
        code = ast.unparse(ast.fix_missing_locations(tree))
        ast.parse(code)
    except (ValueError, RecursionError, SyntaxError, MemoryError):
        return None
    return code
