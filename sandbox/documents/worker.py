"""The extraction worker: a process that reads hostile documents for the host, isolated
before it reads any.

Started by `sandbox.documents.pool` with one end of a Unix socket pair and its limits; it
applies the launcher's OS layers to itself (resource limits: memory, output file size, no
core dumps; new network and IPC namespaces where it may make them; as root a fresh
unprivileged uid; Landlock: read-only access to its Python installation and nothing else, no
write anywhere; seccomp: the kernel's deny-list and its socket family allow-list, then no
new process and no reach into another process: signals, limits, pidfds), reports them, then
serves requests, each in a child forked for it and confined so (nothing a hostile file runs
outlives its document): each brings, as file descriptors, the document (read-only), the file
for its text and the file for its index. The worker opens no file itself: what it can reach
is what it was handed. A request answers with one small message; the host bounds and
checks everything it reads back.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import errno
import json
import os
import signal
import socket
import sys
import time
from typing import Any

REQUEST_BYTES = 64 << 10
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWIPC = 0x08000000
CLONE_THREAD = 0x00010000
PR_SET_PDEATHSIG = 1


PRELOADED = (
    "sandbox.documents.readers_containers", "sandbox.documents.readers_pages", "sandbox.documents.sink",
    "pypdfium2", "docx", "docx.table", "pptx", "openpyxl", "lxml.etree", "lxml.html", "zstandard", "gzip", "bz2",
    "lzma", "zipfile", "tarfile", "email", "email.policy", "email.parser", "email.headerregistry",
    "email.contentmanager", "email.message", "xml.sax.saxutils", "datetime", "posixpath", "pyseccomp", "landlock",
    "PIL.Image", "PIL.PngImagePlugin",
)


def preload() -> None:
    """Import every module a reader may need, and every text codec, before the layers: once
    they hold, the installation may be unreadable (as root the worker becomes a fresh uid, and
    the installation may sit in a directory only root can enter)."""
    import encodings
    import importlib
    import pkgutil

    # numpy (which openpyxl imports) starts BLAS threads: a process with threads cannot enter a
    # new user namespace, and without one (the host not root) the worker had no network namespace
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    for name in PRELOADED:
        with contextlib.suppress(ImportError):  # a missing library: its format fails with its name
            importlib.import_module(name)
    for info in pkgutil.iter_modules(encodings.__path__):
        with contextlib.suppress(ImportError, LookupError):
            importlib.import_module(f"encodings.{info.name}")


def isolate(cfg: dict[str, Any], confine: bool = True) -> list[dict[str, Any]]:
    """Apply every layer this process can have; the report of which are active. With
    `confine` false, the last (no new process) is only built, not applied: `main` has each
    child it forks to read a document load it (`confinement`)."""
    from sandbox import launcher

    report = launcher.Report()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != cfg["parent"]:  # the host died before the signal was armed
        os._exit(70)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the file size limit a write fails (EFBIG)
    launcher.set_limits({"memory_bytes": cfg["memory_bytes"], "file_bytes": cfg["file_bytes"],
                         "open_files": 64, "cpu_seconds": cfg.get("cpu_seconds", 6 * 3600)}, report)
    flags = CLONE_NEWNET | CLONE_NEWIPC | (0 if os.getuid() == 0 else CLONE_NEWUSER)
    if libc.unshare(flags) == 0:
        report.add("network namespace", True, "no interfaces but loopback (down); new IPC namespace")
    else:
        report.add("network namespace", False, f"unshare: {os.strerror(ctypes.get_errno())}; seccomp refuses "
                                               "network sockets")
    if cfg.get("landlock", True):
        launcher.apply_landlock(cfg["read_paths"], [], report)
    uid = cfg.get("uid")
    launcher.drop_privileges(uid, uid, report)
    if os.getuid() != 0 and uid is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # a change of uid clears it
        if os.getppid() != cfg["parent"]:
            os._exit(70)
    global confinement
    if cfg.get("seccomp", True):
        launcher.apply_seccomp(report)
        confinement = confine_to_self(report, load=confine)
    return report.layers


confinement: Any = None  # the filter each document's child loads (built once: 2-3 ms a document saved)


def confine_to_self(report: Any, load: bool = True) -> Any:
    """A second seccomp filter: the worker makes no process (a child in a session of its own
    would outlive the worker and the host, and escape the host's kill of its group) and acts
    on no process but itself: no signal, resource limit, priority or affinity of another
    process, no pidfd (whose pidfd_getfd takes another process's files). Without a fresh uid
    (a host that is not root) every process of the user would be in its reach. Nor does it
    leave its parent's session or group, or disarm the signal its parent's death sends it.
    The filter (loaded, or with `load` false built for each child to load), or None where
    it cannot be had."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:
        report.add("own process only", False, f"pyseccomp/libseccomp unavailable ({exc})")
        return None
    me = os.getpid()
    eperm = sc.ERRNO(errno.EPERM)
    try:
        flt = sc.SyscallFilter(sc.ALLOW)
        for name in ("fork", "vfork", "tkill", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "kcmp",
                     "process_madvise", "migrate_pages", "move_pages", "get_robust_list", "setpriority",
                     "ioprio_set", "sched_setscheduler", "sched_setparam", "sched_setattr",
                     "sched_setaffinity", "setsid", "setpgid"):
            with contextlib.suppress(OSError, ValueError, RuntimeError):  # not a syscall on this architecture
                flt.add_rule(eperm, name)
        flt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))  # threads only
        for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
            flt.add_rule(eperm, name, sc.Arg(0, sc.NE, me))
        # a limit set only by the worker's own pid (the limits are set already: setrlimit,
        # which is prlimit64 of pid 0, fails too); read, any process's
        flt.add_rule(eperm, "prlimit64", sc.Arg(0, sc.NE, me), sc.Arg(2, sc.NE, 0))
        flt.add_rule(eperm, "prctl", sc.Arg(0, sc.EQ, PR_SET_PDEATHSIG))
        if load:
            flt.load()
    except (OSError, ValueError, RuntimeError) as exc:
        report.add("own process only", False, f"could not load the filter: {exc}")
        return None
    report.add("own process only", True, "each document read in a fresh child: no new process; no signal, "
                                         "limit or pidfd of another process")
    return flt


