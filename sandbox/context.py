"""Host-side preparation of contexts: turn a Python value or paths into a file the kernel opens.

The host never reads a file context into memory: a single file is handed to the kernel as
an open descriptor; several files are concatenated into one file with `copy_file_range`
(in the OS, not through Python) plus a small JSON index of where each document sits.
Values (str, bytes, list, dict) are written to a file once. Nothing travels in code strings.
"""

from __future__ import annotations

import codecs
import dataclasses
import errno
import io
import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sandbox.documents.formats import FORMAT_NAMES
from sandbox.documents.pieces import (
    NOT_EXTRACTED,
    Piece,
    describe_extraction,
    document_format,
    pictures_of,
    pieces_of,
)
from sandbox.documents.pool import ExtractOptions
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
    # the bytes the text takes as a Python str in the kernel (characters x the widest one's
    # width: 1, 2 or 4), where it was measured; None: not measured (estimated at 4 a byte)
    str_bytes: int | None = None
    errors: str = "strict"
    # files the kernel maps where they are (a large directory): the index then says how the
    # data file (small files and headers) and these files make up the text
    mapped: list[Path] = field(default_factory=list)
    # what a directory or a list of files left out, by reason, and the files whose text was
    # not plain UTF-8 (how it was read: "invalid UTF-8 replaced", "UTF-16" ...), by path
    skipped: dict[str, list[str]] = field(default_factory=dict)
    decoded: dict[str, str] = field(default_factory=dict)
    # what was extracted from documents (`sandbox.documents.pieces.pieces_of`'s summary)
    extraction: dict[str, Any] = field(default_factory=dict)
    # documents that can be shown to a vision model: name -> [file, format] (`pictures_of`)
    pictures: dict[str, list[str]] = field(default_factory=dict)

    def memory_estimate(self) -> int:
        """Bytes of kernel memory the loaded value needs (a generous upper estimate)."""
        if self.mode == "corpus":
            return 0
        if self.mode == "json":
            return self.nbytes * 10
        if self.mode == "bytes":
            return self.nbytes
        return self.nbytes * 4 if self.str_bytes is None else self.str_bytes


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
    with open_regular(path) as f:
        head = f.read(SNIFF_BYTES)
    return b"\0" in head and _bom_encoding(head) is None


@dataclass
class TextSize:
    """What a text measures once decoded: its characters and the width (1, 2 or 4 bytes) of
    its widest one, which CPython's str gives every character."""

    chars: int = 0
    width: int = 1

    def add(self, text: str) -> None:
        self.chars += len(text)
        if self.width < 4 and not text.isascii():
            widest = ord(max(text))
            self.width = max(self.width, 1 if widest < 0x100 else 2 if widest < 0x10000 else 4)

    @property
    def str_bytes(self) -> int:
        return self.chars * self.width


# how the model is told about a context above max_str_bytes
CORPUS_KIND = ("Corpus (memory-mapped; use it like a str: re.search(p, context), re.findall, 'x' in context, "
               "context.find, context[a:b], context.splitlines(); offsets are bytes; "
               "context.help_text() lists the rest)")


def _text_mode(str_bytes: int, max_str_bytes: int) -> str:
    """A str when the decoded text fits max_str_bytes (one emoji makes every character of a
    str 4 bytes wide), else a Corpus."""
    return "corpus" if str_bytes > max_str_bytes else "text"


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
    # files of a document format (PDF, office files, archives...: `sandbox.documents`) are kept
    # for extraction rather than left out as binary
    documents: bool = True


def prepare(value: Any, name: str, store: Path, max_str_bytes: int,
            walk: WalkOptions | None = None, label: str | None = None,
            extract: ExtractOptions | None = None) -> ContextSpec:
    """Turn `value` into a ContextSpec whose data lives in a file the kernel can be handed.
    `label`: what a file is called to the model and in errors, in place of its path.
    `extract`: how files of a document format are read as text (None: they are not; a binary
    one is then left out, an HTML page or a message read as it is)."""
    if not name.isidentifier() or name.startswith("_"):
        raise ContextError(f"context name {name!r} must be a public Python identifier")
    if isinstance(value, Path):
        return _prepare_path(value, name, store, max_str_bytes, walk or WalkOptions(), label, extract)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Path) for v in value):
        return _prepare_files(list(value), name, store, max_str_bytes, extract=extract)
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        path = store / f"{name}.txt"
        path.write_bytes(data)
        size = TextSize()
        size.add(value)
        mode = _text_mode(size.str_bytes, max_str_bytes)
        desc = f"str of {len(value):,} characters" if mode == "text" else (
            f"{CORPUS_KIND} of {_human(len(data))}")
        return ContextSpec(name, mode, path, None, "the context", len(data), desc, str_bytes=size.str_bytes)
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


