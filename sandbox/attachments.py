"""Files a kernel sends with a request (a sub-context too large for a message): what the host
may learn of one (its size, its identity, its data extents) and the private copy it makes,
always through the descriptor the kernel sent and by offset, never by reopening a path the
kernel could have swapped for a link. The transport (descriptors over the bridge's Unix
socket) stays the sandbox's: a host handler sees `HostRequest.attachments` only."""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sandbox.scratch import allocated_bytes, copy_sparse


class AttachmentTooLarge(ValueError):
    """A copy would hold more data than the limit it was given."""


@dataclass(frozen=True)
class Attachment:
    """One file sent with a request, open until the handler returns (do not keep it)."""

    fd: int

    @property
    def size(self) -> int:
        """Its apparent size in bytes (ValueError when it is not a regular file)."""
        info = os.fstat(self.fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("an attachment must be a regular file")
        return info.st_size

    @property
    def identity(self) -> tuple[int, int]:
        """(device, inode): the same file sent twice has one identity."""
        info = os.fstat(self.fd)
        return info.st_dev, info.st_ino

    def copy_to(self, directory: Path, suffix: str, max_data_bytes: int) -> tuple[Path, int]:
        """A private copy in `directory`, holes kept as holes; returns it and the bytes of data
        written. AttachmentTooLarge when it holds more than `max_data_bytes` of data."""
        size = self.size
        if allocated_bytes(self.fd) > max_data_bytes:
            raise AttachmentTooLarge(max_data_bytes)
        out_fd, name = tempfile.mkstemp(suffix=suffix, dir=directory)
        try:
            written = copy_sparse(self.fd, out_fd, size, max_data_bytes)
        except ValueError:
            os.close(out_fd)
            os.unlink(name)
            raise AttachmentTooLarge(max_data_bytes) from None
        os.close(out_fd)
        return Path(name), written
