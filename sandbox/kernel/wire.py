"""Framing for the host bridge: length-prefixed JSON frames over a Unix stream socket.

Imported both on the host and inside the kernel, so it uses the standard library only.
A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. File
descriptors (for context files) ride along a frame as SCM_RIGHTS ancillary data.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

MAX_FRAME_BYTES = 512 * 1024 * 1024
_HEADER = struct.Struct(">I")


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


def send_frame(sock: socket.socket, obj: Any, fds: list[int] | None = None) -> None:
    """Send one JSON frame, with file descriptors attached to its first byte if given."""
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_FRAME_BYTES:
        raise WireError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    data = _HEADER.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(sock, [data[:1]], fds)
        if sent != 1:
            raise WireError("could not send file descriptors")
        data = data[1:]
    sock.sendall(data)


def recv_frame(sock: socket.socket, max_fds: int = 0) -> tuple[Any, list[int]]:
    """Receive one JSON frame and any file descriptors that came with it."""
    fds: list[int] = []
    if max_fds:
        first, fds, _flags, _addr = socket.recv_fds(sock, 1, max_fds)
        if not first:
            raise WireError("connection closed before a frame arrived")
        header = first + _recv_exact(sock, _HEADER.size - 1)
    else:
        header = _recv_exact(sock, _HEADER.size)
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise WireError(f"frame of {length} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    try:
        return json.loads(_recv_exact(sock, length).decode("utf-8")), fds
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"malformed frame: {exc}") from exc
