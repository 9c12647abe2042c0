"""Readers of files that hold other files or text: compressed streams (gzip, bzip2, xz,
zstd), archives (zip, tar: each member a document), e-mail (one message, its attachments as
documents) and mailboxes (each message a document); and `read`, which sends a file to the
reader of its format. Runs inside the extraction worker, on hostile files: members are
counted, each is read within the sink's limits, nesting is bounded."""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterator
from typing import Any

from sandbox.documents import readers_pages as pages
from sandbox.documents.formats import SNIFF_BYTES, detect
from sandbox.documents.sink import Cut, Sink

MAX_DEPTH = 3  # an archive in an archive in an archive; deeper ones are listed, not read
MAX_MEMBERS = 20_000  # members of one file read; the rest are counted in a note
MAX_MEMBER_BYTES = 256 << 20  # a member of a format read whole (a PDF in a zip) is held in memory up to this
MAX_MESSAGE_BYTES = 64 << 20  # one message of a mailbox
CHUNK = 1 << 20


def read(fmt: str, stream: Any, sink: Sink, name: str = "", depth: int = 0) -> None:
    """Write the text of `stream`, a file of format `fmt`, to `sink`: its documents named
    `name` (the file itself: "") or, for members, `name:member`."""
    readers: dict[str, Callable[..., None]] = {
        "pdf": pages.read_pdf, "docx": pages.read_docx, "pptx": pages.read_pptx, "xlsx": pages.read_xlsx,
        "odf": pages.read_odf, "epub": pages.read_epub, "html": pages.read_html,
    }
    if fmt in readers:
        readers[fmt](stream, sink, name)
    elif fmt in ("gz", "bz2", "xz", "zst"):
        read_compressed(fmt, stream, sink, name, depth)
    elif fmt == "zip":
        read_zip(stream, sink, name, depth)
    elif fmt == "tar":
        read_tar(stream, sink, name, depth, streaming=False)
    elif fmt == "eml":
        read_eml(stream, sink, name, depth)
    elif fmt == "mbox":
        read_mbox(stream, sink, name, depth)
    elif fmt == "image":
        read_image(stream, sink, name)
    else:
        raise ValueError(f"no reader for {fmt!r}")


def read_image(stream: Any, sink: Sink, name: str) -> None:
    """A picture has no text: its document says what it is and how a model can see it."""
    from sandbox.documents.formats import image_type

    head = _read_up_to(stream, 64)
    size = len(head) + sum(len(c) for c in iter(lambda: stream.read(CHUNK), b""))
    mime = image_type(head) or "image"
    sink.begin(name, "image")
    sink.text(f"[picture: {mime}, {size:,} bytes; llm_query(question, images=[doc]) shows it to the sub-model]\n")


def _member_name(name: str, member: str) -> str:
    return f"{name}:{member}" if name else member


def _decompressor(fmt: str, stream: Any) -> Any:
    if fmt == "gz":
        import gzip

        return gzip.GzipFile(fileobj=stream, mode="rb")
    if fmt == "bz2":
        import bz2

        return bz2.BZ2File(stream)
    if fmt == "xz":
        import lzma

        return lzma.LZMAFile(stream)
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(stream)


