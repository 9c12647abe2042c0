"""Settings of a sandbox, grouped in one dataclass with safe defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

GiB = 2**30
MiB = 2**20


@dataclass
class SandboxConfig:
    """How a sandbox runs model code.

    backend: which sandbox backend runs the kernel (see `sandbox.backend`): "auto" (the best
        this host offers), "launcher" (the built-in launcher: namespaces, a minimal root, an
        unprivileged uid and cgroups when run as root; Landlock and seccomp always),
        "bubblewrap" (namespaces and a minimal root without root), "container" (a Podman
        container), or a registered name.
    container_image: the image the container backend runs the kernel in (None: the project's
        own, built once from this Python; see `sandbox.container_image`). Another image needs
        a Python 3.11+ under /usr with the kernel's packages (docs/sandbox.md).
    container_python: the Python inside `container_image` (None: this interpreter's path,
        which the project's image keeps; for another image, "/usr/local/bin/python3").
    container_runtime: the engine's OCI runtime: "auto" (the engine's default, or runc where
        the default cannot run here), "runsc" (gVisor: a kernel of its own between the sandbox
        and this machine's; Landlock is then not applied, gVisor lacks it), or another's name.
    policy: "restricted" compiles model code with RestrictedPython (guarded builtins and an
        import allow-list); "trusted" runs plain Python. Both run under the OS isolation.
    work_root: where work directories are created (default: the system temp directory).
    cell_timeout_s: default time limit of one `execute` call.
    interrupt_grace_s: how long an interrupted cell may take to stop before the kernel
        is killed and restarted.
    output_limit_chars: cap on the stdout returned by one cell (head and tail are kept).
    keep_output_chars: cap on what the kernel keeps of each cell's output in `Out[n]`.
    max_str_bytes: contexts up to this size become a `str`; larger ones a memory-mapped Corpus.
    memory_limit_bytes: all the memory the sandbox may hold (None: sized from the contexts, at
        least min_memory_bytes): its processes' data segments (RLIMIT_DATA) and, where the host
        has cgroups, everything together: anonymous and shared memory (mmap, memfd, SysV
        segments) and the work directory's files, which live in memory.
    cpu_seconds, file_size_bytes, open_files, processes: kernel resource limits.
    disk_quota_bytes: the most the work directory may hold in all (open or deleted files
        included): it is a size-limited tmpfs when the host may mount (as root), so its files
        are memory and count toward memory_limit_bytes as well.
    hidden_files: a directory context includes hidden files and directories (names starting with '.').
    ignore_files: a directory context leaves out what its .gitignore / .ignore files exclude.
    extract_documents: files of a document format (PDF, Word, PowerPoint, Excel, OpenDocument,
        EPUB, HTML, e-mail, compressed files, zip and tar archives) are read as text, with their
        pages and parts, by isolated workers (False: binary ones are left out, HTML and mail
        read as they are).
    extract_time_s, extract_max_bytes, extract_memory_bytes: limits on reading one document
        file (its text so far is kept past the first two, and what was cut is said).
    extract_cache_dir: where extracted text is kept by content (default: ~/.cache/rlm/documents).
    network_isolation, landlock, seccomp: turn an OS layer off (for diagnosis only).
    require_isolation: raise instead of warning when an OS layer is unavailable.
    """

    backend: str = "auto"
    container_image: str | None = None
    container_python: str | None = None
    container_runtime: str = "auto"
    policy: Literal["restricted", "trusted"] = "restricted"
    work_root: Path | None = None
    cell_timeout_s: float = 300.0
    interrupt_grace_s: float = 3.0
    startup_timeout_s: float = 60.0
    output_limit_chars: int = 20_000
    keep_output_chars: int = 1_000_000
    max_source_chars: int = 1_000_000
    max_str_bytes: int = 2 * GiB
    memory_limit_bytes: int | None = None
    min_memory_bytes: int = 2 * GiB
    cpu_seconds: int = 6 * 3600
    file_size_bytes: int = 1 * GiB
    open_files: int = 256
    processes: int = 64
    disk_quota_bytes: int = 1 * GiB
    hidden_files: bool = False
    ignore_files: bool = True
    extract_documents: bool = True
    extract_time_s: float = 120.0
    extract_max_bytes: int = 1 * GiB
    extract_memory_bytes: int = 2 * GiB
    extract_cache_dir: Path | None = None
    network_isolation: bool = True
    landlock: bool = True
    seccomp: bool = True
    require_isolation: bool = False

    def __post_init__(self) -> None:
        if self.policy not in ("restricted", "trusted"):
            raise ValueError(f"policy must be 'restricted' or 'trusted', not {self.policy!r}")
        if not isinstance(self.backend, str) or not self.backend.replace("-", "_").isidentifier():
            raise ValueError(f"backend must be a backend's name, not {self.backend!r}")
        problem = container_names_problem(self)
        if problem:
            raise ValueError(problem)
        for name in ("cell_timeout_s", "interrupt_grace_s", "startup_timeout_s", "extract_time_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("output_limit_chars", "keep_output_chars", "max_str_bytes", "processes",
                     "open_files", "file_size_bytes", "cpu_seconds", "disk_quota_bytes", "extract_max_bytes",
                     "extract_memory_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


CONTAINER_NAMES = ("container_image", "container_python", "container_runtime")


def container_names_problem(config: SandboxConfig) -> str | None:
    """Why one of `config`'s container names cannot go on an engine's command line (a leading
    '-' would be read as an option, a space or NUL splits or ends it), or None."""
    for name in CONTAINER_NAMES:
        value = getattr(config, name)
        if value is not None and (not isinstance(value, str) or not value or value.startswith("-")
                                  or any(c.isspace() or c == "\0" for c in value)):
            return f"{name} must be a name without spaces or a leading '-', not {value!r}"
    return None
