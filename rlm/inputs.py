"""Input: a context classified and checked once where it arrives (`Context`), before a run
spends anything, and CLI arguments turned into one (`expand_paths`)."""

from __future__ import annotations

import glob
import json
import os
import select
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlm.errors import ContextError
from rlm.stdin_spool import STDIN_LABEL, is_spool, spool_stdin
from rlm.terminal_text import say
from sandbox.context import MESSAGE_PATH_CHARS, WalkOptions, check_path, shown, stat_problem, walk_directory
from sandbox.errors import ContextError as SandboxContextError

ContextKind = Literal["text", "bytes", "json", "path", "paths", "other"]


@dataclass(frozen=True)
class Context:
    """A context as the controller sees it, classified once, where it arrives.

    kind: "text" (str), "bytes", "json" (list or dict), "path" (a file or directory),
    "paths" (a list of paths), "other" (left for the sandbox to refuse with its message).
    """

    value: Any
    kind: ContextKind
    # what the model and messages call a "path" context in place of its file's name (standard
    # input, a FIFO: their text is in a spool file, `rlm.stdin_spool`)
    label: str | None = None

    @property
    def spooled(self) -> bool:
        """Whether the context is text this process kept in a spool file (`rlm.stdin_spool`)."""
        return self.kind == "path" and self.label is not None and is_spool(self.value)

    @classmethod
    def of(cls, value: Any) -> Context:
        """Classify `value`, raising ContextError, with a message a user can act on, for a
        context that cannot work: None, empty text or collections, missing or empty files."""
        if isinstance(value, Context):
            return value
        context = cls.maybe(value)
        if context is None:
            if value is None:
                raise ContextError("no context given")
            if isinstance(value, (str, bytes, bytearray)):
                raise ContextError("the context is empty")
            raise ContextError(f"the context is an empty {type(value).__name__}")
        paths = context.paths()
        empty = []
        for path in paths:
            try:
                st = check_path(path)
            except SandboxContextError as exc:
                raise ContextError(str(exc)) from None
            if stat.S_ISREG(st.st_mode) and st.st_size == 0:  # /proc files say 0 and have text
                try:
                    if not _has_text(path):
                        empty.append(path)
                except OSError as exc:  # /proc/self/mem: an I/O error, not an empty file
                    if context.kind == "path":
                        raise ContextError(f"cannot read {shown(path, MESSAGE_PATH_CHARS)}: "
                                           f"{exc.strerror or exc}") from None
        if context.kind == "path" and empty:
            raise ContextError(f"{shown(paths[0], MESSAGE_PATH_CHARS)} is empty")
        if context.kind == "paths" and len(empty) == len(paths):
            # among several files empty ones are left out; all of them empty leaves nothing
            raise ContextError(f"every file given is empty: {', '.join(shown(p, 80) for p in paths[:6])}")
        return context

    @classmethod
    def maybe(cls, value: Any) -> Context | None:
        """Like `of` without the checks, or None for no context (None, empty text or collections)."""
        if value is None:
            return None
        if isinstance(value, (str, bytes, bytearray)):
            return None if not value.strip() else cls(value, "text" if isinstance(value, str) else "bytes")
        if isinstance(value, Path):
            return cls(value, "path")
        if isinstance(value, (list, tuple, dict)):
            if not value:
                return None
            if isinstance(value, (list, tuple)) and all(isinstance(p, Path) for p in value):
                return cls(list(value), "paths")
            return cls(value, "json")
        return cls(value, "other")

    def paths(self) -> list[Path]:
        return [self.value] if self.kind == "path" else list(self.value) if self.kind == "paths" else []

    def describe(self) -> dict[str, Any]:
        """What the trajectory records of the input (never its content)."""
        if self.kind == "path":
            return {"kind": "path", "path": str(self.value), **({"label": self.label} if self.label else {})}
        if self.kind == "paths":
            return {"kind": "paths", "count": len(self.value), "first": str(self.value[0])}
        if self.kind in ("text", "bytes"):
            return {"kind": type(self.value).__name__, "chars": len(self.value)}
        if self.kind == "json":
            return {"kind": type(self.value).__name__, "items": len(self.value)}
        return {"kind": type(self.value).__name__}

    def as_text(self) -> str:
        """The context as one text (to append to a prompt when no sub-run can hold it)."""
        if self.kind == "path":
            return self.value.read_text(encoding="utf-8", errors="replace")
        if self.kind == "text":
            return self.value
        try:
            return json.dumps(self.value, ensure_ascii=False)
        except (TypeError, ValueError):
            return str(self.value)


