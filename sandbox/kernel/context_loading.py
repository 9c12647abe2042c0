"""A context loaded into the kernel (runs inside the kernel): its file fetched from the host
as a descriptor (and the files of a large directory, mapped where they are), read into a str
(decoded piece by piece), bytes, a list or dict (JSON) or a Corpus, with its documents.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import json
import mmap
import os
from typing import TYPE_CHECKING, Any

from sandbox.kernel import pristine
from sandbox.kernel.context_docs import doc_from_entry
from sandbox.kernel.corpus import Corpus, Segments, map_file
from sandbox.kernel.pristine import Pristine

DECODE_PIECE_BYTES = 64 << 20


# a changed list or dict context is loaded again from its JSON text, kept in memory up to this
# size; a larger one from its file, which the kernel keeps open (one descriptor each)
KEEP_TEXT_BYTES = 1 << 20


def _decode_utf8(buffer: Any, errors: str, anchors: list[tuple[int, int]] | None = None) -> str:
    """`buffer` (a mapping of the file) decoded as UTF-8, piece by piece, then joined. Decoding
    it whole sizes CPython's output for as many characters as there are bytes at the widest
    width met: 2 GB of CJK text took 4 GB on the way to a 1.3 GB str. Pieces take the str's own
    size, twice at most while they are joined. A UnicodeDecodeError's start is in the whole.
    `anchors` gets (character offset, byte offset) where each piece starts, so that a character
    offset's byte offset is found without encoding the text before it (`byte_span`).
    Text that is all ASCII (most is) is decoded whole, in one pass at the str's own size:
    pieces joined took 2 s for 1 GiB, against 0.5 s."""
    try:
        text = str(buffer, "ascii")
    except UnicodeDecodeError:  # stops at the first byte above 0x7f: the pieces below
        pass
    else:
        if anchors is not None:
            anchors.append((0, 0))
        return text
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    parts = []
    view = memoryview(buffer)
    chars = 0
    try:
        for start in range(0, len(view), DECODE_PIECE_BYTES):
            if anchors is not None:  # bytes of a character cut by the last piece wait in the decoder
                anchors.append((chars, start - len(decoder.getstate()[0])))
            piece = view[start:start + DECODE_PIECE_BYTES]
            final = start + DECODE_PIECE_BYTES >= len(view)
            try:
                parts.append(decoder.decode(piece, final))
                chars += len(parts[-1])
            except UnicodeDecodeError as exc:
                pending = len(decoder.getstate()[0])
                raise UnicodeDecodeError("utf-8", bytes(piece[:1]), start + exc.start - pending,
                                         start + exc.end - pending, exc.reason) from None
            finally:
                piece.release()
    finally:
        view.release()
    text = "".join(parts)
    del parts
    return text


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class ContextLoading:
    """A context's files fetched from the host and read into its value (a str, bytes, a list or
    dict, or a Corpus) and its documents (a part of `Runtime`)."""

    pristine: Pristine
    byte_anchors: dict[str, list[tuple[int, int]]]  # a str context's name -> `_decode_utf8`'s anchors

    if TYPE_CHECKING:
        def host_call(self, op: str, args: dict[str, Any], max_fds: int = 0,
                      send_fds: list[int] | None = None) -> tuple[Any, list[int]]: ...

    def _fetch(self, args: dict[str, Any], watch: bool = False) -> tuple[Any, Any]:
        """The value (and documents) of the context file the host holds under `args["token"]`;
        with `watch`, a list or dict value is watched for changes in place (see `pristine`),
        and the kernel keeps its text (up to KEEP_TEXT_BYTES) or its file open to load it again."""
        reply, fds = self.host_call("context_fds", {"token": args["token"]}, max_fds=2)
        try:
            maps = self._map_files(args["token"], int(reply.get("mapped", 0)))
            value, docs = self._read_context(args, fds, maps)
            if watch and not maps and pristine.watched(value):
                size = os.fstat(fds[0]).st_size
                # its text, not its file: a descriptor kept for each of some 200 small contexts
                # reached the open-files limit, and no load or host call worked after
                if size <= KEEP_TEXT_BYTES and len(text := os.pread(fds[0], size, 0)) == size:
                    self.pristine.watch(args["name"], value,
                                        lambda: json.loads(_decode_utf8(text, args.get("errors", "strict"))))
                else:
                    kept = [os.dup(fd) for fd in fds]
                    self.pristine.watch(args["name"], value, lambda: self._read_context(args, kept)[0],
                                        functools.partial(_close_all, kept))
            return value, docs
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _map_files(self, token: str, count: int) -> list[Any]:
        """Maps of the files a large directory's context reads where they are, fetched a part
        at a time (each descriptor is closed once mapped: the map keeps the file)."""
        maps: list[Any] = []
        part = 1
        while len(maps) < count:
            _, fds = self.host_call("context_fds", {"token": token, "part": part}, max_fds=64)
            try:
                if not fds:
                    raise ValueError("the host sent fewer files than the context lists")
                maps.extend(map_file(fd) if os.fstat(fd).st_size else b"" for fd in fds)
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            part += 1
        return maps

    def _read_context(self, args: dict[str, Any], fds: list[int], maps: list[Any] | None = None) -> tuple[Any, Any]:
        mode = args["mode"]
        fd = fds[0]
        size = os.fstat(fd).st_size
        index = self._read_index(fds)
        # a directory above max_str_bytes comes as a pack plus files mapped in place (maybe
        # none: every file small), its index then a dict of documents and segments
        if maps or isinstance(index, dict):
            return self._read_mapped(args, fds[0], maps or [], index)
        if mode == "corpus":
            value: Any = Corpus(fd, args.get("label", ""))
        else:
            mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if size else None
            try:
                if mode == "bytes":
                    value = mm[:] if mm is not None else b""
                else:
                    try:
                        anchors: list[tuple[int, int]] = []
                        text = _decode_utf8(mm, args.get("errors", "strict"), anchors) if mm else ""
                        self.byte_anchors[args["name"]] = anchors
                    except UnicodeDecodeError as exc:
                        raise ValueError(
                            f"{args.get('label') or 'the context'} is not valid UTF-8 "
                            f"(byte {exc.start}: {exc.reason})"
                        ) from None
                    value = json.loads(text) if mode == "json" else text
                    del text
                docs = self._read_docs(index, value, mm)
            finally:
                if mm is not None:
                    mm.close()
            return value, docs
        return value, self._read_docs(index, value, None)

    @staticmethod
    def _read_index(fds: list[int]) -> Any:
        """The context's document index (its second descriptor), or None."""
        if len(fds) < 2:
            return None
        with os.fdopen(os.dup(fds[1]), "r", encoding="utf-8") as f:
            return json.load(f)

    def _read_mapped(self, args: dict[str, Any], pack_fd: int, maps: list[Any], index: Any) -> tuple[Any, Any]:
        """A Corpus over a pack file and files mapped in place, as the index's segments say."""
        if not isinstance(index, dict):
            raise ValueError("the host sent files to map without their index")
        pack = map_file(pack_fd) if os.fstat(pack_fd).st_size else b""
        sources = [pack, *maps]
        parts = []
        for source, offset, length in index["segments"]:
            buffer = sources[source]
            if offset + length > len(buffer):
                raise ValueError(f"{args.get('label') or 'a file of the context'} changed since it was listed "
                                 "(it is shorter now); load the context again")
            parts.append((buffer, offset, length))
        value = Corpus(Segments(parts), args.get("label", ""))
        return value, [doc_from_entry(d, d["offset"], d["length"], value) for d in index["docs"]]

    @staticmethod
    def _read_docs(index: Any, value: Any, mm: Any) -> Any:
        if index is None:
            return None
        docs = []
        ascii_text = isinstance(value, str) and value.isascii()
        char_pos = prev_end = 0
        for entry in index:
            offset, length = entry["offset"], entry["length"]
            places = None
            if isinstance(value, str) and not ascii_text:
                # byte offsets -> character offsets, walking the file in order
                char_pos += len(mm[prev_end:offset].decode("utf-8", "replace"))
                prev_end = offset + length
                body = mm[offset:prev_end]
                places, last_b, last_c = [], 0, 0
                for at, label in entry.get("places") or []:  # each place's start, in characters
                    last_c += len(body[last_b:at].decode("utf-8", "replace"))
                    last_b = at
                    places.append([last_c, label])
                body_chars = len(body.decode("utf-8", "replace"))
                offset, length = char_pos, body_chars
                char_pos += body_chars
            docs.append(doc_from_entry(entry, offset, length, value, places))
        return docs
