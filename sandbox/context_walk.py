"""Which files of a directory become a context, as ripgrep would choose them (`WalkOptions`,
`walk_directory`: hidden, ignored, binary, empty... left out, by reason), and the summary
line of what was left out (`describe_skipped`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.context_decoding import is_binary
from sandbox.context_paths import shown, skip_reason, special_kind, stat_problem
from sandbox.documents.pieces import (
    NOT_EXTRACTED,
    document_format,
)
from sandbox.errors import ContextError


@dataclass(frozen=True)
class WalkOptions:
    """Which files of a directory are read: hidden ones (names starting with '.') and those
    that a .gitignore or .ignore on the way excludes are left out unless asked for."""

    hidden: bool = False
    ignore_files: bool = True
    # files of a document format (PDF, office files, archives...: `sandbox.documents`) are kept
    # for extraction rather than left out as binary
    documents: bool = True


def walk_directory(root: Path, options: WalkOptions | None = None) -> tuple[list[Path], dict[str, list[str]]]:
    """The text files under `root` in a stable order, and what was left out by reason
    ("hidden", "ignored" by a .gitignore / .ignore, "binary", "empty", "unreadable"; paths
    relative to root), as ripgrep would choose them."""
    options = options or WalkOptions()
    files: list[Path] = []
    skipped: dict[str, list[str]] = {}
    specs: list[tuple[Path, Any]] = []  # (directory, its ignore rules), for the walk's ancestors

    def left_out(reason: str, p: Path) -> None:
        skipped.setdefault(reason, []).append(doc_label(p, root))

    def unlisted(exc: OSError) -> None:  # a directory the walk could not list
        if exc.filename is not None and Path(exc.filename) != root:
            left_out(skip_reason(exc), Path(exc.filename))
        elif exc.filename is not None:
            raise ContextError(stat_problem(root, exc))

    def ignored(p: Path, is_dir: bool) -> bool:
        for base, spec in specs:
            if base == p or base not in p.parents:
                continue
            rel = p.relative_to(base).as_posix() + ("/" if is_dir else "")
            if spec.match_file(rel):
                return True
        return False

    def excluded(p: Path, is_dir: bool) -> bool:
        """Hidden or ignored: left out (and said why)."""
        if p.name.startswith(".") and not options.hidden:
            left_out("hidden", p)
        elif options.ignore_files and ignored(p, is_dir):
            left_out("ignored", p)
        else:
            return False
        return True

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted):
        here = Path(dirpath)
        specs = [(b, sp) for b, sp in specs if b == here or b in here.parents]
        if options.ignore_files:
            rules = _ignore_rules(here)
            if rules is not None:
                specs.append((here, rules))
        dirnames[:] = [d for d in sorted(dirnames) if not excluded(here / d, True)]
        for fname in sorted(filenames):
            p = here / fname
            if excluded(p, False):
                continue
            reason = unusable(p, options.documents)
            if reason is None:
                files.append(p)
            else:
                left_out(reason, p)
    return files, skipped


def _ignore_rules(directory: Path) -> Any:
    """The rules of `directory`'s .gitignore and .ignore (git's syntax), or None."""
    lines: list[str] = []
    for name in (".gitignore", ".ignore"):
        try:
            lines += (directory / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    if not lines:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


SKIP_REASONS = ("ignored", "hidden", "binary", NOT_EXTRACTED, "empty", "unreadable", "special", "broken link",
                "link loop", "path too long")
EXAMPLE_PATH_CHARS = 80  # a file named as an example in a summary line, shortened past this


def describe_skipped(skipped: dict[str, list[str]], examples: int = 3) -> str:
    """One line: how many files were left out, by reason, with a few names each."""
    parts = []
    for reason in (*SKIP_REASONS, *sorted(set(skipped) - set(SKIP_REASONS))):
        names = skipped.get(reason) or []
        if names:
            listed = [shown(n, EXAMPLE_PATH_CHARS) for n in names[:examples]]
            more = ", ..." if len(names) > examples else ""
            parts.append(f"{len(names):,} {reason}" + (f" ({', '.join(listed)}{more})" if examples else ""))
    return ", ".join(parts)


def doc_label(p: Path, root: Path | None) -> str:
    """How a document is named to the model: relative to the directory given, escaped."""
    return shown(p.relative_to(root) if root is not None else p)


def unusable(p: Path, documents: bool = False) -> str | None:
    """Why a file is not read as text ("empty", "binary", "special", "unreadable", "broken
    link", "link loop", "path too long"), or None; with `documents`, a binary file of a
    document format is kept (to be extracted). A FIFO is never opened (that would wait)."""
    try:
        st = os.stat(p)
        if special_kind(st.st_mode) is not None:
            return "special"
        if st.st_size == 0:
            return "empty"
        return "binary" if is_binary(p) and not (documents and document_format(p) is not None) else None
    except OSError as exc:
        return skip_reason(exc)
