"""Where the isolated processes' Python lives: the directories the kernel and the extraction
worker may read (the installation, the site-packages, their dependencies' directories, the
`sandbox` package itself) and add to sys.path. Computed on the host, from this interpreter."""

from __future__ import annotations

import functools
import os
import re
import site
import sys
from pathlib import Path
from typing import Any

_SYSTEM_READ_PATHS = (
    "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/proc", "/etc/ld.so.cache",
    "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts",
    "/etc/mime.types", "/sys/devices/system/cpu",
)
_PACKAGE_DIR = Path(__file__).resolve().parent  # the `sandbox` package


KERNEL_DISTRIBUTIONS = ("ipykernel", "RestrictedPython", "regex", "pyperscan", "google-re2", "landlock", "pyseccomp")
# what the document extraction worker imports besides the launcher's layers
EXTRACTOR_DISTRIBUTIONS = ("landlock", "pyseccomp", "pypdfium2", "python-docx", "python-pptx", "openpyxl",
                           "lxml", "zstandard", "Pillow")


def distributions(roots: tuple[str, ...] = KERNEL_DISTRIBUTIONS) -> list[Any]:
    """The installed distributions `roots` name and every one they require (not their
    extras), wherever installed; an optional requirement not installed here is left out."""
    from importlib import metadata

    found: list[Any] = []
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional requirement not installed here (a platform marker, say)
        found.append(dist)
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))  # type: ignore[union-attr]
    return found


@functools.lru_cache(maxsize=4)
def _dependency_dirs(roots: tuple[str, ...] = KERNEL_DISTRIBUTIONS) -> tuple[str, ...]:
    """The directories (sys.path entries of this interpreter) that hold what the launcher and
    the kernel import (or, given other `roots`, what those distributions import): ipykernel,
    RestrictedPython, regex, landlock, pyseccomp and every distribution they require, wherever
    they are installed (site-packages, a `--target` directory on PYTHONPATH...)."""
    dirs = {str(Path(str(dist.locate_file(""))).resolve()) for dist in distributions(roots)}
    return tuple(sorted(d for d in dirs if os.path.isdir(d)))


def _kernel_import_paths(roots: tuple[str, ...] = KERNEL_DISTRIBUTIONS) -> list[str]:
    """Directories the kernel adds to sys.path (after its own site-packages): those holding its
    dependencies that the interpreter would not find by itself (it runs with -s -P, no
    PYTHONPATH). Read-only to the kernel, like every read path."""
    default = {str(Path(p).resolve()) for p in site.getsitepackages()}
    return [d for d in _dependency_dirs(roots) if d not in default]


def _python_read_paths(roots: tuple[str, ...] = KERNEL_DISTRIBUTIONS) -> list[str]:
    """What the kernel's Python reads: the installation, its site-packages, the directories of
    its dependencies and the `sandbox` package itself, never the directory above it (in an
    editable install, the whole checkout)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(site.getsitepackages())
    paths.update(_dependency_dirs(roots))
    paths.add(str(_PACKAGE_DIR))
    return sorted(p for p in paths if os.path.exists(p))
