"""Host-side preparation of contexts: turn a Python value or paths into a file the kernel opens.

The host never reads a file context into memory: a single file is handed to the kernel as
an open descriptor; several files are concatenated into one file with `copy_file_range`
(in the OS, not through Python) plus a small JSON index of where each document sits.
Values (str, bytes, list, dict) are written to a file once. Nothing travels in code strings.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import ContextError

SNIFF_BYTES = 8192
TEXT_MODES = ("text", "corpus")


@dataclass
class ContextSpec:
    """Everything needed to (re)load one context into a kernel."""

    name: str
    mode: str  # "text" | "corpus" | "bytes" | "json"
    data_path: Path
    index_path: Path | None
    label: str
    nbytes: int
    description: str
    docs_name: str = "docs"
    ascii_hint: bool = True
    errors: str = "strict"
    # files the kernel maps where they are (a large directory): the index then says how the
    # data file (small files and headers) and these files make up the text
    mapped: list[Path] = field(default_factory=list)

    def memory_estimate(self) -> int:
        """Bytes of kernel memory the loaded value needs (a generous upper estimate)."""
        if self.mode == "corpus":
            return 0
        if self.mode == "json":
            return self.nbytes * 10
        if self.mode == "bytes":
            return self.nbytes
        return self.nbytes * (1 if self.ascii_hint else 4)


def copy_range(src_fd: int, dst_fd: int, count: int, src_offset: int | None = None) -> int:
    """Copy up to `count` bytes from `src_fd` to `dst_fd` inside the OS (copy_file_range, or
    sendfile across file systems that refuse it), from
    `src_offset` if given (the source's own position is then left alone), else from its
    position. Returns the number of bytes copied (fewer at the end of the file)."""
    copied = 0
    in_kernel = True
    while copied < count:
        offset = None if src_offset is None else src_offset + copied
        if in_kernel:
            try:
                n = os.copy_file_range(src_fd, dst_fd, count - copied, offset)
            except OSError as exc:  # across file systems (a tmpfs work dir to disk): sendfile
                if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                in_kernel = False
                continue
        else:
            n = os.sendfile(dst_fd, src_fd, offset, min(count - copied, 1 << 30))
        if n == 0:
            break
        copied += n
    return copied


def _is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(SNIFF_BYTES)


def _looks_ascii(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(1 << 20).isascii()


# how the model is told about a context above max_str_bytes
CORPUS_KIND = ("Corpus (memory-mapped; use it like a str: re.search(p, context), re.findall, 'x' in context, "
               "context.find, context[a:b], context.splitlines(); offsets are bytes; "
               "context.help_text() lists the rest)")


def _text_mode(nbytes: int, max_str_bytes: int) -> str:
    return "corpus" if nbytes > max_str_bytes else "text"


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def prepare(value: Any, name: str, store: Path, max_str_bytes: int) -> ContextSpec:
    """Turn `value` into a ContextSpec whose data lives in a file the kernel can be handed."""
    if not name.isidentifier() or name.startswith("_"):
        raise ContextError(f"context name {name!r} must be a public Python identifier")
    if isinstance(value, Path):
        return _prepare_path(value, name, store, max_str_bytes)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Path) for v in value):
        return _prepare_files(list(value), name, store, max_str_bytes)
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        path = store / f"{name}.txt"
        path.write_bytes(data)
        mode = _text_mode(len(data), max_str_bytes)
        desc = f"str of {len(value):,} characters" if mode == "text" else (
            f"{CORPUS_KIND} of {_human(len(data))}")
        return ContextSpec(name, mode, path, None, "the context", len(data), desc,
                           ascii_hint=value.isascii())
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        path = store / f"{name}.bin"
        path.write_bytes(data)
        mode = "corpus" if len(data) > max_str_bytes else "bytes"
        return ContextSpec(name, mode, path, None, "the context", len(data),
                           f"bytes of length {len(data):,}")
    if isinstance(value, (list, tuple, dict)):
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ContextError(f"a {type(value).__name__} context must be JSON-serialisable: {exc}") from exc
        data = text.encode("utf-8", "surrogatepass")
        path = store / f"{name}.json"
        path.write_bytes(data)
        kind = "dict" if isinstance(value, dict) else "list"
        return ContextSpec(name, "json", path, None, "the context", len(data),
                           f"{kind} of {len(value):,} items ({_human(len(data))} as JSON)")
    raise ContextError(
        f"cannot load a {type(value).__name__} as a context; give a str, bytes, list, dict, "
        "pathlib.Path, a list of paths, or a directory path"
    )


def _prepare_path(path: Path, name: str, store: Path, max_str_bytes: int) -> ContextSpec:
    if not path.exists():
        raise ContextError(f"no such file or directory: {path}")
    if path.is_dir():
        files, skipped = walk_directory(path)
        if not files:
            raise ContextError(f"directory {path} holds no readable text files")
        spec = _prepare_files(files, name, store, max_str_bytes, root=path)
        if skipped:
            spec.description += f"; {skipped} binary or hidden files skipped"
        return spec
    if not os.access(path, os.R_OK):
        raise ContextError(f"cannot read {path}: permission denied")
    if _is_binary(path):
        raise ContextError(f"{path} looks like a binary file (it contains NUL bytes); give a text file")
    size = path.stat().st_size
    mode = _text_mode(size, max_str_bytes)
    kind = "str" if mode == "text" else CORPUS_KIND
    return ContextSpec(name, mode, path.resolve(), None, str(path), size,
                       f"{kind} from {path} ({_human(size)})", ascii_hint=_looks_ascii(path))


def walk_directory(root: Path) -> tuple[list[Path], int]:
    """Text files under root in a stable order, skipping hidden entries and binary files."""
    files: list[Path] = []
    skipped = 0
    for dirpath, dirnames, filenames in os.walk(root):
        kept = sorted(d for d in dirnames if not d.startswith("."))
        skipped += len(dirnames) - len(kept)
        dirnames[:] = kept
        for fname in sorted(filenames):
            p = Path(dirpath) / fname
            if fname.startswith(".") or not p.is_file() or _is_binary(p):
                skipped += 1
                continue
            files.append(p)
    return files, skipped


MAP_IN_PLACE_BYTES = 1 << 20  # in a large directory, files from this size are mapped where they are


def _prepare_files(files: Iterable[Path], name: str, store: Path, max_str_bytes: int,
                   root: Path | None = None) -> ContextSpec:
    files = list(files)
    total = 0
    for p in files:
        try:
            total += p.stat().st_size
        except OSError:
            continue  # reported below, in order
    if total > max_str_bytes:
        return _prepare_mapped(files, name, store, root)
    data_path = store / f"{name}.concat.txt"
    index = []
    ascii_hint = True
    with open(data_path, "wb") as out:
        for p in files:
            if not p.is_file():
                raise ContextError(f"no such file: {p}")
            if _is_binary(p):
                raise ContextError(f"{p} looks like a binary file (it contains NUL bytes)")
            label = str(p.relative_to(root)) if root is not None else str(p)
            header = f"==> {label} <==\n".encode("utf-8", "surrogateescape")
            out.write(header)
            out.flush()
            offset = out.tell()
            size = p.stat().st_size
            with open(p, "rb") as src:
                copied = copy_range(src.fileno(), out.fileno(), size)
            out.seek(0, os.SEEK_END)
            index.append({"path": label, "offset": offset, "length": copied})
            out.write(b"\n\n")
            ascii_hint = ascii_hint and _looks_ascii(p)
    index_path = store / f"{name}.index.json"
    index_path.write_text(json.dumps(index), encoding="utf-8")
    nbytes = data_path.stat().st_size
    mode = _text_mode(nbytes, max_str_bytes)
    kind = "str" if mode == "text" else CORPUS_KIND
    where = f"directory {root}" if root is not None else f"{len(index)} files"
    desc = f"{kind} concatenating {len(index)} documents from {where} ({_human(nbytes)}); see docs"
    return ContextSpec(name, mode, data_path, index_path, where, nbytes, desc, ascii_hint=ascii_hint)


def _prepare_mapped(files: list[Path], name: str, store: Path, root: Path | None) -> ContextSpec:
    """A directory too large for a str: a Corpus over its files where they are. Files of
    MAP_IN_PLACE_BYTES or more are mapped by the kernel in place (never copied); headers and
    smaller files go to one pack file. The index lists the documents (offsets in the joined
    text) and the segments that make it up: [source, offset, length], source 0 the pack and
    i > 0 the i-th mapped file."""
    pack_path = store / f"{name}.pack.txt"
    docs: list[dict[str, Any]] = []
    segments: list[list[int]] = []
    mapped: list[Path] = []
    joined = 0

    with open(pack_path, "wb") as pack:
        def packed(n: int) -> None:  # the last n bytes written to the pack join the text
            nonlocal joined
            end = pack.tell()
            if segments and segments[-1][0] == 0 and segments[-1][1] + segments[-1][2] == end - n:
                segments[-1][2] += n
            else:
                segments.append([0, end - n, n])
            joined += n

        for p in files:
            if not p.is_file():
                raise ContextError(f"no such file: {p}")
            if _is_binary(p):
                raise ContextError(f"{p} looks like a binary file (it contains NUL bytes)")
            label = str(p.relative_to(root)) if root is not None else str(p)
            header = f"==> {label} <==\n".encode("utf-8", "surrogateescape")
            pack.write(header)
            packed(len(header))
            size = p.stat().st_size
            start = joined
            if size >= MAP_IN_PLACE_BYTES:
                mapped.append(p.resolve())
                segments.append([len(mapped), 0, size])
                joined += size
            elif size:
                pack.flush()
                with open(p, "rb") as src:
                    copied = copy_range(src.fileno(), pack.fileno(), size)
                pack.seek(0, os.SEEK_END)
                packed(copied)
                size = copied
            docs.append({"path": label, "offset": start, "length": size})
            pack.write(b"\n\n")
            packed(2)
    index_path = store / f"{name}.index.json"
    index_path.write_text(json.dumps({"docs": docs, "segments": segments}), encoding="utf-8")
    where = f"directory {root}" if root is not None else f"{len(docs)} files"
    desc = (f"{CORPUS_KIND} concatenating {len(docs)} documents from {where} ({_human(joined)}; "
            f"{len(mapped)} large files read where they are); see docs")
    return ContextSpec(name, "corpus", pack_path, index_path, where, joined, desc, mapped=mapped)