def _receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    fds = array.array("i")
    message, ancillary, _, _ = sock.recvmsg(REQUEST_BYTES, socket.CMSG_LEN(3 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not message:
        return None, list(fds)
    return json.loads(message), list(fds)


def extract(request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
    """Read one document: its text to fds[1], its index (JSON) to fds[2]; the reply."""
    from sandbox.documents.readers_containers import read
    from sandbox.documents.sink import Cut, Sink

    source = os.fdopen(fds[0], "rb", buffering=1 << 20)
    text = os.fdopen(fds[1], "wb", buffering=1 << 20)
    sink = Sink(text, int(request["max_bytes"]), time.monotonic() + float(request["time_s"]))
    reply: dict[str, Any] = {"ok": True}
    cut = error = None
    try:
        read(request["format"], source, sink, "")
        sink.end()
    except Cut as exc:
        cut = exc.reason
    except MemoryError:
        error = f"ran out of memory (the limit is {request.get('memory_bytes', 0) >> 20:,} MiB)"
    except RecursionError:
        error = "nested too deeply to read"
    except Exception as exc:  # a hostile or broken file: its one-line reason
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}" if str(exc) else type(exc).__name__
        if isinstance(exc, ValueError) and str(exc):
            error = " ".join(str(exc).split())[:300]
    try:
        with contextlib.suppress(Cut):
            text.flush()
    except OSError as exc:  # past the file size limit
        error = error or f"could not write its text ({exc.strerror})"
    index = sink.index()
    index["cut"] = cut
    if error is not None:
        if not index["docs"] or not sink.written:
            reply = {"ok": False, "error": error}
        else:
            index["cut"] = f"stopped by an error: {error}"
    if reply["ok"]:
        with os.fdopen(fds[2], "w", encoding="utf-8") as out:
            json.dump(index, out, ensure_ascii=False)  # names as UTF-8, not 6-byte escapes
    else:
        os.close(fds[2])
    with contextlib.suppress(OSError):
        text.close()
    source.close()
    return reply


MAX_RENDER_PIXELS = 4_000_000


def render(request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
    """Draw one page of a PDF (fds[0]) as a PNG to fds[1], its longer side at most
    request["max_side"] pixels; its size and media type to fds[2] (JSON)."""
    import pypdfium2 as pdfium

    source = os.fdopen(fds[0], "rb", buffering=1 << 20)
    try:
        try:
            pdf = pdfium.PdfDocument(source)
        except pdfium.PdfiumError as exc:
            return {"ok": False, "error": f"not a readable PDF ({exc})"}
        try:
            number = int(request["page"])
            if not 1 <= number <= len(pdf):
                return {"ok": False, "error": f"the PDF has {len(pdf)} pages: give 1 to {len(pdf)}"}
            page = pdf[number - 1]
            width, height = page.get_size()
            side = max(width, height, 1.0)
            scale = min(float(request.get("max_side", 1600)) / side, 4.0)
            if width * height * scale * scale > MAX_RENDER_PIXELS:
                scale = (MAX_RENDER_PIXELS / max(width * height, 1.0)) ** 0.5
            image = page.render(scale=scale).to_pil()
            with os.fdopen(fds[1], "wb") as out:
                image.save(out, format="PNG", optimize=False)
            with os.fdopen(fds[2], "w", encoding="utf-8") as meta:
                json.dump({"mime": "image/png", "width": image.width, "height": image.height}, meta)
            return {"ok": True}
        finally:
            pdf.close()
    finally:
        source.close()
        for fd in fds[1:]:
            with contextlib.suppress(OSError):
                os.close(fd)


def _one(request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
    """One request: a page drawn, or a document's text; a failure as its one-line reason."""
    try:
        return render(request, fds) if request.get("op") == "render" else extract(request, fds)
    except MemoryError:
        return {"ok": False, "error": "ran out of memory"}
    except Exception as exc:  # a hostile file: its one-line reason
        return {"ok": False, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}


def _in_child(sock: socket.socket, request: dict[str, Any], fds: list[int], confined: bool) -> bytes:
    """`extract` in a child forked for this one document, confined (`confine_to_self`); its
    reply once it has exited. A reader that runs a hostile file's code is gone with its
    child: it cannot stay to forge the next document's text (which the cache would keep under
    that document's content), write to its files after its reply, or answer out of turn."""
    parent = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            sock.close()
            os.close(r)
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:
                os._exit(71)
            if confined:
                try:
                    confinement.load()
                except Exception:  # the filter the worker reported active must hold
                    os._exit(71)
            with os.fdopen(w, "wb") as out:
                out.write(json.dumps(_one(request, fds)).encode())
        finally:
            os._exit(0)
    for fd in fds:
        os.close(fd)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read(REQUEST_BYTES + 1)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and data and len(data) <= REQUEST_BYTES:
        return data
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        why = (f"its reader was killed by signal {signal.Signals(number).name}" if number in signal.valid_signals()
               else f"its reader died (signal {number})")
        if number in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
            why += "; a malformed file, or it ran out of its memory limit"
    else:
        why = f"its reader stopped (exit status {os.WEXITSTATUS(status)})"
    return json.dumps({"ok": False, "error": why}).encode()


def main(argv: list[str]) -> None:
    sock = socket.socket(fileno=int(argv[1]))
    cfg = json.loads(argv[2])
    preload()
    layers = isolate(cfg, confine=False)
    confined = any(layer["layer"] == "own process only" and layer["active"] for layer in layers)
    sock.sendall(json.dumps({"layers": layers}).encode())
    while True:
        request, fds = _receive(sock)
        if request is None:
            return
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            sock.sendall(json.dumps({"ok": False, "error": "a request without its three files"}).encode())
            continue
        sock.sendall(_in_child(sock, request, fds, confined))


if __name__ == "__main__":
    main(sys.argv)