def read_compressed(fmt: str, stream: Any, sink: Sink, name: str, depth: int) -> None:
    """A compressed file: its content read as what it is (text, a tar archive, a document)."""
    inner = _decompressor(fmt, stream)
    head = _read_up_to(inner, SNIFF_BYTES)
    base = name.rsplit(":", 1)[-1]
    inner_name = base.rsplit(".", 1)[0] if "." in base.rsplit("/", 1)[-1] else base
    inner_fmt = detect(inner_name, head)
    rest = _Chained(head, inner)
    if inner_fmt == "tar":
        read_tar(rest, sink, name, depth + 1, streaming=True)
    elif inner_fmt is not None:
        if depth + 1 > MAX_DEPTH:
            sink.notes.append(f"{name or 'the file'}: nested too deep to read")
            return
        data = _read_up_to(rest, MAX_MEMBER_BYTES + 1)
        if len(data) > MAX_MEMBER_BYTES:
            sink.notes.append(f"{name or 'the file'}: its content is a {inner_fmt} over {MAX_MEMBER_BYTES:,} bytes "
                              "unpacked, not read")
            return
        read(inner_fmt, io.BytesIO(data), sink, name, depth + 1)
    elif b"\0" in head and codecs.BOM_UTF16_LE not in head[:2] and codecs.BOM_UTF16_BE not in head[:2]:
        sink.notes.append(f"{name or 'the file'}: its content is binary, not read")
    else:
        sink.begin(name, fmt)
        _copy_text(rest, sink, head)


