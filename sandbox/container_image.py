"""The container backend's own image, made from this host's files: this Python installation
(its standard library, without its site-packages or tests), the files of the distributions the
kernel imports (and theirs), the shared libraries all of it links to, and a few files of /etc;
every file at the path it has here, so the kernel's paths are the same inside and out. The
`sandbox` package is not in it (the container gets it read-only at launch), so a change to
the project's code needs no new image. Nothing is fetched: the image is a tar stream given to
`podman import`, tagged by a digest of what went in, built once and kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.python_paths import KERNEL_DISTRIBUTIONS, distributions

REPOSITORY = "localhost/rlm-kernel"
_ETC = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/localtime", "/etc/ld.so.cache",
        "/etc/mime.types")
# what the kernel's layers load by name at run time (ctypes), not by linking, and the program
# ctypes.util.find_library asks for their names (it reads /etc/ld.so.cache)
_LOADED_BY_NAME = ("libseccomp.so.2",)
_PROGRAMS = ("/sbin/ldconfig",)
_SKIPPED_STDLIB = ("site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                   "__phello__")
_LIBRARY_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                 "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")


def _distribution_files(roots: tuple[str, ...]) -> set[str]:
    """Every installed file of `roots` and of what they require (not their extras)."""
    files: set[str] = set()
    for dist in distributions(roots):
        for entry in dist.files or []:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file() and ".." not in entry.parts:
                files.add(os.path.abspath(path))
    return files


def _python_files() -> set[str]:
    """The interpreter, its shared library and its standard library (compiled modules
    included), never its site-packages."""
    files = {os.path.realpath(sys.executable), sys.executable}
    for exe in (getattr(sys, "_base_executable", sys.executable), os.path.join(sys.base_prefix, "bin", "python3")):
        if os.path.exists(exe):
            files.update({exe, os.path.realpath(exe)})
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    ldlibrary = sysconfig.get_config_var("LDLIBRARY") or ""
    if libdir and ldlibrary and os.path.exists(os.path.join(libdir, ldlibrary)):
        files.add(os.path.join(libdir, ldlibrary))
    stdlib = sysconfig.get_paths()["stdlib"]
    for top, dirs, names in os.walk(stdlib):
        if top == stdlib:
            dirs[:] = [d for d in dirs if d not in _SKIPPED_STDLIB]
        dirs[:] = [d for d in dirs if d != "__pycache__" and d not in ("test", "tests")]
        files.update(os.path.join(top, n) for n in names if not n.startswith("_tkinter"))
    venv_cfg = os.path.join(sys.prefix, "pyvenv.cfg")
    if os.path.exists(venv_cfg):
        files.add(venv_cfg)
    return files


def _shared_libraries(files: Iterable[str]) -> set[str]:
    """The libraries the ELF files among `files` link to, as `ldd` resolves them here (the
    interpreter's and the kernel distributions' own files: nothing a user chose), plus what
    the kernel loads by name."""
    elves = [f for f in files if f.endswith(".so") or ".so." in os.path.basename(f) or os.access(f, os.X_OK)]
    found: set[str] = set()
    for start in range(0, len(elves), 200):
        batch = [f for f in elves[start:start + 200] if _is_elf(f)]
        if not batch:
            continue
        out = subprocess.run(["ldd", *batch], capture_output=True, text=True, check=False, env={"LC_ALL": "C"})
        for line in out.stdout.splitlines():
            m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
            if m and os.path.exists(m.group(1)):
                found.add(m.group(1))
    for name in _LOADED_BY_NAME:
        for d in _LIBRARY_DIRS:
            if os.path.exists(os.path.join(d, name)):
                found.add(os.path.join(d, name))
                break
    return found


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def image_files() -> tuple[list[str], dict[str, str]]:
    """What the image holds: its files, and its links (path -> where it points) wherever a
    path on the way to a file is a link here (a merged /usr's /lib, a lib's soname, a venv's
    python), so that every name resolves inside the image as it does here."""
    wanted = _python_files() | _distribution_files(KERNEL_DISTRIBUTIONS)
    wanted |= _shared_libraries(wanted)
    wanted.update(p for p in _ETC + _PROGRAMS if os.path.exists(p))
    wanted |= _shared_libraries(p for p in _PROGRAMS if os.path.exists(p))
    files: set[str] = set()
    links: dict[str, str] = {}
    for path in wanted:
        _resolve(path, files, links)
    return sorted(files), links


def _resolve(path: str, files: set[str], links: dict[str, str]) -> None:
    """Follow `path` one component at a time, recording each link met, to the file it names."""
    if "/../" in path or "/./" in path:  # ldd prints a library found by $ORIGIN/../ that way
        path = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    for _ in range(40):
        parts = path.strip("/").split("/")
        for i in range(len(parts)):
            here = "/" + "/".join(parts[: i + 1])
            if os.path.islink(here):
                links[here] = os.readlink(here)
                rest = "/".join(parts[i + 1:])
                path = os.path.normpath(os.path.join(os.path.dirname(here), links[here], rest))
                break
        else:
            if os.path.isfile(path):
                files.add(path)
            return


def image_tag(files: list[str], links: dict[str, str]) -> str:
    """The tag of the image these make: a digest of each file's path, size, mode and change
    time, and of each link."""
    digest = hashlib.sha256()
    for path in files:
        st = os.stat(path)
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n".encode())
    for path, target in sorted(links.items()):
        digest.update(f"{path}\0->{target}\n".encode())
    return f"{REPOSITORY}:{digest.hexdigest()[:16]}"


def _tar_stream(files: list[str], links: dict[str, str], out: io.BufferedWriter) -> None:
    """Write the image's root as a tar: the parent directories, the files and links, owned by
    root, nobody's to write, plus empty /tmp, /proc, /dev and /sys."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()

        def add_dir(path: str, mode: int = 0o755) -> None:
            if path in made or path == "/":
                return
            add_dir(os.path.dirname(path))
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
            made.add(path)

        for d in ("/tmp", "/proc", "/dev", "/sys", "/run"):
            add_dir(d, 0o1777 if d == "/tmp" else 0o755)
        for path, target in sorted(links.items()):
            add_dir(os.path.dirname(path))
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            tar.addfile(info)
        for path in files:
            add_dir(os.path.dirname(path))
            info = tar.gettarinfo(path, arcname=path.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode &= 0o755
            with open(path, "rb") as f:
                tar.addfile(info, f)


def ensure_image(engine: str, progress: bool = True) -> str:
    """The project's image for `engine` (podman): the one already built from these
    files, or a new one (a few seconds to a minute, once). Returns its tag."""
    files, links = image_files()
    tag = image_tag(files, links)
    lock_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rlm"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "container-image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two sandboxes starting at once build it once
        if _exists(engine, tag):
            return tag
        if progress:
            size = sum(os.lstat(f).st_size for f in files)
            print(f"rlm: building the sandbox's container image {tag} from this Python "
                  f"({len(files)} files, {size / 2**20:.0f} MiB; once)", file=sys.stderr)
        # stderr to a file: a pipe nobody reads while the tar is written could fill and stall both
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen([engine, "import", "--change", "WORKDIR /tmp", "-", tag],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
            assert proc.stdin is not None
            try:
                _tar_stream(files, links, proc.stdin)  # type: ignore[arg-type]
            except BrokenPipeError:
                pass
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
            failed = proc.wait() != 0
            errors.seek(0)
            err = errors.read(1 << 20).decode(errors="replace")
        if failed:
            raise SandboxError(f"{engine} import could not build the sandbox image: {err.strip()[-500:]}")
        _remove_older(engine, tag)
    return tag


def _remove_older(engine: str, tag: str) -> None:
    """Remove the project's images of earlier Pythons and packages (each ~200 MiB); one a
    container still uses stays (the engine refuses it)."""
    listed = subprocess.run([engine, "images", "--format", "{{.Repository}}:{{.Tag}}", REPOSITORY],
                            capture_output=True, text=True, check=False)
    for old in listed.stdout.split():
        if old.startswith(REPOSITORY + ":") and old != tag:
            subprocess.run([engine, "rmi", old], capture_output=True, check=False)


def _exists(engine: str, tag: str) -> bool:
    probe = subprocess.run([engine, "image", "inspect", "--format", "{{.Id}}", tag],
                           capture_output=True, check=False)
    return probe.returncode == 0
