"""Real text that ships on every machine: the Python standard library's docstrings and
language reference (prose for haystacks) and its source files (a code tree for codeqa)."""

from __future__ import annotations

import ast
import functools
import sysconfig
from pathlib import Path

_SKIP_DIRS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "__pycache__",
              "turtledemo", "ensurepip", "pydoc_data", "config-3.11-x86_64-linux-gnu"}


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@functools.lru_cache(maxsize=1)
def stdlib_files() -> tuple[Path, ...]:
    """The standard library's .py files in a stable order, tests and tools left out."""
    root = stdlib_dir()
    files = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        if any(part in _SKIP_DIRS or part.startswith(("test", ".")) for part in rel.parts[:-1]):
            continue
        if rel.name.startswith("test"):
            continue
        files.append(p)
    return tuple(files)


def _docs() -> list[str]:
    """Docstrings of the standard library, then the language reference's topics (pydoc_data)."""
    docs: list[str] = []
    for path in stdlib_files():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    docs.append(doc)
    try:
        from pydoc_data import topics
    except ImportError:  # some distributions leave pydoc_data out
        return docs
    docs.extend(topics.topics[name] for name in sorted(topics.topics))
    return docs


@functools.lru_cache(maxsize=1)
def essay_text() -> str:
    """Prose paragraphs (one a line) from the standard library's docstrings and the language
    reference shipped with it (about 200K o200k tokens on Python 3.11), in a stable order."""
    paragraphs: list[str] = []
    seen: set[str] = set()
    for doc in _docs():
        for para in doc.split("\n\n"):
            text = " ".join(para.split())
            # prose only: sentences, not signatures, tables or doctests
            if len(text) < 80 or ">>>" in text or text.count("(") > 4 or not text[0].isupper():
                continue
            if not text.endswith("."):
                continue
            if text not in seen:
                seen.add(text)
                paragraphs.append(text)
    return "\n".join(paragraphs)
