"""Processes a cell leaves behind are ended with the cell (runs inside the kernel).

The kernel is made a child subreaper, so whatever a cell forks stays below it even after
`setsid()` or a double fork (as root the kernel is also PID 1 of its own namespace, where
orphans come to it anyway). When a cell returns, every descendant of the kernel is killed and
reaped: a cell cannot leave a busy child holding the cores, a server, or a fork loop running
past its time limit. Standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import signal
import time

_PR_SET_CHILD_SUBREAPER = 36
_ROUNDS = 100  # kill-and-rescan rounds without a pause: a fork loop adds children while the first are killed
_SETTLE_S = 5.0  # then, pausing between rounds, until none is left: a killed process counts
# against the sandbox's process limit until it is reaped, and on a busy machine it dies later
# than 100 quick rounds (the next cell's fork then failed with EAGAIN)


def become_subreaper() -> bool:
    """Make this process the reaper of every orphan below it (False where Linux refuses)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/task/{tid}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found


def descendants(pid: int | None = None) -> list[int]:
    """Every process below `pid` (default: this one), parents before their children."""
    root = os.getpid() if pid is None else pid
    out: list[int] = []
    stack = _children(root)
    while stack:
        child = stack.pop()
        if child in out or child == root:
            continue
        out.append(child)
        stack += _children(child)
    return out


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_descendants() -> int:
    """SIGKILL every descendant of this process (stopped ones first, so none forks again) and
    reap the dead; returns how many were killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + _SETTLE_S
    for round_ in itertools.count():
        pids = descendants()
        if not pids or (round_ >= _ROUNDS and time.monotonic() > deadline):
            break
        if round_ >= _ROUNDS:
            time.sleep(0.01)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        _reap()
    _reap()
    return len(killed)
