"""codeqa: LongBench-v2 CodeQA-shaped multiple-choice questions over a real code tree (the
running interpreter's standard library), with the truth computed from the AST: which module
defines a function, a parameter's default, how many classes subclass a class, which function
calls another. The context is a directory holding the selected source files; the gold evidence
is the def or class lines (or the calling function) that show the answer.

These are structural facts, so code tools (grep, ast) find them: the suite measures finding
facts in a tree larger than the window, not LongBench v2's questions of understanding."""

from __future__ import annotations

import ast
import collections
import random
import shutil
from pathlib import Path

from evals.generators.common import FIT_LOW, rng_for
from evals.tasks import EvalError, GoldSpan, Task, format_length
from evals.textsource import stdlib_dir, stdlib_files
from evals.tokens import Tokenizer, tokenizer

LETTERS = "ABCD"
KINDS = ("defines", "default", "subclasses", "calls")


_FILE_TOKENS: dict[tuple[str, Path], int] = {}


def _tokens_of(f: Path, tok: Tokenizer) -> int:
    key = (tok.name, f)
    if key not in _FILE_TOKENS:
        _FILE_TOKENS[key] = tok.count(f.read_text(encoding="utf-8", errors="replace"))
    return _FILE_TOKENS[key]


def _select(rng: random.Random, budget: int, tok: Tokenizer) -> tuple[list[Path], int]:
    """Files whose tokens add up to 97-100% of `budget` (never over it), and that sum."""
    files = list(stdlib_files())
    rng.shuffle(files)
    chosen: list[Path] = []
    size = 0
    for f in files:
        n = _tokens_of(f, tok)
        # many modest files rather than one giant one: questions need several modules
        if size + n > budget or n > budget / 4:
            continue
        chosen.append(f)
        size += n
        if size >= budget * FIT_LOW:
            break
    return sorted(chosen), size


def _facts(files: list[Path]) -> dict:
    root = stdlib_dir()
    defs: dict[str, list[str]] = collections.defaultdict(list)  # function name -> modules
    defaults: list[tuple[str, str, str, str]] = []  # module, func, param, default source
    bases: dict[str, list[str]] = collections.defaultdict(list)  # base name -> subclasses
    calls: dict[str, set[str]] = collections.defaultdict(set)  # callee -> "module.func" callers
    funcs: list[str] = []
    # where each fact is: "module:name" -> (first line, last line) of a function's or class's
    # header (its def or class line(s), up to its body), and of a function's whole body
    header: dict[str, tuple[int, int]] = {}
    whole: dict[str, tuple[int, int]] = {}
    for f in files:
        module = str(f.relative_to(root))
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                defs[node.name].append(module)
                funcs.append(f"{module}:{node.name}")
                header[f"{module}:{node.name}"] = _header(node)
                whole[f"{module}:{node.name}"] = (node.lineno, node.end_lineno or node.lineno)
                args = node.args.args[len(node.args.args) - len(node.args.defaults):]
                for a, d in zip(args, node.args.defaults, strict=False):
                    try:
                        src = ast.unparse(d)
                    except Exception:  # noqa: BLE001 - any node ast cannot unparse is skipped
                        continue
                    if len(src) <= 30:
                        defaults.append((module, node.name, a.arg, src))
                # a parameter called inside (`func(...)`) is not a function of these files
                params = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Call):
                        fn = sub.func
                        name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else None
                        if name and not name.startswith("_") and not (isinstance(fn, ast.Name) and name in params):
                            calls[name].add(f"{module}:{node.name}")
            if isinstance(node, ast.ClassDef):
                header[f"{module}:{node.name}"] = _header(node)
                for b in node.bases:
                    name = b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else None
                    if name:
                        bases[name].append(f"{module}:{node.name}")
    return {"defs": defs, "defaults": defaults, "bases": bases, "calls": calls, "funcs": funcs,
            "modules": sorted({str(f.relative_to(root)) for f in files}), "header": header, "whole": whole}


