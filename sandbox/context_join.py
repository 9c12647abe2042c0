"""Several documents joined into one context text, each after a line "==> name <==", with
an index of where each sits: one concatenated file (copied in the OS, `copy_range`) when
the text fits a str, else a pack file plus large files mapped by the kernel where they are.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from sandbox.context_decoding import (
    TextSize,
    bom_encoding,
    check_text,
    decoded_note,
    is_binary,
    measure_range,
    write_text,
)
from sandbox.context_paths import MESSAGE_PATH_CHARS, check_path, open_regular, shown, snapshot
from sandbox.context_spec import CORPUS_KIND, ContextSpec, human_size, text_mode
from sandbox.context_walk import describe_skipped, doc_label, unusable
from sandbox.documents.pieces import (
    Piece,
    describe_extraction,
    pictures_of,
    pieces_of,
)
from sandbox.documents.pool import ExtractOptions
from sandbox.errors import ContextError


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


MAP_IN_PLACE_BYTES = 1 << 20  # in a large directory, files from this size are mapped where they are


def prepare_files(files: Iterable[Path], name: str, store: Path, max_str_bytes: int,
                   root: Path | None = None, extract: ExtractOptions | None = None) -> ContextSpec:
    files, skipped, names = usable_files(list(files), root, store, documents=extract is not None)
    pieces, summary = pieces_of(files, lambda p: names.get(p) or doc_label(p, root), extract, skipped)
    if not pieces:
        raise ContextError(f"no readable text among the files given ({describe_skipped(skipped, 6)})")
    where = f"directory {root}" if root is not None else f"{len(files)} files"
    return prepare_pieces(pieces, skipped, summary, name, store, max_str_bytes, where)


def usable_files(files: list[Path], root: Path | None, store: Path | None = None,
            documents: bool = False) -> tuple[list[Path], dict[str, list[str]], dict[Path, str]]:
    """The files worth reading (empty and binary ones are left out, by reason) and the names of
    those read from a snapshot in `store` (a file that says size 0 and has text, as /proc
    files do, is read as it is alone: `snapshot`); ContextError naming them when none is
    left, or for a file that does not exist."""
    kept: list[Path] = []
    skipped: dict[str, list[str]] = {}
    names: dict[Path, str] = {}
    for p in files:
        if not os.path.isfile(p):
            check_path(p)  # says what it is
            raise ContextError(f"not a file: {shown(p, MESSAGE_PATH_CHARS)}")
        label = doc_label(p, root)
        reason = unusable(p, documents)
        if reason == "empty" and store is not None:
            try:
                copy = snapshot(p, store / f"snapshot-{len(names)}.txt")
            except OSError:  # /proc/self/mem: an I/O error, not an empty file
                copy, reason = None, "unreadable"
            if copy is not None:
                reason = "binary" if is_binary(copy) else None
                names[copy], p = label, copy
        if reason is None:
            kept.append(p)
        else:
            skipped.setdefault(reason, []).append(label)
    if not kept:
        raise ContextError(f"no readable text among the files given ({describe_skipped(skipped, 6)})")
    return kept, skipped, names


def prepare_pieces(pieces: list[Piece], skipped: dict[str, list[str]], summary: dict[str, Any], name: str,
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
                how, measured = check_text(piece.source)
                if how is None:
                    with open_regular(piece.source) as src:
                        copied = copy_range(src.fileno(), out.fileno(), piece.source.stat().st_size)
                    out.seek(0, os.SEEK_END)
                else:  # not plain UTF-8: its text, re-encoded (the kernel reads the whole as UTF-8)
                    measured = TextSize()
                    copied = write_text(piece.source, how, out, measured)
                    decoded[piece.label] = how
            else:  # extracted text (UTF-8, written by the extractor): its range of the cache file
                with open_regular(piece.source) as src:
                    measured = measure_range(src, piece.offset, piece.length)
                    copied = copy_range(src.fileno(), out.fileno(), piece.length, piece.offset)
                out.seek(0, os.SEEK_END)
            total.chars += measured.chars if measured else 0
            total.width = max(total.width, measured.width if measured else 1)
            index.append(piece.entry(offset, copied))
            out.write(b"\n\n")
    index_path = store / f"{name}.index.json"
    index_path.write_text(json.dumps(index), encoding="utf-8")
    nbytes = data_path.stat().st_size
    mode = text_mode(total.str_bytes, max_str_bytes)
    kind = "str" if mode == "text" else CORPUS_KIND
    desc = f"{kind} concatenating {len(index)} documents from {where} ({human_size(nbytes)}); see docs"
    desc += decoded_note(decoded) + describe_extraction(summary)
    if skipped:
        desc += f"; left out: {describe_skipped(skipped, 0)}"
    return ContextSpec(name, mode, data_path, index_path, where, nbytes, desc, str_bytes=total.str_bytes,
                       skipped=skipped, decoded=decoded, extraction=summary, pictures=pictures_of(pieces))


def _piece_size(piece: Piece) -> int:
    return piece.source.stat().st_size if piece.length is None else piece.length


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
                    bom = bom_encoding(src.read(4))
                if bom is not None:  # UTF-16/32: its text, as UTF-8, in the pack (a Corpus reads UTF-8)
                    pack.flush()
                    size = write_text(p, bom, pack)
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
    desc = (f"{CORPUS_KIND} concatenating {len(docs)} documents from {where} ({human_size(joined)}; "
            f"{len(mapped)} large files read where they are; invalid UTF-8 bytes read as U+FFFD); see docs")
    desc += decoded_note(decoded) + describe_extraction(summary)
    if skipped:
        desc += f"; left out: {describe_skipped(skipped, 0)}"
    return ContextSpec(name, "corpus", pack_path, index_path, where, joined, desc, mapped=mapped, skipped=skipped,
                       decoded=decoded, extraction=summary, pictures=pictures_of(pieces))
