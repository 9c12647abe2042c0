"""Host-side preparation of contexts: turn a Python value or paths into a file the kernel opens.

The host never reads a file context into memory: a single file is handed to the kernel as
an open descriptor; several files are concatenated into one file with `copy_file_range`
(in the OS, not through Python) plus a small JSON index of where each document sits.
Values (str, bytes, list, dict) are written to a file once. Nothing travels in code strings.
"""

from __future__ import annotations

import codecs
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
    # what a directory or a list of files left out, by reason, and the files whose text was
    # not plain UTF-8 (how it was read: "invalid UTF-8 replaced", "UTF-16" ...), by path
    skipped: dict[str, list[str]] = field(default_factory=dict)
    decoded: dict[str, str] = field(default_factory=dict)

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


_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
         (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def _bom_encoding(head: bytes) -> str | None:
    """"UTF-16" / "UTF-32" when `head` starts with that byte-order mark."""
    return next((name for bom, name in _BOMS if head.startswith(bom)), None)


def _is_binary(path: Path) -> bool:
    """NUL bytes near the start, as ripgrep judges, unless a UTF-16/32 byte-order mark says
    the NULs are text."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    return b"\0" in head and _bom_encoding(head) is None


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


@dataclass(frozen=True)
class WalkOptions:
    """Which files of a directory are read: hidden ones (names starting with '.') and those
    that a .gitignore or .ignore on the way excludes are left out unless asked for."""

    hidden: bool = False
    ignore_files: bool = True


def prepare(value: Any, name: str, store: Path, max_str_bytes: int,
            walk: WalkOptions | None = None, label: str | None = None) -> ContextSpec:
    """Turn `value` into a ContextSpec whose data lives in a file the kernel can be handed.
    `label`: what a file is called to the model and in errors, in place of its path."""
    if not name.isidentifier() or name.startswith("_"):
        raise ContextError(f"context name {name!r} must be a public Python identifier")
    if isinstance(value, Path):
        return _prepare_path(value, name, store, max_str_bytes, walk or WalkOptions(), label)
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


def _prepare_path(path: Path, name: str, store: Path, max_str_bytes: int, walk: WalkOptions,
                  label: str | None = None) -> ContextSpec:
    if not path.exists():
        raise ContextError(f"no such file or directory: {path}")
    if path.is_dir():
        files, skipped = walk_directory(path, walk)
        if not files:
            raise ContextError(f"directory {path} holds no readable text files ({describe_skipped(skipped, 6)})"
                               if skipped else f"directory {path} holds no files")
        spec = _prepare_files(files, name, store, max_str_bytes, root=path)
        for reason, names in skipped.items():
            spec.skipped.setdefault(reason, []).extend(names)
        if skipped:
            spec.description += f"; left out: {describe_skipped(skipped, 0)}"
        return spec
    shown = label or str(path)
    if not os.access(path, os.R_OK):
        raise ContextError(f"cannot read {shown}: permission denied")
    if _is_binary(path):
        raise ContextError(f"{shown} looks like a binary file (it contains NUL bytes); give a text file")
    size = path.stat().st_size
    mode = _text_mode(size, max_str_bytes)
    kind = "str" if mode == "text" else CORPUS_KIND
    spec = ContextSpec(name, mode, path.resolve(), None, shown, size,
                       f"{kind} from {shown} ({_human(size)})", ascii_hint=_looks_ascii(path))
    if mode == "text":
        how = _check_text(path)
        if how == "UTF-8 with invalid bytes":
            spec.errors = "replace"
        elif how is not None:  # another encoding: the kernel reads a UTF-8 copy
            copy = store / f"{name}.txt"
            with open(copy, "wb") as out:
                _write_text(path, how, out)
            spec.data_path, spec.nbytes = copy, copy.stat().st_size
            if not spec.nbytes:
                raise ContextError(f"{shown} is empty (a byte-order mark and no text)")
        if how is not None:
            spec.decoded[shown] = how
            spec.description += f"; {_decoding_note(how)}"
    hint = _format_hint(path, mode == "text")
    if hint:
        spec.description += f"; {hint}"
    return spec


def _format_hint(path: Path, whole: bool) -> str | None:
    """How to read a file of a common data format, from its name and its first bytes (models
    otherwise split JSON on blank lines and count nothing)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson") or (suffix != ".json" and head[:1] == b"{" and b"}\n{" in head):
        return "JSON Lines: one JSON object per line, `[json.loads(l) for l in context.splitlines() if l.strip()]`"
    if (suffix == ".json" or head[:1] in (b"[", b"{")) and whole:
        return "JSON text: `json.loads(context)` gives the data"
    if suffix in (".csv", ".tsv"):
        tab = ", delimiter='\\t'" if suffix == ".tsv" else ""
        return f"CSV text: `list(csv.DictReader(context.splitlines(){tab}))` gives its rows as dicts"
    return None


def walk_directory(root: Path, options: WalkOptions | None = None) -> tuple[list[Path], dict[str, list[str]]]:
    """The text files under `root` in a stable order, and what was left out by reason
    ("hidden", "ignored" by a .gitignore / .ignore, "binary", "empty", "unreadable"; paths
    relative to root), as ripgrep would choose them."""
    options = options or WalkOptions()
    files: list[Path] = []
    skipped: dict[str, list[str]] = {}
    specs: list[tuple[Path, Any]] = []  # (directory, its ignore rules), for the walk's ancestors

    def left_out(reason: str, p: Path) -> None:
        skipped.setdefault(reason, []).append(str(p.relative_to(root)))

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

    for dirpath, dirnames, filenames in os.walk(root):
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
            reason = _unusable(p) if p.is_file() else "unreadable"
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


def describe_skipped(skipped: dict[str, list[str]], examples: int = 3) -> str:
    """One line: how many files were left out, by reason, with a few names each."""
    parts = []
    for reason in ("ignored", "hidden", "binary", "empty", "unreadable"):
        names = skipped.get(reason) or []
        if names:
            shown = f" ({', '.join(names[:examples])}{', ...' if len(names) > examples else ''})" if examples else ""
            parts.append(f"{len(names):,} {reason}{shown}")
    return ", ".join(parts)


def _check_text(path: Path) -> str | None:
    """How a file's text must be read: None for plain UTF-8, else "UTF-16" / "UTF-32" (it
    starts with that byte-order mark) or "UTF-8 with invalid bytes" (they become U+FFFD)."""
    with open(path, "rb") as f:
        bom = _bom_encoding(f.read(4))
        if bom is not None:
            return bom
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "UTF-8 with invalid bytes"
    return None


def _write_text(path: Path, how: str, out: Any) -> int:
    """Write `path`'s text to `out` as UTF-8, read as `how` says; returns the bytes written."""
    encoding, errors = ("utf-8", "replace") if how.startswith("UTF-8") else (how.lower(), "replace")
    written = 0
    with open(path, encoding=encoding, errors=errors, newline="") as f:
        while text := f.read(1 << 20):
            data = text.encode("utf-8", "surrogatepass")
            out.write(data)
            written += len(data)
    return written


def _decoding_note(how: str) -> str:
    return ("invalid UTF-8 bytes read as U+FFFD" if how == "UTF-8 with invalid bytes"
            else f"read as {how} (it starts with that byte-order mark)")


MAP_IN_PLACE_BYTES = 1 << 20  # in a large directory, files from this size are mapped where they are


def _prepare_files(files: Iterable[Path], name: str, store: Path, max_str_bytes: int,
                   root: Path | None = None) -> ContextSpec:
    files, skipped = _usable(list(files), root)
    if sum(p.stat().st_size for p in files) > max_str_bytes:
        return _prepare_mapped(files, skipped, name, store, root)
    data_path = store / f"{name}.concat.txt"
    index = []
    decoded: dict[str, str] = {}
    ascii_hint = True
    with open(data_path, "wb") as out:
        for p in files:
            label = str(p.relative_to(root)) if root is not None else str(p)
            header = f"==> {label} <==\n".encode("utf-8", "surrogateescape")
            out.write(header)
            out.flush()
            offset = out.tell()
            how = _check_text(p)
            if how is None:
                with open(p, "rb") as src:
                    copied = copy_range(src.fileno(), out.fileno(), p.stat().st_size)
                out.seek(0, os.SEEK_END)
            else:  # not plain UTF-8: its text, re-encoded (the kernel reads the whole as UTF-8)
                copied = _write_text(p, how, out)
                decoded[label] = how
            index.append({"path": label, "offset": offset, "length": copied})
            out.write(b"\n\n")
            ascii_hint = ascii_hint and how is None and _looks_ascii(p)
    index_path = store / f"{name}.index.json"
    index_path.write_text(json.dumps(index), encoding="utf-8")
    nbytes = data_path.stat().st_size
    mode = _text_mode(nbytes, max_str_bytes)
    kind = "str" if mode == "text" else CORPUS_KIND
    where = f"directory {root}" if root is not None else f"{len(index)} files"
    desc = f"{kind} concatenating {len(index)} documents from {where} ({_human(nbytes)}); see docs"
    if decoded:
        listed = "; ".join(f"{label}: {_decoding_note(how)}" for label, how in list(decoded.items())[:20])
        more = f"; and {len(decoded) - 20} more" if len(decoded) > 20 else ""
        desc += f"; {len(decoded)} not plain UTF-8 ({listed}{more})"
    if skipped:
        desc += f"; left out: {describe_skipped(skipped, 0)}"
    return ContextSpec(name, mode, data_path, index_path, where, nbytes, desc, ascii_hint=ascii_hint,
                       skipped=skipped, decoded=decoded)


def _unusable(p: Path) -> str | None:
    """Why a file is not read as text ("empty", "binary", "unreadable"), or None."""
    try:
        return "empty" if p.stat().st_size == 0 else "binary" if _is_binary(p) else None
    except OSError:
        return "unreadable"


def _usable(files: list[Path], root: Path | None) -> tuple[list[Path], dict[str, list[str]]]:
    """The files worth reading (empty and binary ones are left out, by reason); ContextError
    naming them when none is left, or for a file that does not exist."""
    kept: list[Path] = []
    skipped: dict[str, list[str]] = {}
    for p in files:
        if not p.is_file():
            raise ContextError(f"no such file: {p}")
        label = str(p.relative_to(root)) if root is not None else str(p)
        reason = _unusable(p)
        if reason is None:
            kept.append(p)
        else:
            skipped.setdefault(reason, []).append(label)
    if not kept:
        raise ContextError(f"no readable text among the files given ({describe_skipped(skipped, 6)})")
    return kept, skipped


def _prepare_mapped(files: list[Path], skipped: dict[str, list[str]], name: str, store: Path,
                    root: Path | None) -> ContextSpec:
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
            f"{len(mapped)} large files read where they are; invalid UTF-8 bytes read as U+FFFD); see docs")
    if skipped:
        desc += f"; left out: {describe_skipped(skipped, 0)}"
    return ContextSpec(name, "corpus", pack_path, index_path, where, joined, desc, mapped=mapped, skipped=skipped)