def _header(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> tuple[int, int]:
    """The lines of a def or class statement up to its body (its name, parameters or bases)."""
    body = node.body[0].lineno if node.body else node.lineno + 1
    return node.lineno, max(node.lineno, body - 1)


Place = tuple[str, int, int]  # a module, and the first and last line of a passage in it


def _place(where: dict[str, tuple[int, int]], key: str) -> Place:
    module = key.split(":", 1)[0]
    return (module, *where[key])


def _choices(rng: random.Random, right: str, wrong: list[str]) -> tuple[list[str], str]:
    options = [right, *rng.sample(sorted(set(wrong) - {right}), 3)]
    rng.shuffle(options)
    return options, LETTERS[options.index(right)]


def _question(rng: random.Random, facts: dict, kind: str) -> tuple[str, list[str], str, list[Place]] | None:
    """A question of `kind`, its options, the right letter and the passages that show it: the
    function's def (defines, default), each subclass's class line (subclasses), the calling
    function (calls)."""
    if kind == "defines":
        unique = sorted(n for n, mods in facts["defs"].items() if len(mods) == 1)
        if not unique or len(facts["modules"]) < 4:
            return None
        name = rng.choice(unique)
        opts, gold = _choices(rng, facts["defs"][name][0], facts["modules"])
        place = _place(facts["header"], f"{facts['defs'][name][0]}:{name}")
        return f"Which file defines the top-level function `{name}`?", opts, gold, [place]
    if kind == "default":
        if not facts["defaults"]:
            return None
        module, func, param, src = rng.choice(facts["defaults"])
        others = sorted({d[3] for d in facts["defaults"]} | {"None", "True", "False", "0", "''", "1", "-1"})
        opts, gold = _choices(rng, src, others)
        return (f"In `{module}`, what is the default value of parameter `{param}` of function `{func}`?", opts, gold,
                [_place(facts["header"], f"{module}:{func}")])
    if kind == "subclasses":
        # at least 3, so that the truth can take any rank among the four numbers offered (with
        # small counts and no negatives it was the second smallest 72% of the time)
        candidates = sorted(b for b, subs in facts["bases"].items() if 3 <= len(subs) <= 40 and b != "object")
        if not candidates:
            return None
        base = rng.choice(candidates)
        n = len(facts["bases"][base])
        rank = rng.randrange(4)
        opts, gold = _choices(rng, str(n), [str(n - rank + i) for i in range(4) if i != rank])
        return (f"How many classes defined at the top level of these files list `{base}` among their direct "
                "base classes?"), opts, gold, [_place(facts["header"], c) for c in facts["bases"][base]]
    candidates = sorted(c for c, who in facts["calls"].items() if 1 <= len(who) <= 5 and len(c) > 3)
    if not candidates or len(facts["funcs"]) < 4:
        return None
    callee = rng.choice(candidates)
    caller = rng.choice(sorted(facts["calls"][callee]))
    others = [f for f in facts["funcs"] if f not in facts["calls"][callee]]
    if len(others) < 3:
        return None
    opts, gold = _choices(rng, caller, others)
    return (f"Which of these top-level functions (file:function) calls `{callee}`?", opts, gold,
            [_place(facts["whole"], caller)])


def generate(variant: str, length: int, index: int, seed: int, out_dir: Path,
             tok: Tokenizer | None = None) -> Task:
    tok = tok or tokenizer()
    if variant not in ("mixed", *KINDS):
        raise EvalError(f"unknown codeqa variant {variant!r}; known: mixed, {', '.join(KINDS)}")
    rng = rng_for(f"codeqa/{variant}", seed, index, length)
    files, tokens = _select(rng, length, tok)
    facts = _facts(files)
    kinds = [variant] if variant != "mixed" else list(KINDS)
    rng.shuffle(kinds)
    made = None
    for kind in kinds * 3:
        made = _question(rng, facts, kind)
        if made:
            break
    if made is None:
        raise EvalError(f"codeqa: {length} tokens of source hold no {variant} question; ask for more")
    question, options, gold, places = made
    task_id = f"codeqa-{variant}-{format_length(length)}-s{seed}-{index:04d}"
    rel = Path("contexts") / task_id
    root = stdlib_dir()
    chars = 0
    for f in files:
        dest = out_dir / rel / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
        chars += len(f.read_text(encoding="utf-8", errors="replace"))
    evidence = [_span(out_dir / rel / module, module, first, last) for module, first, last in places]
    # LongBench v2's own question template (prompts/0shot.txt) and answer format
    text = (f"What is the correct answer to this question: {question}\nChoices:\n"
            + "\n".join(f"({LETTERS[i]}) {o}" for i, o in enumerate(options))
            + '\n\nFormat your response as follows: "The correct answer is (insert answer here)".')
    return Task(id=task_id, suite="codeqa", variant=variant, length=length, chars=chars, tokens=tokens,
                tokenizer=tok.name, question=text, gold=gold, context_path=str(rel), gold_evidence=evidence,
                meta={"kind": kind, "options": options, "files": len(files),
                      # the tree is finite: past a few million tokens every file is in and the task is smaller
                      "capped": tokens < length * FIT_LOW})


def _span(path: Path, module: str, first: int, last: int) -> GoldSpan:
    """Lines `first`-`last` of a copied file as a gold span (its bytes, without the white space
    at its end)."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    start = sum(len(x) + 1 for x in lines[: first - 1])
    end = start + len(b"\n".join(lines[first - 1: last]))
    while end > start + 1 and data[end - 1: end] in (b" ", b"\t", b"\r", b"\n"):  # a blank line before the body
        end -= 1
    return {"document": module, "start": start, "end": end, "text": data[start:end].decode("utf-8", "replace")}
