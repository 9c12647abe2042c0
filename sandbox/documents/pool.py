"""Host side of document extraction: isolated workers (`sandbox.documents.worker`), one per
core, read the files of a context in parallel, each within a time, memory and output limit;
what they hand back is checked before it is used, and kept in the cache (`cache`) so that the
same bytes are never extracted twice. A worker that overruns its time is killed (the file is
reported as not extracted, with the reason) and a fresh one takes the next file."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.documents.cache import Cache, CacheError, Entry, content_key, default_cache_dir
from sandbox.documents.formats import FORMATS
from sandbox.documents.sink import MAX_NAME_CHARS, MAX_PLACES, clean_name
from sandbox.python_paths import _PACKAGE_DIR, EXTRACTOR_DISTRIBUTIONS, _kernel_import_paths, _python_read_paths

START_TIMEOUT_S = 30.0
MAX_INDEX_BYTES = 64 << 20
MAX_DOCS = 100_000
_LIB_PATHS = ("/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache")


@dataclass
class ExtractOptions:
    """Limits and places of an extraction.

    max_bytes: text kept of one file (the rest is cut, and the cut said).
    time_s: time one file may take (its text so far is kept); past grace_s more (a reader
        stuck in native code does not look at the clock), the worker is killed.
    memory_bytes: the memory one worker may hold.
    workers: workers at once (default: the cores this process may use).
    cache_dir, cache_max_bytes: where extractions are kept, and how much of them.
    progress: called with (files done, files in all, the file's name) after each file.
    landlock, seccomp: turn a layer off (for diagnosis only).
    """

    max_bytes: int = 1 << 30
    time_s: float = 120.0
    grace_s: float = 5.0
    memory_bytes: int = 2 << 30
    workers: int | None = None
    cache_dir: Path | None = None
    cache_max_bytes: int = 8 << 30
    progress: Callable[[int, int, str], None] | None = None
    landlock: bool = True
    seccomp: bool = True

    @classmethod
    def of(cls, config: Any, progress: Callable[[int, int, str], None] | None = None) -> ExtractOptions:
        """The options a SandboxConfig sets."""
        return cls(max_bytes=config.extract_max_bytes, time_s=config.extract_time_s,
                   memory_bytes=config.extract_memory_bytes, cache_dir=config.extract_cache_dir,
                   progress=progress, landlock=config.landlock, seccomp=config.seccomp)

    def limits(self) -> dict[str, Any]:
        return {"max_bytes": self.max_bytes, "time_s": self.time_s, "memory_bytes": self.memory_bytes}


@dataclass
class Extracted:
    """One file's extraction: its documents' text in `text` (a cache file) at the offsets of
    `docs` (name "" is the file itself, else a member's path), with their places; `cut` says
    what stopped it early; `error` when nothing could be read."""

    fmt: str
    text: Path | None
    docs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cut: str | None = None
    error: str | None = None
    cached: bool = False
    # the worker's isolation layers that were not active ("seccomp: pyseccomp unavailable")
    weak_layers: list[str] = field(default_factory=list)


class ExtractionError(Exception):
    pass


class _Worker:
    """One isolated worker process and the host's end of its socket."""

    def __init__(self, options: ExtractOptions) -> None:
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        roots = EXTRACTOR_DISTRIBUTIONS
        cfg = {
            "parent": os.getpid(),
            "memory_bytes": options.memory_bytes,
            "file_bytes": options.max_bytes + (1 << 20),
            "read_paths": [p for p in (*_python_read_paths(roots), *_LIB_PATHS) if os.path.exists(p)],
            "uid": 0x40000000 + secrets.randbelow(0x3FFF0000) if os.getuid() == 0 else None,
            "landlock": options.landlock,
            "seccomp": options.seccomp,
        }
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "PYTHONPATH": os.pathsep.join([str(_PACKAGE_DIR.parent), *_kernel_import_paths(roots)])}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-s", "-P", "-m", "sandbox.documents.worker", str(worker_end.fileno()),
                 json.dumps(cfg)],
                pass_fds=[worker_end.fileno()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, cwd="/", start_new_session=True)
        finally:
            worker_end.close()
        self.sock = host_end
        hello = self._answer(START_TIMEOUT_S)
        if hello is None or "layers" not in hello:
            self.kill()
            err = self.process.stderr.read(4000).decode("utf-8", "replace") if self.process.stderr else ""
            raise ExtractionError(f"the extraction worker did not start: {err.strip()[-1000:]}")
        self.layers: list[dict[str, Any]] = hello["layers"]
        if self.process.stderr is not None:
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:  # keep the worker's stderr from filling its pipe
        with contextlib.suppress(OSError, ValueError):
            while self.process.stderr is not None and self.process.stderr.read(1 << 16):
                pass

    def _answer(self, timeout: float) -> dict[str, Any] | None:
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        if not poller.poll(max(0, int(timeout * 1000))):
            return None
        try:
            data = self.sock.recv(1 << 20)
        except OSError:
            return None
        if not data:
            return None
        try:
            answer = json.loads(data)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def run(self, fmt: str, source_fd: int, text: Path, index: Path, options: ExtractOptions,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """One file; the worker's answer, or {"ok": False, "error": ..., "dead": True} when it
        was killed or died."""
        out_fd = os.open(text, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
        index_fd = os.open(index, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            request = json.dumps({"format": fmt, "max_bytes": options.max_bytes, "time_s": options.time_s,
                                  "memory_bytes": options.memory_bytes, **(extra or {})}).encode()
            self.sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                           bytes(memoryview(_ints(source_fd, out_fd, index_fd))))])
        except OSError:
            return self._dead(options)
        finally:
            os.close(out_fd)
            os.close(index_fd)
        answer = self._answer(options.time_s + options.grace_s)
        if answer is None:
            return self._dead(options)
        return answer

    def _dead(self, options: ExtractOptions) -> dict[str, Any]:
        alive = self.process.poll() is None
        self.kill()
        code = self.process.returncode
        if alive:
            why = f"took longer than {options.time_s:g} s"
        elif code is not None and code < 0:
            why = (f"its reader was killed by signal {signal.Signals(-code).name}" if -code in signal.valid_signals()
                   else f"its reader died (signal {-code})")
            if -code in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
                why += "; a malformed file, or it ran out of its memory limit"
        else:
            why = f"its reader stopped (exit status {code})"
        return {"ok": False, "error": why, "dead": True}

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.stderr is not None:
            with contextlib.suppress(OSError):
                self.process.stderr.close()


