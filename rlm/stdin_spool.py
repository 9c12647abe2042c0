"""Standard input kept as a file next to the runs, so that it is read as a file is and a run
over it can be resumed.

The text is written to `stdin-<pid>-<random>.txt` in the runs directory as it arrives (never
held in the host). Its life:

- while it is being read it is `.stdin-<pid>-<random>.part`, removed if reading fails or is
  interrupted (Ctrl-C, SIGTERM, SIGHUP); a reader killed outright (SIGKILL) leaves the part,
  removed by the next reader once that process is gone;
- until a run's trajectory records it (`claim`), it is removed on any exit of the process:
  an error before the run starts, Ctrl-C, SIGTERM, SIGHUP;
- once recorded, it stays with the run while that run can be resumed (interrupted, killed,
  stopped by a budget) and is removed when the run, or a resume of it, answers (`release`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

from rlm.errors import ContextError
from rlm.writable import ensure_dir

STDIN_LABEL = "standard input"  # what the model and the user are told the context is
_CHUNK = 4 << 20
_PART = re.compile(r"\.stdin-(\d+)-\w+\.part")
_SPOOL = re.compile(r"stdin-\d+-\w+\.txt")
_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

_pending: set[str] = set()  # spool files of this process no run has recorded yet
_previous: dict[int, Any] = {}
_lock = threading.Lock()


def spool_stdin(stream: Any, directory: Path | None = None) -> Path:
    """Write `stream` (bytes, or text, read to its end) to a spool file in `directory` (the
    runs directory; None: the temporary directory) and return its path. ContextError when
    standard input is empty or cannot be written; ConfigError when the directory cannot be made."""
    directory = Path(directory) if directory is not None else Path(tempfile.gettempdir())
    ensure_dir(directory, "the piped input", setting="runs_dir", option="--runs-dir DIR")
    try:
        _sweep_parts(directory)
        _guard_signals()
        fd, part = tempfile.mkstemp(prefix=f".stdin-{os.getpid()}-", suffix=".part", dir=directory)
    except OSError as exc:
        raise ContextError(f"cannot keep standard input in {directory}: {exc.strerror or exc}") from None
    _pending.add(part)
    final = str(directory / f"stdin-{os.getpid()}-{secrets.token_hex(6)}.txt")
    try:
        total = 0
        read = getattr(stream, "read1", stream.read)  # what has arrived, not a full chunk
        with os.fdopen(fd, "wb") as out:
            while chunk := read(_CHUNK):
                if isinstance(chunk, str):  # a text stream (tests, notebooks): already decoded
                    chunk = chunk.encode("utf-8", "surrogateescape")
                out.write(chunk)
                total += len(chunk)
                _check_room(directory, total)
        if not total:
            raise ContextError("standard input is empty")
        _pending.add(final)  # before the rename: a signal in between removes one or the other
        os.rename(part, final)
    except OSError as exc:
        _discard(part, final)
        raise ContextError(f"cannot keep standard input in {directory}: {exc.strerror or exc}") from None
    except BaseException:
        _discard(part, final)
        raise
    _pending.discard(part)
    return Path(final)


FREE_FLOOR_BYTES = 1 << 30  # piped input stops before it leaves less than this free on its disk


def _check_room(directory: Path, written: int) -> None:
    """Never-ending input (`yes | rlm query -`) must not fill the disk the runs live on."""
    st = os.statvfs(directory)
    if st.f_bavail * st.f_frsize < FREE_FLOOR_BYTES:
        raise ContextError(f"standard input stopped after {written:,} bytes: the disk of {directory} would have "
                           f"less than {FREE_FLOOR_BYTES >> 30} GiB free; give the text as a file, or a runs "
                           "directory on a larger disk (--runs-dir DIR)")


def is_spool(path: Path) -> bool:
    """Whether `path` is named as a finished spool file."""
    return bool(_SPOOL.fullmatch(path.name))


def claim(path: Path) -> None:
    """A run's trajectory recorded `path`: it is kept at exit from now on (a resume needs it)."""
    _pending.discard(str(path))
    if not _pending and threading.current_thread() is threading.main_thread():
        with _lock:  # nothing left to remove: the signals are handled as they were
            for sig, previous in _previous.items():
                signal.signal(sig, previous)
            _previous.clear()


def release(path: Path) -> None:
    """The run over `path` answered: nothing will resume it, the spool goes."""
    if is_spool(path):
        _discard(str(path))


def _discard(*paths: str) -> None:
    for path in paths:
        _pending.discard(path)
        with contextlib.suppress(OSError):
            os.unlink(path)


@atexit.register
def _remove_pending() -> None:
    for path in list(_pending):
        with contextlib.suppress(OSError):
            os.unlink(path)


def _on_signal(signum: int, frame: Any) -> None:
    """Remove what no run recorded, then end as the signal's earlier handler would."""
    _remove_pending()
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _guard_signals() -> None:
    """Handle SIGTERM and SIGHUP (where not ignored) from now on; only the main thread can."""
    if threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        for sig in _SIGNALS:
            current = signal.getsignal(sig)
            if current in (_on_signal, signal.SIG_IGN):  # ignored (nohup): the process stays
                continue
            _previous[sig] = current if current is not None else signal.SIG_DFL
            signal.signal(sig, _on_signal)


def _sweep_parts(directory: Path) -> None:
    """Remove the parts that readers killed outright left (their process is gone)."""
    for entry in directory.glob(".stdin-*.part"):
        match = _PART.fullmatch(entry.name)
        if not match or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                entry.unlink()
        except OSError:  # alive, another user's
            continue
