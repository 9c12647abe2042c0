"""Running a command as a user without root (nobody), from a test run as root: how the tests
try what people who run the tool as themselves get."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nobody() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def _become(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def run_as_nobody(argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 300,
                  stdin: bytes | None = None) -> subprocess.CompletedProcess:
    uid = nobody()
    return subprocess.run(argv, preexec_fn=lambda: _become(uid), env={"PYTHONPATH": str(ROOT), **env},
                          cwd=cwd, capture_output=True, check=False, timeout=timeout, input=stdin)


def why_not() -> str | None:
    """Why the tests cannot run something as nobody here, or None when they can."""
    if os.getuid() != 0:
        return "needs root to become another user"
    try:
        r = run_as_nobody([sys.executable, "-c", "import sandbox.host, rlm"], env={}, cwd=Path("/"), timeout=60)
    except OSError as exc:
        return f"cannot become nobody: {exc}"
    if r.returncode != 0:
        return ("this Python or this checkout is not reachable by an unprivileged user "
                f"({r.stderr.decode(errors='replace').strip().splitlines()[-1:]})")
    return None