def read_stdin(stream: Any, spool_dir: Path | None = None, label: str = STDIN_LABEL) -> Context:
    """Standard input (or another stream) as a context that is read as a file is (invalid UTF-8
    as U+FFFD with the same note, a byte-order mark decoded, NUL bytes refused as binary, a
    Corpus when large) and called `label` to the model, never by the file's name. The text is
    written to a file in `spool_dir` (the runs directory, so that a run over it can be resumed;
    None: the temporary directory) as it arrives: `rlm.stdin_spool` says when it is removed."""
    return Context(spool_stdin(stream, spool_dir), "path", label=label)


FIFO_WAIT_NOTICE_S = 1.0


def read_fifo(path: Path, spool_dir: Path | None = None) -> Context:
    """A FIFO given as the path, read as standard input is (`read_stdin`). Opening a FIFO
    waits for a writer: it is opened without waiting and then polled, so that Ctrl-C ends the
    wait at once; after FIFO_WAIT_NOTICE_S one line on stderr says what it waits for."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(int(FIFO_WAIT_NOTICE_S * 1000)):
            say(f"waiting for a program to write to {shown(path, MESSAGE_PATH_CHARS)} (Ctrl-C stops)",
                file=sys.stderr)
            sys.stderr.flush()
            while not poller.poll(1000):
                pass
        os.set_blocking(fd, True)
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with stream:
        return read_stdin(stream, spool_dir, label=shown(path, MESSAGE_PATH_CHARS))


def _has_text(path: Path) -> bool:
    """Whether a file that says its size is 0 has something to read; OSError where reading it
    fails (a file that would wait says no)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return bool(os.read(fd, 1))
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def expand_paths(args: Sequence[str], stdin: Any = None, walk: WalkOptions | None = None,
                 spool_dir: Path | None = None) -> Any:
    """CLI arguments -> a context: `-` reads standard input, a FIFO is read as it is (both kept
    in `spool_dir`: `read_stdin`); globs are expanded (`**` recurses); one path stays a Path (a
    file or a directory); several become a list."""
    if not args:
        raise ContextError("give at least one path (or - for standard input)")
    if list(args) == ["-"]:
        stream = stdin if stdin is not None else sys.stdin
        return read_stdin(stream.buffer if hasattr(stream, "buffer") else stream, spool_dir)
    if "-" in args:
        raise ContextError("- (standard input) cannot be combined with paths")
    paths: list[Path] = []
    for arg in args:
        # a file of that very name is that file ("report [draft].txt"), not a pattern that
        # matches another one ("report d.txt")
        if glob.has_magic(arg) and not os.path.lexists(os.path.expanduser(arg)):
            matches = sorted(glob.glob(arg, recursive=True))
            matched = [Path(m) for m in matches if Path(m).is_file()]
            if not matched:
                raise ContextError(f"no files match {arg}")
            paths.extend(matched)
        else:
            p = Path(arg).expanduser()
            try:
                st = os.stat(p)
            except OSError as exc:
                raise ContextError(stat_problem(p, exc)) from None
            if stat.S_ISFIFO(st.st_mode) and len(args) == 1:
                return read_fifo(p, spool_dir)  # a named pipe, or bash's <(command): read as standard input is
            paths.append(p)
    unique = list(dict.fromkeys(paths))
    if len(unique) == 1:
        return unique[0]
    files: list[Path] = []
    for p in unique:  # several paths: directories contribute their text files
        files.extend(walk_directory(p, walk)[0] if p.is_dir() else [p])
    if not files:
        raise ContextError("the directories given hold no readable text files")
    return list(dict.fromkeys(files))