def _ints(*values: int) -> bytes:
    import array

    return array.array("i", values).tobytes()


def extract_files(files: list[tuple[Path, str]], options: ExtractOptions | None = None) -> dict[Path, Extracted]:
    """Extract each (path, format) given, from the cache where it is there; every file gets an
    `Extracted` (with `error` set when it could not be read)."""
    options = options or ExtractOptions()
    try:
        cache = Cache(options.cache_dir or default_cache_dir(), options.cache_max_bytes)
    except (CacheError, OSError) as exc:  # every file is told why
        reason = str(exc) if isinstance(exc, CacheError) else f"the extraction cache is unusable ({exc})"
        return {path: Extracted(fmt, None, error=reason) for path, fmt in files}
    results: dict[Path, Extracted] = {}
    todo: queue.Queue[tuple[Path, str]] = queue.Queue()
    used: set[str] = set()
    total = len(files)
    done = 0
    lock = threading.Lock()

    def finished(path: Path, result: Extracted) -> None:
        nonlocal done
        with lock:
            results[path] = result
            done += 1
            count = done
        if options.progress is not None:
            options.progress(count, total, str(path))

    for path, fmt in files:
        try:
            key = _key_of(path, fmt)
        except OSError as exc:
            finished(path, Extracted(fmt, None, error=f"cannot open it ({exc.strerror})"))
            continue
        used.add(key)
        entry = cache.get(key, options.limits())
        if entry is not None:
            finished(path, _from_entry(fmt, entry, cached=True))
        else:
            todo.put((path, fmt))
    pending = todo.qsize()
    if pending:
        count = min(pending, options.workers or len(os.sched_getaffinity(0)) or 1)
        broken: list[str] = []
        threads = [threading.Thread(target=_serve, args=(todo, cache, options, finished, used, broken),
                                    daemon=True) for _ in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    with contextlib.suppress(OSError):
        cache.prune(used)
    return results


def _open(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)


def _key_of(path: Path, fmt: str) -> str:
    fd = _open(path)
    try:
        return content_key(fd, fmt)
    finally:
        os.close(fd)


def _serve(todo: queue.Queue[tuple[Path, str]], cache: Cache, options: ExtractOptions,
           finished: Callable[[Path, Extracted], None], used: set[str], broken: list[str]) -> None:
    worker: _Worker | None = None
    try:
        while True:
            try:
                path, fmt = todo.get_nowait()
            except queue.Empty:
                return
            if broken:  # the workers cannot start here: every file is told why, at once
                finished(path, Extracted(fmt, None, error=broken[0]))
                continue
            try:
                if worker is None:
                    try:
                        worker = _Worker(options)
                    except ExtractionError as exc:
                        broken.append(str(exc))
                        raise
                fd = _open(path)
                try:
                    # the key of what the worker reads: the file may have changed since it was looked up
                    key = content_key(fd, fmt)
                    used.add(key)
                    result = _extract_one(worker, fmt, key, fd, cache, options)
                    result.weak_layers = [f"{layer['layer']}: {layer['detail']}" for layer in worker.layers
                                          if not layer.get("active")]
                    finished(path, result)
                finally:
                    os.close(fd)
            except OSError as exc:
                finished(path, Extracted(fmt, None, error=f"cannot open it ({exc.strerror})"))
            except ExtractionError as exc:
                finished(path, Extracted(fmt, None, error=str(exc)))
            except Exception as exc:  # the host's own failure on one file: said, the rest goes on
                finished(path, Extracted(fmt, None, error=f"{type(exc).__name__}: {exc}"))
            if worker is not None and worker.process.poll() is not None:
                worker.kill()
                worker = None
    finally:
        if worker is not None:
            worker.kill()


def _extract_one(worker: _Worker, fmt: str, key: str, fd: int, cache: Cache, options: ExtractOptions) -> Extracted:
    text, index_path = cache.new_files()
    try:
        answer = worker.run(fmt, fd, text, index_path, options)
        if not answer.get("ok"):
            error = clean_name(str(answer.get("error") or "unknown error"))
            # a timeout or a crash is kept too, so that the next run does not wait again
            return _from_entry(fmt, cache.put(key, None, {"error": error, "limits": options.limits()}), False)
        index = _checked_index(index_path, text.stat().st_size)
        index["limits"] = options.limits()
        return _from_entry(fmt, cache.put(key, text, index), cached=False)
    finally:
        for p in (text, index_path):
            with contextlib.suppress(OSError):
                p.unlink()


MAX_PICTURE_BYTES = 20 << 20  # a picture shown to a sub-model (a file of the context, or a page drawn)
PAGE_SIDE_PIXELS = 1600  # a PDF page is drawn with its longer side this long


def picture(path: Path, fmt: str, page: int | None, options: ExtractOptions | None = None) -> tuple[str, bytes]:
    """A picture a vision model can be shown: a picture file of the context as it is, or page
    `page` of a PDF drawn as a PNG by an isolated worker (kept in the cache). ValueError, in
    words a model can act on, when it cannot be."""
    from sandbox.documents.formats import image_type

    options = options or ExtractOptions()
    fd = _open(path)
    try:
        if fmt == "image":
            if page is not None:
                raise ValueError("a picture has no pages: give the document alone")
            if os.fstat(fd).st_size > MAX_PICTURE_BYTES:
                raise ValueError(f"the picture is over {MAX_PICTURE_BYTES >> 20} MiB")
            data = os.pread(fd, MAX_PICTURE_BYTES + 1, 0)
            mime = image_type(data[:64])
            if mime is None:
                raise ValueError("the file is no longer a PNG, JPEG, GIF or WebP picture")
            return mime, data
        if fmt != "pdf":
            raise ValueError(f"only pictures and pages of a PDF can be shown, not a {fmt}")
        if page is None or not isinstance(page, int) or page < 1:
            raise ValueError("give the page of the PDF to show: images=[(doc, page_number)]")
        cache = Cache(options.cache_dir or default_cache_dir(), options.cache_max_bytes)
        key = f"{content_key(fd, fmt)}-page{page}-{PAGE_SIDE_PIXELS}"
        kept = cache.directory / f"{key}.png"
        with contextlib.suppress(OSError):
            data = kept.read_bytes()
            if image_type(data[:64]) == "image/png":
                return "image/png", data
        out, meta = cache.new_files()
        worker = _Worker(options)
        try:
            answer = worker.run(fmt, fd, out, meta, options, {"op": "render", "page": page,
                                                              "max_side": PAGE_SIDE_PIXELS})
            if not answer.get("ok"):
                raise ValueError(clean_name(str(answer.get("error") or "the page could not be drawn")))
            with open(out, "rb") as f:
                data = f.read(MAX_PICTURE_BYTES + 1)
            if len(data) > MAX_PICTURE_BYTES or image_type(data[:64]) != "image/png":
                raise ValueError("the page could not be drawn within bounds")
            os.replace(out, kept)
            return "image/png", data
        finally:
            worker.kill()
            for p in (out, meta):
                with contextlib.suppress(OSError):
                    p.unlink()
    finally:
        os.close(fd)


def _checked_index(path: Path, text_bytes: int) -> dict[str, Any]:
    """The worker's index, read within bounds and checked: documents in order inside the text,
    places in order inside their document and no more of them than a reader records, names
    cleaned. ExtractionError when it is not. (Checked without `assert`, which `python -O`
    drops.)"""
    with open(path, "rb") as f:
        data = f.read(MAX_INDEX_BYTES + 1)
    if len(data) > MAX_INDEX_BYTES:
        raise ExtractionError("its index was too large")
    malformed = ExtractionError("its reader handed back a malformed index")
    # counted before parsing (generously: names may hold brackets): JSON of many empty objects or
    # lists costs the parser 20 times its size
    if data.count(b"{") > 4 * MAX_DOCS + 16 or data.count(b"[") > 2 * MAX_PLACES + 4 * MAX_DOCS + 16:
        raise malformed

    def require(condition: bool) -> None:
        if not condition:
            raise malformed

    try:
        raw = json.loads(data)
        require(isinstance(raw, dict))
        docs_in = raw["docs"]
        require(isinstance(docs_in, list) and len(docs_in) <= MAX_DOCS)
        docs = []
        end = 0
        count = 0
        for d in docs_in:
            require(isinstance(d, dict) and isinstance(d.get("places"), list))
            offset, length = d["offset"], d["length"]
            require(type(offset) is int and type(length) is int and offset >= end and length >= 0)
            require(offset + length <= text_bytes and d["kind"] in (*FORMATS, "text"))
            count += len(d["places"])
            require(count <= MAX_PLACES)
            places = []
            last = -1
            for place in d["places"]:
                require(isinstance(place, list) and len(place) == 2)
                at, label = place
                require(type(at) is int and last <= at <= length and isinstance(label, str))
                places.append([at, clean_name(label)])
                last = at
            docs.append({"name": clean_name(str(d["name"]))[:MAX_NAME_CHARS], "kind": d["kind"], "offset": offset,
                         "length": length, "places": places})
            end = offset + length
        notes_in = raw.get("notes", [])
        require(isinstance(notes_in, list))
        notes = [clean_name(str(n)) for n in notes_in[:200]]
        cut = raw.get("cut")
        cut = clean_name(str(cut)) if cut else None
    except (ValueError, KeyError, TypeError):
        raise malformed from None
    return {"docs": docs, "notes": notes, "cut": cut}


def _from_entry(fmt: str, entry: Entry, cached: bool) -> Extracted:
    index = entry.index
    return Extracted(fmt, entry.text, list(index.get("docs") or []), list(index.get("notes") or []),
                     index.get("cut"), entry.error, cached)
