"""The bytes a fast engine scans, taken from a mapped file (runs inside the kernel).

A scan of a multi-GiB Corpus runs Vectorscan over blocks of the map. In place, each page of a
file that is not in the page cache comes in by a page fault, and a fault per page (even with
the kernel's read-ahead) costs more than the scan itself. A large file is therefore mapped as a
`MappedFile`, which keeps its own descriptor: a block is read with `preadv` into a buffer of
this process (one large sequential read) and scanned there, and the map serves the few places
a match is confirmed. Small files, whose blocks are small, are scanned in place; the parts of a
mapped directory (`Segments`) are copied a block at a time, as before.
"""

from __future__ import annotations

import mmap
import os
import threading
import weakref
from typing import Any

READ_MIN = 64 << 20  # a file at least this large is read, not faulted in
READ_BLOCK = 16 << 20  # the largest block read into the buffer (its size, with what a block reaches past)

_local = threading.local()

__all__ = ["MappedFile", "map_file", "largest_block", "scanned"]


class MappedFile(mmap.mmap):
    """A read-only map of a file that can also read its blocks (`reader`: a descriptor of its own)."""

    reader: int | None = None


def map_file(fd: int) -> mmap.mmap:
    """A read-only map of the file open as `fd`, read ahead for front-to-back scans; a large
    file's map also reads (see the module docstring)."""
    size = os.fstat(fd).st_size
    mapped = MappedFile(fd, 0, access=mmap.ACCESS_READ)
    mapped.madvise(mmap.MADV_SEQUENTIAL)
    if size >= READ_MIN:
        reader = os.dup(fd)
        os.set_inheritable(reader, False)
        mapped.reader = reader
        weakref.finalize(mapped, os.close, reader)
    return mapped


def largest_block(buffer: Any, in_place: int, copied: int) -> int:
    """How large a block of `buffer` may grow: `in_place` for a map scanned in place, at most
    READ_BLOCK for one that is read, `copied` for anything else."""
    if not isinstance(buffer, mmap.mmap):
        return copied
    return in_place if getattr(buffer, "reader", None) is None else min(in_place, READ_BLOCK)


def scanned(buffer: mmap.mmap, a: int, b: int) -> Any:
    """Bytes [a, b) of a map as something a scanner takes: read into this thread's buffer where
    the map reads, else a view of the map (the caller releases it)."""
    reader = getattr(buffer, "reader", None)
    if reader is None or b - a > 4 * READ_BLOCK:
        return memoryview(buffer)[a:b]
    held = getattr(_local, "buffer", None)
    if held is None or len(held) < b - a:
        held = _local.buffer = bytearray(max(b - a, 1 << 20))
    view = memoryview(held)[: b - a]
    done = 0
    while done < b - a:
        got = os.preadv(reader, [view[done:]], a + done)
        if got == 0:  # the file was cut short under the map: what is left reads as the map gives it
            view[done:] = buffer[a + done:b]
            break
        done += got
    return view