_LINE_BREAKERS = re.compile(r"[\x00-\x1f\x7f]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(path: Path | str, limit: int | None = None) -> str:
    """A path as one line of text that is always valid UTF-8 (bytes of a name that are not
    UTF-8 as \\xNN escapes, control characters, newlines included, as \\n or \\xNN: a name
    must not begin a line of its own in a message or a listing), shortened in the middle to
    `limit` characters when given."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    text = _LINE_BREAKERS.sub(lambda m: _NAMED_ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), text)
    if limit is not None and len(text) > limit:
        keep = max(limit - 5, 2) // 2
        text = f"{text[:keep]} ... {text[-keep:]}"
    return text


MESSAGE_PATH_CHARS = 200  # a path in an error message or a summary line, shortened past this


_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                  (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def special_kind(mode: int) -> str | None:
    """What a file that is neither a regular file nor a directory is ("a FIFO (named pipe)",
    "a socket", ...), or None for those two."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), "not a regular file")


def check_path(path: Path) -> os.stat_result:
    """The status of a path given as (part of) a context: a regular file or a directory, else
    a ContextError that says what it is (a symlink loop, a link to nothing, a path too long,
    a FIFO, a socket, a device) without opening it (opening a FIFO waits for a writer)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ContextError(stat_problem(path, exc)) from None
    kind = special_kind(st.st_mode)
    if kind is not None:
        also = ", or the text it gives (in Python, read it and pass the str)" if kind.startswith("a FIFO") else ""
        raise ContextError(f"{shown(path, MESSAGE_PATH_CHARS)} is {kind}, not a file or a directory; give a "
                           f"regular file{also}")
    return st



def open_regular(path: Path | str) -> BinaryIO:
    """`path` opened for reading, if it is still a regular file: opened without waiting (a
    FIFO swapped in after it was looked at would wait for a writer) and checked on the open
    descriptor, so what was checked is what is read. ContextError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        kind = special_kind(os.fstat(fd).st_mode)
        if kind is not None or stat.S_ISDIR(os.fstat(fd).st_mode):
            raise ContextError(f"{shown(path, MESSAGE_PATH_CHARS)} changed while it was read: it is now "
                               f"{kind or 'a directory'}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise

def stat_problem(path: Path | str, exc: OSError) -> str:
    """One line on why `path` cannot be looked at."""
    short = shown(path, MESSAGE_PATH_CHARS)
    if exc.errno == errno.ELOOP:
        return f"{short} is a loop of symbolic links"
    if exc.errno == errno.ENAMETOOLONG:
        return (f"the path is too long for this system ({len(os.fsencode(path)):,} bytes; the limit is "
                f"{os.pathconf('/', 'PC_PATH_MAX'):,}): {short}")
    if exc.errno == errno.ENOENT:
        return (f"{short} is a symbolic link to a missing file" if os.path.islink(path)
                else f"no such file or directory: {short}")
    if exc.errno == errno.EACCES:
        return f"cannot read {short}: permission denied"
    return f"cannot read {short}: {exc.strerror or exc}"


def _skip_reason(exc: OSError) -> str:
    """The reason a walk gives for a file or directory it could not look at."""
    return {errno.ENAMETOOLONG: "path too long", errno.ENOENT: "broken link",
            errno.ELOOP: "link loop"}.get(exc.errno or 0, "unreadable")


SNAPSHOT_BYTES = 64 << 20  # a file that says its size is 0 (/proc, /sys) is read up to this


def _snapshot(path: Path, copy: Path) -> Path | None:
    """A file that reports size 0 may still have text (/proc/cpuinfo): its text now, copied
    (up to SNAPSHOT_BYTES), or None when it has none."""
    with open(copy, "wb") as out:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)  # a file that waits (/proc/kmsg) ends
        try:
            while out.tell() < SNAPSHOT_BYTES:
                try:
                    chunk = os.read(fd, min(1 << 20, SNAPSHOT_BYTES - out.tell()))
                except BlockingIOError:
                    break
                if not chunk:
                    break
                out.write(chunk)
        finally:
            os.close(fd)
    return copy if copy.stat().st_size else None


def _prepare_path(path: Path, name: str, store: Path, max_str_bytes: int, walk: WalkOptions,
                  label: str | None = None, extract: ExtractOptions | None = None) -> ContextSpec:
    st = check_path(path)
    if stat.S_ISDIR(st.st_mode):
        files, skipped = walk_directory(path, dataclasses.replace(walk, documents=extract is not None))
        if not files:
            raise ContextError(f"directory {shown(path)} holds no readable text files ({describe_skipped(skipped, 6)})"
                               if skipped else f"directory {shown(path)} holds no files")
        spec = _prepare_files(files, name, store, max_str_bytes, root=path, extract=extract)
        for reason, names in skipped.items():
            spec.skipped.setdefault(reason, []).extend(names)
        if skipped:
            spec.description += f"; left out: {describe_skipped(skipped, 0)}"
        return spec
    label = label or shown(path)
    if not os.access(path, os.R_OK):
        raise ContextError(f"cannot read {shown(label, MESSAGE_PATH_CHARS)}: permission denied")
    source = path
    if st.st_size == 0:
        try:
            found = _snapshot(path, store / f"{name}.snapshot.txt")
        except OSError as exc:  # /proc/self/mem: an I/O error
            raise ContextError(f"cannot read {shown(label, MESSAGE_PATH_CHARS)}: {exc.strerror or exc}") from None
        if found is None:
            raise ContextError(f"{shown(label, MESSAGE_PATH_CHARS)} is empty")
        source = found
    if extract is not None and document_format(source) is not None:
        return _prepare_document(label, source, name, store, max_str_bytes, extract)
    spec = _prepare_file(label, source, name, store, max_str_bytes)
    if source is not path and source.stat().st_size >= SNAPSHOT_BYTES:
        spec.description += f"; only its first {_human(SNAPSHOT_BYTES)} (it gives no size; a file read whole has one)"
    return spec


def _prepare_file(label: str, source: Path, name: str, store: Path, max_str_bytes: int) -> ContextSpec:
    """One file's spec: `label` names it, `source` holds its bytes (the file, or a snapshot)."""
    if _is_binary(source):
        raise ContextError(f"{shown(label, MESSAGE_PATH_CHARS)} looks like a binary file (it contains NUL bytes); "
                           "give a text file")
    path = source
    size = path.stat().st_size
    if size > max_str_bytes:  # a Corpus whatever its characters: its text is never measured
        with open_regular(path) as f:
            how, measured = _bom_encoding(f.read(4)), None
    else:
        how, measured = _check_text(path)
    data_path, nbytes = path.resolve(), size
    if how in ("UTF-16", "UTF-32"):
        copy = store / f"{name}.txt"  # another encoding: the kernel reads a UTF-8 copy
        measured = TextSize()
        with open(copy, "wb") as out:
            _write_text(path, how, out, measured)
        data_path, nbytes = copy, copy.stat().st_size
        if not nbytes:
            raise ContextError(f"{shown(label, MESSAGE_PATH_CHARS)} is empty (a byte-order mark and no text)")
    mode = "corpus" if measured is None else _text_mode(measured.str_bytes, max_str_bytes)
    kind = "str" if mode == "text" else CORPUS_KIND
    spec = ContextSpec(name, mode, data_path, None, label, nbytes, f"{kind} from {label} ({_human(size)})",
                       str_bytes=None if measured is None else measured.str_bytes)
    if how == "UTF-8 with invalid bytes":
        spec.errors = "replace"
    if how is not None:
        spec.decoded[label] = how
        spec.description += f"; {_decoding_note(how)}"
    hint = _format_hint(Path(label), path, mode == "text")
    if hint:
        spec.description += f"; {hint}"
    return spec


def _prepare_document(label: str, source: Path, name: str, store: Path, max_str_bytes: int,
                      extract: ExtractOptions) -> ContextSpec:
    """A file of a document format, alone: its extracted text is the context (with its one
    document in `docs`, for its pages), or, for an archive, its members are the documents."""
    skipped: dict[str, list[str]] = {}
    pieces, summary = pieces_of([source], lambda p: label, extract, skipped)
    if not pieces:
        why = summary.get("failed", {}).get(label, "no text in it")
        raise ContextError(f"could not read {shown(label, MESSAGE_PATH_CHARS)} as a document: {why}")
    piece = pieces[0]
    size = piece.source.stat().st_size
    if len(pieces) > 1 or piece.label != label or piece.length != size or piece.offset != 0:
        return _prepare_pieces(pieces, skipped, summary, name, store, max_str_bytes, label)
    how, measured = _check_text(piece.source) if size <= max_str_bytes else (None, None)
    mode = "corpus" if measured is None else _text_mode(measured.str_bytes, max_str_bytes)
    index_path = store / f"{name}.index.json"
    index_path.write_text(json.dumps([piece.entry(0, size)]), encoding="utf-8")
    kind = "str" if mode == "text" else CORPUS_KIND
    parts = f", {len(piece.places):,} pages or parts" if piece.places else ""
    desc = (f"{kind}: the text of {label} ({FORMAT_NAMES.get(piece.kind or '', 'document')}{parts}; "
            f"{_human(size)} of text); docs[0] is the document") + describe_extraction(summary)
    spec = ContextSpec(name, mode, piece.source, index_path, label, size, desc,
                       str_bytes=None if measured is None else measured.str_bytes, extraction=summary,
                       pictures=pictures_of(pieces))
    if how == "UTF-8 with invalid bytes":
        spec.errors = "replace"
    return spec


def _format_hint(path: Path, source: Path, whole: bool) -> str | None:
    """How to read a file of a common data format, from its name and its first bytes (models
    otherwise split JSON on blank lines and count nothing)."""
    try:
        with open_regular(source) as f:
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
        skipped.setdefault(reason, []).append(_label(p, root))

    def unlisted(exc: OSError) -> None:  # a directory the walk could not list
        if exc.filename is not None and Path(exc.filename) != root:
            left_out(_skip_reason(exc), Path(exc.filename))
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
            reason = _unusable(p, options.documents)
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


def _check_text(path: Path) -> tuple[str | None, TextSize | None]:
    """How a file's text must be read: None for plain UTF-8, else "UTF-16" / "UTF-32" (it
    starts with that byte-order mark) or "UTF-8 with invalid bytes" (they become U+FFFD);
    and, for UTF-8, its size once decoded (None for the others: measured as they are copied)."""
    with open_regular(path) as f:
        bom = _bom_encoding(f.read(4))
        if bom is not None:
            return bom, None
        for errors in ("strict", "replace"):
            f.seek(0)
            decoder = codecs.getincrementaldecoder("utf-8")(errors)
            size = TextSize()
            try:
                while chunk := f.read(1 << 22):
                    if chunk.isascii() and not decoder.getstate()[0]:
                        size.chars += len(chunk)  # the common case, without building a str
                    else:
                        size.add(decoder.decode(chunk))
                size.add(decoder.decode(b"", final=True))
            except UnicodeDecodeError:
                continue
            return (None if errors == "strict" else "UTF-8 with invalid bytes"), size
    raise AssertionError("unreachable: decoding with replace does not fail")


def _write_text(path: Path, how: str, out: Any, size: TextSize | None = None) -> int:
    """Write `path`'s text to `out` as UTF-8, read as `how` says; returns the bytes written
    (and adds the text to `size`)."""
    encoding, errors = ("utf-8", "replace") if how.startswith("UTF-8") else (how.lower(), "replace")
    written = 0
    with io.TextIOWrapper(open_regular(path), encoding=encoding, errors=errors, newline="") as f:
        while text := f.read(1 << 20):
            if size is not None:
                size.add(text)
            data = text.encode("utf-8", "surrogatepass")
            out.write(data)
            written += len(data)
    return written


def _decoded_note(decoded: dict[str, str]) -> str:
    """For a context description: which documents were not plain UTF-8 (the first 20)."""
    if not decoded:
        return ""
    listed = "; ".join(f"{label}: {_decoding_note(how)}" for label, how in list(decoded.items())[:20])
    more = f"; and {len(decoded) - 20} more" if len(decoded) > 20 else ""
    return f"; {len(decoded)} not plain UTF-8 ({listed}{more})"


def _decoding_note(how: str) -> str:
    return ("invalid UTF-8 bytes read as U+FFFD" if how == "UTF-8 with invalid bytes"
            else f"read as {how} (it starts with that byte-order mark)")


MAP_IN_PLACE_BYTES = 1 << 20  # in a large directory, files from this size are mapped where they are


def _prepare_files(files: Iterable[Path], name: str, store: Path, max_str_bytes: int,
                   root: Path | None = None, extract: ExtractOptions | None = None) -> ContextSpec:
    files, skipped, names = _usable(list(files), root, store, documents=extract is not None)
    pieces, summary = pieces_of(files, lambda p: names.get(p) or _label(p, root), extract, skipped)
    if not pieces:
        raise ContextError(f"no readable text among the files given ({describe_skipped(skipped, 6)})")
    where = f"directory {root}" if root is not None else f"{len(files)} files"
    return _prepare_pieces(pieces, skipped, summary, name, store, max_str_bytes, where)


def _prepare_pieces(pieces: list[Piece], skipped: dict[str, list[str]], summary: dict[str, Any], name: str,
                    store: Path, max_str_bytes: int, where: str) -> ContextSpec:
    """Documents joined into one text, each after a line "==> name <==", with an index of
    where each sits (and its places): a str when it fits max_str_bytes, else a Corpus."""
    if sum(_piece_size(p) for p in pieces) > max_str_bytes:
        return _prepare_mapped(pieces, skipped, summary, name, store, where)
    data_path = store / f"{name}.concat.txt"
    index = []
    decoded: dict[str, str] = {}
    total = TextSize()
    with open(data_path, "wb") as out:
        for piece in pieces:
            header = f"==> {piece.label} <==\n"
            out.write(header.encode("utf-8", "surrogateescape"))
            total.add(header + "\n\n")
            out.flush()
            offset = out.tell()
            if piece.length is None:
                how, measured = _check_text(piece.source)
                if how is None:
                    with open_regular(piece.source) as src:
                        copied = copy_range(src.fileno(), out.fileno(), piece.source.stat().st_size)
                    out.seek(0, os.SEEK_END)
                else:  # not plain UTF-8: its text, re-encoded (the kernel reads the whole as UTF-8)
                    measured = TextSize()
                    copied = _write_text(piece.source, how, out, measured)
                    decoded[piece.label] = how
            else:  # extracted text (UTF-8, written by the extractor): its range of the cache file
                with open_regular(piece.source) as src:
                    measured = _measure_range(src, piece.offset, piece.length)
                    copied = copy_range(src.fileno(), out.fileno(), piece.length, piece.offset)
                out.seek(0, os.SEEK_END)
            total.chars += measured.chars if measured else 0
            total.width = max(total.width, measured.width if measured else 1)
            index.append(piece.entry(offset, copied))
            out.write(b"\n\n")
    index_path = store / f"{name}.index.json"
    index_path.write_text(json.dumps(index), encoding="utf-8")
    nbytes = data_path.stat().st_size
    mode = _text_mode(total.str_bytes, max_str_bytes)
    kind = "str" if mode == "text" else CORPUS_KIND
    desc = f"{kind} concatenating {len(index)} documents from {where} ({_human(nbytes)}); see docs"
    desc += _decoded_note(decoded) + describe_extraction(summary)
    if skipped:
        desc += f"; left out: {describe_skipped(skipped, 0)}"
    return ContextSpec(name, mode, data_path, index_path, where, nbytes, desc, str_bytes=total.str_bytes,
                       skipped=skipped, decoded=decoded, extraction=summary, pictures=pictures_of(pieces))


def _piece_size(piece: Piece) -> int:
    return piece.source.stat().st_size if piece.length is None else piece.length


def _measure_range(src: BinaryIO, offset: int, length: int) -> TextSize:
    size = TextSize()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    done = 0
    while done < length:
        chunk = os.pread(src.fileno(), min(1 << 22, length - done), offset + done)
        if not chunk:
            break
        done += len(chunk)
        if chunk.isascii() and not decoder.getstate()[0]:
            size.chars += len(chunk)
        else:
            size.add(decoder.decode(chunk))
    size.add(decoder.decode(b"", final=True))
    return size


def _label(p: Path, root: Path | None) -> str:
    """How a document is named to the model: relative to the directory given, escaped."""
    return shown(p.relative_to(root) if root is not None else p)


def _unusable(p: Path, documents: bool = False) -> str | None:
    """Why a file is not read as text ("empty", "binary", "special", "unreadable", "broken
    link", "link loop", "path too long"), or None; with `documents`, a binary file of a
    document format is kept (to be extracted). A FIFO is never opened (that would wait)."""
    try:
        st = os.stat(p)
        if special_kind(st.st_mode) is not None:
            return "special"
        if st.st_size == 0:
            return "empty"
        return "binary" if _is_binary(p) and not (documents and document_format(p) is not None) else None
    except OSError as exc:
        return _skip_reason(exc)


def _usable(files: list[Path], root: Path | None, store: Path | None = None,
            documents: bool = False) -> tuple[list[Path], dict[str, list[str]], dict[Path, str]]:
    """The files worth reading (empty and binary ones are left out, by reason) and the names of
    those read from a snapshot in `store` (a file that says size 0 and has text, as /proc
    files do, is read as it is alone: `_snapshot`); ContextError naming them when none is
    left, or for a file that does not exist."""
    kept: list[Path] = []
    skipped: dict[str, list[str]] = {}
    names: dict[Path, str] = {}
    for p in files:
        if not os.path.isfile(p):
            check_path(p)  # says what it is
            raise ContextError(f"not a file: {shown(p, MESSAGE_PATH_CHARS)}")
        label = _label(p, root)
        reason = _unusable(p, documents)
        if reason == "empty" and store is not None:
            try:
                copy = _snapshot(p, store / f"snapshot-{len(names)}.txt")
            except OSError:  # /proc/self/mem: an I/O error, not an empty file
                copy, reason = None, "unreadable"
            if copy is not None:
                reason = "binary" if _is_binary(copy) else None
                names[copy], p = label, copy
        if reason is None:
            kept.append(p)
        else:
            skipped.setdefault(reason, []).append(label)
    if not kept:
        raise ContextError(f"no readable text among the files given ({describe_skipped(skipped, 6)})")
    return kept, skipped, names


def _prepare_mapped(pieces: list[Piece], skipped: dict[str, list[str]], summary: dict[str, Any], name: str,
                    store: Path, where: str) -> ContextSpec:
    """Documents too large for a str: a Corpus over their files where they are. Files (and
    extracted texts) of MAP_IN_PLACE_BYTES or more are mapped by the kernel in place (never
    copied); headers and smaller ones go to one pack file. The index lists the documents
    (offsets in the joined text, and their places) and the segments that make it up: [source,
    offset, length], source 0 the pack and i > 0 the i-th mapped file."""
    pack_path = store / f"{name}.pack.txt"
    docs: list[dict[str, Any]] = []
    segments: list[list[int]] = []
    mapped: list[Path] = []
    mapped_at: dict[Path, int] = {}
    decoded: dict[str, str] = {}
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

        def copied_in(src: BinaryIO, count: int, offset: int | None = None) -> int:
            pack.flush()
            n = copy_range(src.fileno(), pack.fileno(), count, offset)
            pack.seek(0, os.SEEK_END)
            packed(n)
            return n

        for piece in pieces:
            header = f"==> {piece.label} <==\n".encode("utf-8", "surrogateescape")
            pack.write(header)
            packed(len(header))
            start = joined
            p = piece.source
            if piece.length is not None:  # extracted text: a range of its cache file
                size = piece.length
                if size >= MAP_IN_PLACE_BYTES:
                    source = p.resolve()
                    if source not in mapped_at:
                        mapped.append(source)
                        mapped_at[source] = len(mapped)
                    segments.append([mapped_at[source], piece.offset, size])
                    joined += size
                elif size:
                    with open_regular(p) as src:
                        size = copied_in(src, size, piece.offset)
            else:
                size = p.stat().st_size
                with open_regular(p) as src:
                    bom = _bom_encoding(src.read(4))
                if bom is not None:  # UTF-16/32: its text, as UTF-8, in the pack (a Corpus reads UTF-8)
                    pack.flush()
                    size = _write_text(p, bom, pack)
                    packed(size)
                    decoded[piece.label] = bom
                elif size >= MAP_IN_PLACE_BYTES:
                    mapped.append(p.resolve())
                    segments.append([len(mapped), 0, size])
                    joined += size
                elif size:
                    with open_regular(p) as src:
                        size = copied_in(src, size)
            docs.append(piece.entry(start, size))
            pack.write(b"\n\n")
            packed(2)
    index_path = store / f"{name}.index.json"
    index_path.write_text(json.dumps({"docs": docs, "segments": segments}), encoding="utf-8")
    desc = (f"{CORPUS_KIND} concatenating {len(docs)} documents from {where} ({_human(joined)}; "
            f"{len(mapped)} large files read where they are; invalid UTF-8 bytes read as U+FFFD); see docs")
    desc += _decoded_note(decoded) + describe_extraction(summary)
    if skipped:
        desc += f"; left out: {describe_skipped(skipped, 0)}"
    return ContextSpec(name, "corpus", pack_path, index_path, where, joined, desc, mapped=mapped, skipped=skipped,
                       decoded=decoded, extraction=summary, pictures=pictures_of(pieces))