def _read_up_to(stream: Any, n: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(min(CHUNK, n - got))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class _Chained(io.RawIOBase):
    """`head` (already read) followed by the rest of `stream`."""

    def __init__(self, head: bytes, stream: Any) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._stream.read(n if n is not None else -1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _copy_text(stream: Any, sink: Sink, head: bytes) -> None:
    """Text (UTF-8, or UTF-16 with a byte-order mark; bad bytes as U+FFFD) to the sink."""
    encoding = "utf-16" if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    while chunk := stream.read(CHUNK):
        sink.text(decoder.decode(chunk))
    sink.text(decoder.decode(b"", final=True))


def _member(stream: Any, size: int | None, member: str, sink: Sink, name: str, depth: int) -> None:
    """One member of an archive (or an attachment): text as it is, a document read by its
    reader, anything else noted as left out."""
    full = _member_name(name, member)
    head = _read_up_to(stream, SNIFF_BYTES)
    fmt = detect(member, head)
    if fmt is None:
        if b"\0" in head and head[:2] not in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            sink.notes.append(f"{full}: binary, left out")
            return
        if not head.strip():
            return
        sink.begin(full, "text")
        _copy_text(_Chained(head, stream), sink, head)
        return
    if depth + 1 > MAX_DEPTH:
        sink.notes.append(f"{full}: nested too deep to read")
        return
    if fmt in ("gz", "bz2", "xz", "zst", "tar", "eml", "mbox"):  # read as a stream
        read(fmt, _Chained(head, stream), sink, full, depth + 1)
        return
    if size is not None and size > MAX_MEMBER_BYTES:
        sink.notes.append(f"{full}: a {fmt} of {size:,} bytes, over the {MAX_MEMBER_BYTES:,} read in memory")
        return
    data = head + _read_up_to(stream, MAX_MEMBER_BYTES + 1 - len(head))
    if len(data) > MAX_MEMBER_BYTES:
        sink.notes.append(f"{full}: a {fmt} over {MAX_MEMBER_BYTES:,} bytes unpacked, not read")
        return
    try:
        read(fmt, io.BytesIO(data), sink, full, depth + 1)
    except Cut:
        raise
    except Exception as exc:  # one bad member does not lose the others
        sink.notes.append(f"{full}: could not be read ({type(exc).__name__}: {str(exc)[:200]})")


def _members(items: Iterator[Any], sink: Sink, name: str) -> Iterator[Any]:
    for count, item in enumerate(items, 1):
        if count > MAX_MEMBERS:
            sink.notes.append(f"{name or 'the archive'}: only its first {MAX_MEMBERS:,} members were read")
            return
        sink.check()
        yield item


def read_zip(stream: Any, sink: Sink, name: str, depth: int) -> None:
    import zipfile

    with zipfile.ZipFile(stream) as archive:
        for info in _members(iter(archive.infolist()), sink, name):
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                sink.notes.append(f"{_member_name(name, info.filename)}: encrypted, left out")
                continue
            try:
                with archive.open(info) as member:
                    _member(member, info.file_size, info.filename, sink, name, depth)
            except Cut:
                raise
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, ValueError) as exc:
                sink.notes.append(f"{_member_name(name, info.filename)}: could not be read ({exc})")


def read_tar(stream: Any, sink: Sink, name: str, depth: int, streaming: bool) -> None:
    import tarfile

    with tarfile.open(fileobj=stream, mode="r|" if streaming else "r:") as archive:
        for info in _members(iter(archive), sink, name):
            if not info.isfile():
                continue
            member = archive.extractfile(info)
            if member is None:
                continue
            with member:
                _member(member, info.size, info.name, sink, name, depth)


def read_eml(stream: Any, sink: Sink, name: str, depth: int) -> None:
    data = _read_up_to(stream, MAX_MESSAGE_BYTES + 1)
    if len(data) > MAX_MESSAGE_BYTES:
        sink.notes.append(f"{name or 'the message'}: read to its first {MAX_MESSAGE_BYTES:,} bytes")
        data = data[:MAX_MESSAGE_BYTES]
    _message(data, sink, name, "eml", depth)


def _message(data: bytes, sink: Sink, name: str, kind: str, depth: int) -> None:
    """One e-mail message: its main headers, its text (plain, else HTML as text) and its
    attachments (documents of their own, named by their file names)."""
    import email
    import email.policy

    message = email.message_from_bytes(data, policy=email.policy.default)
    sink.begin(name, kind)
    for header in ("From", "To", "Cc", "Date", "Subject"):
        try:
            value = message.get(header)
        except Exception:  # a header too broken for the parser: left out
            value = None
        if value:
            sink.text(f"{header}: {pages.clean(' '.join(str(value).split()))}\n")
    sink.text("\n")
    try:
        body = message.get_body(preferencelist=("plain", "html"))
        content = body.get_content() if body is not None else ""
    except (LookupError, ValueError, AttributeError, KeyError):
        body, content = None, ""
    if body is not None and isinstance(content, str):
        if body.get_content_subtype() == "html":
            pages.html_text(content.encode("utf-8", "replace"), sink, headings=False)
        else:
            sink.text(pages.clean(content) + "\n")
    attachments = list(message.iter_attachments()) if message.is_multipart() else []
    for number, part in enumerate(attachments, 1):
        sink.check()
        filename = part.get_filename() or f"attachment-{number}"
        try:
            payload = part.get_payload(decode=True) or b""
            payload = payload if isinstance(payload, bytes) else b""
        except Exception:  # a part too broken to decode: named, not read
            payload = b""
        sink.text(f"[attachment: {pages.clean(filename)}, {len(payload):,} bytes]\n")
        if payload:
            _member(io.BytesIO(payload), len(payload), filename, sink, name, depth)


def read_mbox(stream: Any, sink: Sink, name: str, depth: int) -> None:
    """A mailbox (mboxo/mboxrd): messages begin at lines "From " after a blank line."""
    number = 0
    current: list[bytes] = []
    size = 0
    previous_blank = True

    def flush() -> None:
        nonlocal number, size
        if current:
            number += 1
            data = b"".join(current)
            _message(data, sink, _member_name(name, f"#{number}"), "mbox", depth)
            current.clear()
            size = 0

    for count, line in enumerate(_lines(stream)):
        if count % 4096 == 0:
            sink.check()
        if line.startswith(b"From ") and previous_blank:
            flush()
            sink.check()
        elif size < MAX_MESSAGE_BYTES:
            if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
                line = line[1:]  # mboxrd quoting
            current.append(line)
            size += len(line)
        previous_blank = not line.strip()
    flush()


def _lines(stream: Any) -> Iterator[bytes]:
    reader = stream if hasattr(stream, "readline") else io.BufferedReader(stream, CHUNK)
    while True:
        line = reader.readline(MAX_MESSAGE_BYTES)
        if not line:
            return
        yield line
