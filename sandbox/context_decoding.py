"""How a file's text is read: binary or not (NUL bytes), byte-order marks, plain UTF-8 or not,
the size of the decoded text (`TextSize`), and other encodings written out as UTF-8.
"""

from __future__ import annotations

import codecs
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sandbox.context_paths import open_regular

SNIFF_BYTES = 8192


_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
         (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def bom_encoding(head: bytes) -> str | None:
    """"UTF-16" / "UTF-32" when `head` starts with that byte-order mark."""
    return next((name for bom, name in _BOMS if head.startswith(bom)), None)


def is_binary(path: Path) -> bool:
    """NUL bytes near the start, as ripgrep judges, unless a UTF-16/32 byte-order mark says
    the NULs are text."""
    with open_regular(path) as f:
        head = f.read(SNIFF_BYTES)
    return b"\0" in head and bom_encoding(head) is None


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


def check_text(path: Path) -> tuple[str | None, TextSize | None]:
    """How a file's text must be read: None for plain UTF-8, else "UTF-16" / "UTF-32" (it
    starts with that byte-order mark) or "UTF-8 with invalid bytes" (they become U+FFFD);
    and, for UTF-8, its size once decoded (None for the others: measured as they are copied)."""
    with open_regular(path) as f:
        bom = bom_encoding(f.read(4))
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


def write_text(path: Path, how: str, out: Any, size: TextSize | None = None) -> int:
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


def measure_range(src: BinaryIO, offset: int, length: int) -> TextSize:
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


def decoded_note(decoded: dict[str, str]) -> str:
    """For a context description: which documents were not plain UTF-8 (the first 20)."""
    if not decoded:
        return ""
    listed = "; ".join(f"{label}: {decoding_note(how)}" for label, how in list(decoded.items())[:20])
    more = f"; and {len(decoded) - 20} more" if len(decoded) > 20 else ""
    return f"; {len(decoded)} not plain UTF-8 ({listed}{more})"


def decoding_note(how: str) -> str:
    return ("invalid UTF-8 bytes read as U+FFFD" if how == "UTF-8 with invalid bytes"
            else f"read as {how} (it starts with that byte-order mark)")
