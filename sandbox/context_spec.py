"""What a prepared context is (`ContextSpec`) and the words that describe one to the model
(a str or a Corpus, sizes in human units).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    # the files last handed to the kernel, by path: (device, inode) of what it was given (the
    # host reads the same files to check citations, never a file swapped in at a path since)
    handed: dict[str, tuple[int, int]] = field(default_factory=dict)

    def memory_estimate(self) -> int:
        """Bytes of kernel memory the loaded value needs (a generous upper estimate)."""
        if self.mode == "corpus":
            return 0
        if self.mode == "json":
            return self.nbytes * 10
        if self.mode == "bytes":
            return self.nbytes
        return self.nbytes * 4 if self.str_bytes is None else self.str_bytes


# how the model is told about a context above max_str_bytes
CORPUS_KIND = ("Corpus (memory-mapped; use it like a str: re.search(p, context), re.findall, 'x' in context, "
               "context.find, context[a:b], context.splitlines(); offsets are bytes; "
               "context.help_text() lists the rest)")


def text_mode(str_bytes: int, max_str_bytes: int) -> str:
    """A str when the decoded text fits max_str_bytes (one emoji makes every character of a
    str 4 bytes wide), else a Corpus."""
    return "corpus" if str_bytes > max_str_bytes else "text"


def human_size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)
