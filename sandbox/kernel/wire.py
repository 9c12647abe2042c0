"""Framing for the host bridge: length-prefixed JSON frames over a Unix stream socket.

Imported both on the host and inside the kernel, so it uses the standard library only.
A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. File
descriptors (for context files) ride along a frame as SCM_RIGHTS ancillary data.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

MAX_FRAME_BYTES = 512 * 1024 * 1024
# a request from the kernel to the host: larger sub-contexts travel as files (see rlm_query)
MAX_REQUEST_BYTES = 64 * 1024 * 1024
HEADER = _HEADER = struct.Struct(">I")
# host memory an item of decoded JSON may take beyond its text, at most (an empty dict in a list
# takes some 70 bytes for the 3 of `{},`; a member of a dict with unique keys about 100)
_ITEM_BYTES = 100


class WireError(Exception):
    """The peer closed the connection or sent a malformed frame."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    remaining = n
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise WireError("connection closed before a whole frame arrived")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def scrub_text(text: str) -> str:
    """`text` as valid Unicode: each lone surrogate (chr(0xD800), a broken `\\ud800` escape in
    JSON) becomes U+FFFD, a pair written as two code points becomes the character it encodes.
    UTF-8 cannot carry a lone surrogate, so without this one character stops a message."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def scrub(value: Any, depth: int = 0) -> Any:
    """`value` (JSON-like: dicts, lists, strings...) with every string, keys included, made valid
    Unicode by `scrub_text`; other values as they are. Past 100 levels a value is left as is
    (json.dumps refuses such depth anyway)."""
    if isinstance(value, str):
        return scrub_text(value)
    if depth > 100:
        return value
    if isinstance(value, dict):
        return {scrub(k, depth + 1): scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, depth + 1) for v in value]
    return value


def send_frame(sock: socket.socket, obj: Any, fds: list[int] | None = None,
               max_bytes: int = MAX_FRAME_BYTES, default: Callable[[Any], Any] | None = None) -> None:
    """Send one JSON frame, with file descriptors attached to its first byte if given
    (`default`: as json.dumps's, for what JSON has no form for). Lone surrogates anywhere in
    `obj` go as U+FFFD."""
    text = json.dumps(obj, ensure_ascii=False, default=default)
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        body = json.dumps(scrub(obj), ensure_ascii=False, default=default).encode("utf-8")
    if len(body) > max_bytes:
        raise WireError(f"a frame of {len(body):,} bytes is over the {max_bytes:,}-byte limit")
    data = _HEADER.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(sock, [data[:1]], fds)
        if sent != 1:
            raise WireError("could not send file descriptors")
        data = data[1:]
    sock.sendall(data)


def recv_frame(sock: socket.socket, max_fds: int = 0,
               max_bytes: int = MAX_FRAME_BYTES) -> tuple[Any, list[int]]:
    """Receive one JSON frame and any file descriptors that came with it. The length is checked
    before the body is read; on any failure the descriptors received are closed."""
    fds: list[int] = []
    try:
        if max_fds:
            first, fds, _flags, _addr = socket.recv_fds(sock, 1, max_fds)
            if not first:
                raise WireError("connection closed before a frame arrived")
            header = first + _recv_exact(sock, _HEADER.size - 1)
        else:
            header = _recv_exact(sock, _HEADER.size)
        (length,) = _HEADER.unpack(header)
        if length > max_bytes:
            raise WireError(f"a frame of {length:,} bytes is over the {max_bytes:,}-byte limit")
        return decode(_recv_exact(sock, length)), fds
    except BaseException:
        close_fds(fds)
        raise


def decode(body: bytes | bytearray) -> Any:
    """The JSON value of a frame's body (WireError if it is not UTF-8 JSON)."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise WireError(f"malformed frame: {type(exc).__name__}: {str(exc)[:200]}") from None
    # an escaped lone surrogate (\\ud800) decodes to text nothing downstream can encode
    return scrub(value) if any(mark in body for mark in _SURROGATE_ESCAPES) else value


def decoded_cost(body: bytes | bytearray) -> int:
    """An upper estimate of the memory `decode(body)` holds at its peak, counted without
    decoding: the body, its text and the strings parsed from it (1 byte a character for ASCII,
    2 for the Basic Multilingual Plane, 4 beyond), plus an overhead for every `,` `:` `[` `{`
    (each item of an array or object follows one; those inside strings count too, which only
    overestimates)."""
    if body.isascii() and b"\\u" not in body:
        width = 1
    elif any(mark in body for mark in _ASTRAL):
        width = 4
    else:
        width = 2
    items = body.count(b",") + body.count(b":") + body.count(b"[") + body.count(b"{")
    return len(body) * (1 + 2 * width) + _ITEM_BYTES * items + 65536


# what puts a character beyond the Basic Multilingual Plane into a string: a 4-byte UTF-8
# sequence, or an escaped surrogate
_ASTRAL = tuple(bytes([lead]) for lead in range(0xF0, 0xF5)) + tuple(
    b"\\u" + d + hi for d in (b"d", b"D") for hi in (b"8", b"9", b"a", b"b", b"A", b"B"))


_SURROGATE_ESCAPES = tuple(b"\\u" + d + hi for d in (b"d", b"D") for hi in (bytes([c]) for c in b"89abcdefABCDEF"))


def close_fds(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
