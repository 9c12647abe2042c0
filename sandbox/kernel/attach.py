"""Files a tool module sends to the host with a request (a sub-context too large for a
message): written to an unlinked file in the work directory and handed over as an open
descriptor by the bridge. A tool module holds an `Attached` and never a descriptor number."""

from __future__ import annotations

import os
import time


class Attached:
    """One file written for the host; `close()` once the request that carried it returned."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def attach(work_dir: str, data: str | bytes) -> Attached:
    """Write `data` (text as UTF-8) to an unlinked file in `work_dir`, open for reading."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        fd = os.open(work_dir, os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError:  # no O_TMPFILE on this file system: a named file, unlinked at once
        path = os.path.join(work_dir, f".subctx-{os.getpid()}-{time.monotonic_ns()}")
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.unlink(path)
    try:
        view = memoryview(raw)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return Attached(fd)
