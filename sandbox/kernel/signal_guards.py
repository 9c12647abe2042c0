"""The two signal guards around model code the kernel runs outside a cell's own time (runs
inside the kernel): `time_limit` (SIGALRM raises `_TimeUp` in what runs past a bound) and
`interruptible` (SIGINT raises KeyboardInterrupt only while model code runs).
"""

from __future__ import annotations

import contextlib
import signal
import time
from typing import Any


class _TimeUp(Exception):
    __module__ = "sandbox.kernel.runtime"  # its home before the split, the name model code and the host see


def _time_up(signum: int, frame: Any) -> None:
    raise _TimeUp


@contextlib.contextmanager
def time_limit(seconds: float) -> Any:
    """Raise _TimeUp in the code it wraps after `seconds` (the host does not interrupt the
    kernel's own operations, so one that runs model code bounds it itself). Inside another
    time limit, the sooner end holds, and the outer one goes on after."""
    outer, _ = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    old = signal.signal(signal.SIGALRM, _time_up)
    signal.setitimer(signal.ITIMER_REAL, max(min(seconds, outer) if outer else seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


@contextlib.contextmanager
def interruptible() -> Any:
    """Let SIGINT raise KeyboardInterrupt only while model code runs. Everywhere else in the
    kernel it stays ignored (the kernel overrides ipykernel's handler hooks): an interrupt that
    lands while a request is being read or its reply sent would otherwise lose the reply. The
    host re-sends the interrupt until the cell's reply arrives, so none is lost."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
