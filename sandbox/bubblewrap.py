"""The bubblewrap backend: the kernel in namespaces and a minimal root made by bubblewrap
(`bwrap`, Debian's `bubblewrap` package), which needs no root: new user, PID, network, IPC,
UTS and cgroup namespaces, a root of nothing but the Python installation and a few system
paths (read-only), the work directory (read-write), a private /dev and /proc, and every
capability dropped; inside it, before the kernel starts, the same Landlock allow-list and
seccomp filter (the socket family allow-list included) as the default launcher's, and the
same resource limits outside. The backend "auto" picks when this process is not root and
bubblewrap can make a user namespace here.

How it launches: `sandbox/bubblewrap_launch.py` (outside: limits, the kernel's inputs as
sealed files, a watchdog that cleans up if the host dies, then `bwrap`), and inside
`sandbox/inner_stage.py` (Landlock, seccomp, then the kernel).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

from sandbox.host import Sandbox


class BubblewrapSandbox(Sandbox):
    """A sandbox whose kernel bubblewrap isolates (see the module's docstring)."""

    backend: ClassVar[str] = "bubblewrap"
    kernel_depth: ClassVar[int] = 3  # the launch command's watchdog, then bwrap, its init (PID 1), the kernel
    own_uid: ClassVar[bool] = False  # the kernel keeps the host's uid (outside), with no capability

    def launch_argv(self, launch_spec: Path) -> list[str]:
        return [sys.executable, "-s", "-P", "-m", "sandbox.bubblewrap_launch", str(launch_spec)]


def bwrap_path() -> str | None:
    """bubblewrap's executable, from the system's directories only (never a PATH entry of
    the user's or a project's)."""
    return shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why bubblewrap cannot isolate a kernel on this host, or None when it can."""
    bwrap = bwrap_path()
    if bwrap is None:
        return "bubblewrap is not installed (Debian: apt install bubblewrap)"
    try:
        probe = subprocess.run([bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/",
                                "--", "/bin/true"], capture_output=True, timeout=20, check=False, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not run: {exc}"
    if probe.returncode != 0:
        why = probe.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap cannot make namespaces here: {why[-1][:300] if why else probe.returncode}"
    return None


def usable_without_root() -> bool:
    """Whether "auto" should pick this backend: the host is not root and bubblewrap works."""
    return os.getuid() != 0 and unavailable() is None
