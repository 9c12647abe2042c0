"""Checking a context before a run spends anything, and turning CLI arguments into one."""

from __future__ import annotations

import glob
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlm.errors import ContextError
from sandbox.context import walk_directory


def check_context(context: Any) -> None:
    """Raise ContextError, with a message a user can act on, for a context that cannot work:
    None, empty text or collections, missing or empty files."""
    if context is None:
        raise ContextError("no context given")
    if isinstance(context, (str, bytes, bytearray)):
        if not context.strip():
            raise ContextError("the context is empty")
        return
    if isinstance(context, Path):
        _check_path(context)
        return
    if isinstance(context, (list, tuple)) and context and all(isinstance(p, Path) for p in context):
        for p in context:
            _check_path(p)
        return
    if isinstance(context, (list, tuple, dict)) and not context:
        raise ContextError(f"the context is an empty {type(context).__name__}")


def _check_path(path: Path) -> None:
    if not path.exists():
        raise ContextError(f"no such file or directory: {path}")
    if path.is_file() and path.stat().st_size == 0:
        raise ContextError(f"{path} is empty")


def expand_paths(args: Sequence[str], stdin: Any = None) -> Any:
    """CLI arguments -> a context: `-` reads standard input (as text); globs are expanded
    (`**` recurses); one path stays a Path (a file or a directory); several become a list."""
    if not args:
        raise ContextError("give at least one path (or - for standard input)")
    if list(args) == ["-"]:
        stream = stdin if stdin is not None else sys.stdin
        data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
        if isinstance(data, bytes):
            if b"\0" in data:
                raise ContextError("standard input looks binary (it contains NUL bytes)")
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ContextError(f"standard input is not valid UTF-8 (byte {exc.start}: {exc.reason})") from None
        return data
    if "-" in args:
        raise ContextError("- (standard input) cannot be combined with paths")
    paths: list[Path] = []
    for arg in args:
        if glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            matched = [Path(m) for m in matches if Path(m).is_file()]
            if not matched:
                raise ContextError(f"no files match {arg}")
            paths.extend(matched)
        else:
            p = Path(arg).expanduser()
            if not p.exists():
                raise ContextError(f"no such file or directory: {arg}")
            paths.append(p)
    unique = list(dict.fromkeys(paths))
    if len(unique) == 1:
        return unique[0]
    files: list[Path] = []
    for p in unique:  # several paths: directories contribute their text files
        files.extend(walk_directory(p)[0] if p.is_dir() else [p])
    if not files:
        raise ContextError("the directories given hold no readable text files")
    return list(dict.fromkeys(files))
