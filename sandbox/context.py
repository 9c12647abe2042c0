"""Host-side preparation of contexts: turn a Python value or paths into a file the kernel opens.

The host never reads a file context into memory: a single file is handed to the kernel as
an open descriptor; several files are concatenated into one file with `copy_file_range`
(in the OS, not through Python) plus a small JSON index of where each document sits.
Values (str, bytes, list, dict) are written to a file once. Nothing travels in code strings.

This module holds `prepare` and the preparation of one file or document; the parts it uses
live in `context_spec` (the spec), `context_paths` (checking and opening paths),
`context_decoding` (how a file's text is read), `context_walk` (a directory's files) and
`context_join` (several documents as one text), whose public names it also exports.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

from sandbox.context_decoding import (
    SNIFF_BYTES,
    TextSize,
    bom_encoding,
    check_text,
    decoding_note,
    is_binary,
    write_text,
)
from sandbox.context_join import MAP_IN_PLACE_BYTES, copy_range, prepare_files, prepare_pieces
from sandbox.context_paths import (
    MESSAGE_PATH_CHARS,
    SNAPSHOT_BYTES,
    check_path,
    open_regular,
    shown,
    snapshot,
    special_kind,
    stat_problem,
)
from sandbox.context_spec import CORPUS_KIND, TEXT_MODES, ContextSpec, human_size, text_mode
from sandbox.context_walk import EXAMPLE_PATH_CHARS, SKIP_REASONS, WalkOptions, describe_skipped, walk_directory
from sandbox.documents.formats import FORMAT_NAMES
from sandbox.documents.pieces import (
    describe_extraction,
    document_format,
    pictures_of,
    pieces_of,
)
from sandbox.documents.pool import ExtractOptions
from sandbox.errors import ContextError

# what the host and the controller import from here (most of it defined in the modules above)
__all__ = [
    "CORPUS_KIND", "ContextSpec", "EXAMPLE_PATH_CHARS", "MAP_IN_PLACE_BYTES", "MESSAGE_PATH_CHARS", "SKIP_REASONS",
    "SNAPSHOT_BYTES", "SNIFF_BYTES", "TEXT_MODES", "TextSize", "WalkOptions", "check_path", "copy_range",
    "describe_skipped", "open_regular", "prepare", "shown", "special_kind", "stat_problem", "walk_directory",
]


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
        return prepare_files(list(value), name, store, max_str_bytes, extract=extract)
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        path = store / f"{name}.txt"
        path.write_bytes(data)
        size = TextSize()
        size.add(value)
        mode = text_mode(size.str_bytes, max_str_bytes)
        desc = f"str of {len(value):,} characters" if mode == "text" else (
            f"{CORPUS_KIND} of {human_size(len(data))}")
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
                           f"{kind} of {len(value):,} items ({human_size(len(data))} as JSON)")
    raise ContextError(
        f"cannot load a {type(value).__name__} as a context; give a str, bytes, list, dict, "
        "pathlib.Path, a list of paths, or a directory path"
    )


def _prepare_path(path: Path, name: str, store: Path, max_str_bytes: int, walk: WalkOptions,
                  label: str | None = None, extract: ExtractOptions | None = None) -> ContextSpec:
    st = check_path(path)
    if stat.S_ISDIR(st.st_mode):
        files, skipped = walk_directory(path, dataclasses.replace(walk, documents=extract is not None))
        if not files:
            raise ContextError(f"directory {shown(path)} holds no readable text files ({describe_skipped(skipped, 6)})"
                               if skipped else f"directory {shown(path)} holds no files")
        spec = prepare_files(files, name, store, max_str_bytes, root=path, extract=extract)
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
            found = snapshot(path, store / f"{name}.snapshot.txt")
        except OSError as exc:  # /proc/self/mem: an I/O error
            raise ContextError(f"cannot read {shown(label, MESSAGE_PATH_CHARS)}: {exc.strerror or exc}") from None
        if found is None:
            raise ContextError(f"{shown(label, MESSAGE_PATH_CHARS)} is empty")
        source = found
    if extract is not None and document_format(source) is not None:
        return _prepare_document(label, source, name, store, max_str_bytes, extract)
    spec = _prepare_file(label, source, name, store, max_str_bytes)
    if source is not path and source.stat().st_size >= SNAPSHOT_BYTES:
        spec.description += (f"; only its first {human_size(SNAPSHOT_BYTES)} (it gives no size; a file read whole "
                             "has one)")
    return spec


def _prepare_file(label: str, source: Path, name: str, store: Path, max_str_bytes: int) -> ContextSpec:
    """One file's spec: `label` names it, `source` holds its bytes (the file, or a snapshot)."""
    if is_binary(source):
        raise ContextError(f"{shown(label, MESSAGE_PATH_CHARS)} looks like a binary file (it contains NUL bytes); "
                           "give a text file")
    path = source
    size = path.stat().st_size
    if size > max_str_bytes:  # a Corpus whatever its characters: its text is never measured
        with open_regular(path) as f:
            how, measured = bom_encoding(f.read(4)), None
    else:
        how, measured = check_text(path)
    data_path, nbytes = path.resolve(), size
    if how in ("UTF-16", "UTF-32"):
        copy = store / f"{name}.txt"  # another encoding: the kernel reads a UTF-8 copy
        measured = TextSize()
        with open(copy, "wb") as out:
            write_text(path, how, out, measured)
        data_path, nbytes = copy, copy.stat().st_size
        if not nbytes:
            raise ContextError(f"{shown(label, MESSAGE_PATH_CHARS)} is empty (a byte-order mark and no text)")
    mode = "corpus" if measured is None else text_mode(measured.str_bytes, max_str_bytes)
    kind = "str" if mode == "text" else CORPUS_KIND
    spec = ContextSpec(name, mode, data_path, None, label, nbytes, f"{kind} from {label} ({human_size(size)})",
                       str_bytes=None if measured is None else measured.str_bytes)
    if how == "UTF-8 with invalid bytes":
        spec.errors = "replace"
    if how is not None:
        spec.decoded[label] = how
        spec.description += f"; {decoding_note(how)}"
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
        return prepare_pieces(pieces, skipped, summary, name, store, max_str_bytes, label)
    how, measured = check_text(piece.source) if size <= max_str_bytes else (None, None)
    mode = "corpus" if measured is None else text_mode(measured.str_bytes, max_str_bytes)
    index_path = store / f"{name}.index.json"
    index_path.write_text(json.dumps([piece.entry(0, size)]), encoding="utf-8")
    kind = "str" if mode == "text" else CORPUS_KIND
    parts = f", {len(piece.places):,} pages or parts" if piece.places else ""
    desc = (f"{kind}: the text of {label} ({FORMAT_NAMES.get(piece.kind or '', 'document')}{parts}; "
            f"{human_size(size)} of text); docs[0] is the document") + describe_extraction(summary)
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
