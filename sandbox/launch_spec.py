"""What a kernel is launched with, written to the host's private directory: the kernel's
options (read by `sandbox/kernel/boot.py`), its scrubbed environment, and the launch spec
(`launch.json`), the contract between the host and a backend's launch command.

The launch spec's keys: `conn_file` and `options_file` (the two files the kernel gets as
descriptors, appended to `exec`), `exec` (the kernel's argv), `env` (its whole environment),
`work_dir` (its working directory, the only place it may write: `rw_paths`), `read_paths`
(what it may read), `limits` (rlimits), `uid`/`gid` (the uid to drop to, when the host is root),
`cgroup_procs`, `network`, `landlock`, `seccomp` (layers the configuration turned off), `report`
(where the launch command writes the isolation layers it applied, as a JSON list of
{"layer", "active", "detail"}), `new_root` (an empty directory of the host's for a minimal root),
and `cleanup` (what to remove if the host dies without closing the sandbox).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.python_paths import _PACKAGE_DIR, _SYSTEM_READ_PATHS, _kernel_import_paths, _python_read_paths
from sandbox.workspace import Workspace


def kernel_env(work_dir: Path) -> dict[str, str]:
    """The kernel's whole environment: nothing of the host's (no key, no path of the user's)."""
    kdir = work_dir / ".kernel"
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work_dir),
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "TMPDIR": str(work_dir / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "IPYTHONDIR": str(kdir / "ipython"),
        "JUPYTER_RUNTIME_DIR": str(kdir / "jupyter"),
        "JUPYTER_DATA_DIR": str(kdir / "jupyter"),
        "JUPYTER_CONFIG_DIR": str(kdir / "jupyter"),
        "MPLCONFIGDIR": str(kdir / "mpl"),
        "JPY_PARENT_PID": str(os.getpid()),
    }


def launcher_env(work_dir: Path) -> dict[str, str]:
    """The launch command's own environment (it runs host code before any layer)."""
    out = {k: v for k, v in kernel_env(work_dir).items() if k in ("PATH", "LANG", "LC_ALL")}
    out["PYTHONPATH"] = os.pathsep.join([str(_PACKAGE_DIR.parent), *_kernel_import_paths()])
    return out


def write_launch(config: SandboxConfig, ws: Workspace, memory_bytes: int) -> Path:
    """Write the kernel's options and the launch spec in the host's directory; return the
    spec's path. The launch command's report of an earlier launch is removed."""
    cfg = config
    options = {
        "work_dir": str(ws.work_dir),
        "bridge_path": str(ws.work_dir / "bridge.sock"),
        "policy": cfg.policy,
        "output_limit": cfg.output_limit_chars,
        "keep_limit": cfg.keep_output_chars,
        "max_source_chars": cfg.max_source_chars,
        "memory_limit": memory_bytes,
        "import_paths": _kernel_import_paths(),
    }
    # written only in the host's private directory; the launch command hands them to the kernel
    options_path = ws.host_dir / "options.json"
    options_path.write_text(json.dumps(options))
    new_root = ws.host_dir / "root"
    new_root.mkdir(mode=0o700, exist_ok=True)
    launch: dict[str, Any] = {
        "conn_file": str(connection_file(ws)),
        "options_file": str(options_path),
        "new_root": str(new_root),
        "cgroup_procs": ws.cgroup.procs if ws.cgroup is not None else [],
        "cgroup_detail": ws.cgroup_detail,
        "quota_detail_active": ws.quota[0],
        "quota_detail": ws.quota[1],
        "report": str(report_path(ws)),
        # what the launcher removes if this process dies without closing the sandbox
        "cleanup": {"work_dir": str(ws.work_dir), "work_top": str(ws.work_top), "host_dir": str(ws.host_dir),
                    "unmount": ws.quota_mounted,
                    "cgroup_dirs": [str(d) for d in ws.cgroup.dirs] if ws.cgroup else []},
        "work_dir": str(ws.work_dir),
        "uid": ws.uid,
        "gid": ws.gid,
        "limits": {
            "cpu_seconds": cfg.cpu_seconds,
            "memory_bytes": memory_bytes,
            "file_bytes": cfg.file_size_bytes,
            "open_files": cfg.open_files,
            "processes": cfg.processes,
        },
        "read_paths": [p for p in _SYSTEM_READ_PATHS if os.path.exists(p)] + _python_read_paths(),
        "rw_paths": [str(ws.work_dir)],
        "network": cfg.network_isolation,
        "landlock": cfg.landlock,
        "seccomp": cfg.seccomp,
        "env": kernel_env(ws.work_dir),
        # boot loads `sandbox` from its own directory: no sys.path entry for the directory
        # above (in an editable install, the checkout, which the kernel may not list), and
        # -P keeps the work directory (the kernel's to write) off sys.path, so a restarted
        # kernel never imports what model code planted there
        "exec": [sys.executable, "-s", "-P", str(_PACKAGE_DIR / "kernel" / "boot.py")],  # + two descriptors
    }
    path = ws.host_dir / "launch.json"
    path.write_text(json.dumps(launch))
    for stale in (connection_file(ws), report_path(ws)):
        stale.unlink(missing_ok=True)
    return path


def connection_file(ws: Workspace) -> Path:
    return ws.host_dir / "connection.json"


def report_path(ws: Workspace) -> Path:
    return ws.host_dir / "isolation.json"
