"""The red team's attacks on document extraction: a worker whose reader runs the attacker's
code (tried from inside an isolated worker), a worker that answers with lies, hostile files
and names, and the cache. Each test is an attack that must not work (found and fixed, or
found to hold)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.python_paths import EXTRACTOR_DISTRIBUTIONS, _python_read_paths

ROOT = Path(__file__).resolve().parent.parent


def _inside_worker(code: str, tmp_path: Path, as_user: int | None = None) -> dict:
    """Run `code` (it fills the dict `out`) as attacker code in a process isolated as the
    extraction worker is (preload, then isolate), its parent the test; `out` comes back."""
    from sandbox.documents.pool import _LIB_PATHS

    os.chmod(tmp_path, 0o755)
    cfg = {"parent": os.getpid(), "memory_bytes": 1 << 30, "file_bytes": 1 << 20,
           "read_paths": [p for p in (*_python_read_paths(EXTRACTOR_DISTRIBUTIONS), *_LIB_PATHS) if os.path.exists(p)],
           "uid": 0x40000123 if os.getuid() == 0 and as_user is None else None}
    probe = f"""
import json, os, sys
from sandbox.documents import worker
worker.preload()
out = {{"threads": len(os.listdir("/proc/self/task"))}}
out["layers"] = {{l["layer"]: l["active"] for l in worker.isolate(json.loads(sys.argv[1]))}}
def attempt(name, f):
    try:
        out[name] = repr(f())
    except OSError as exc:
        out[name] = "refused: " + type(exc).__name__
{code}
print(json.dumps(out))
"""

    r = subprocess.run([sys.executable, "-c", probe, json.dumps(cfg)], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, check=False,
                       preexec_fn=(lambda: _become(as_user)) if as_user is not None else None, cwd="/")
    lines = r.stdout.strip().splitlines()
    assert lines, r.stderr[-3000:]
    return json.loads(lines[-1])


def _become(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


PROCESS_ATTACKS = """
import ctypes, resource, signal, threading
host = os.getppid()
attempt("fork", lambda: os.fork() or os._exit(0))
attempt("spawn", lambda: os.posix_spawn(sys.executable, [sys.executable, "-c", "pass"], {}))
attempt("signal the host", lambda: os.kill(host, 0))
attempt("signal every process", lambda: os.kill(-1, 0))
attempt("limit the host", lambda: resource.prlimit(host, resource.RLIMIT_NOFILE, (3, 3)))
attempt("pidfd of the host", lambda: os.pidfd_open(host))
attempt("lower every priority", lambda: os.setpriority(os.PRIO_USER, 0, 19))
attempt("environ of the host", lambda: open(f"/proc/{host}/environ").read())
t = threading.Thread(target=lambda: None)
attempt("a thread", lambda: (t.start(), t.join(), "ran")[2])
"""


def test_the_worker_makes_no_process_and_reaches_no_other_process(tmp_path):
    """Attack: a child in a session of its own (setsid) escapes the host's kill of the
    worker's group and outlives the host, holding its files; signals, limits and pidfds
    reach the host (and as a host that is not root, every process of the user)."""
    out = _inside_worker(PROCESS_ATTACKS, tmp_path)
    assert out["layers"]["own process only"], out
    for name in ("fork", "spawn", "signal the host", "signal every process", "limit the host", "pidfd of the host",
                 "lower every priority", "environ of the host"):
        assert out[name].startswith("refused"), (name, out[name])
    assert out["a thread"] == "'ran'"  # readers may use threads


def test_preloading_starts_no_thread(tmp_path):
    """A thread (numpy's BLAS pool, which openpyxl imports) made unshare(CLONE_NEWUSER) fail:
    a worker of a host that is not root had no network namespace."""
    out = _inside_worker("", tmp_path)
    assert out["threads"] == 1


def test_landlock_holds_after_a_failed_call_left_errno_set(tmp_path):
    """The landlock package read a stale errno as its own failure: after the refused unshare
    (a host that is not root) the worker had no Landlock, and read the user's files."""
    secret = tmp_path / "secret"
    secret.write_text("secret")
    os.chmod(secret, 0o644)
    code = f"""
import ctypes
from sandbox import launcher
libc = ctypes.CDLL(None, use_errno=True)
libc.unshare(-1)  # fails: errno EINVAL, as a refused unshare leaves it
report = launcher.Report()
launcher.apply_landlock(json.loads(sys.argv[1])["read_paths"], [], report)
out["landlock"] = report.layers[0]
attempt("read", lambda: open({str(secret)!r}).read())
"""
    cfg = {"read_paths": _python_read_paths(EXTRACTOR_DISTRIBUTIONS)}
    probe = "import json, os, sys\nout = {}\n" \
            "def attempt(name, f):\n    try:\n        out[name] = repr(f())\n" \
            "    except OSError as exc:\n        out[name] = 'refused: ' + type(exc).__name__\n" + code + \
            "\nprint(json.dumps(out))"
    r = subprocess.run([sys.executable, "-c", probe, json.dumps(cfg)], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, check=False)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["landlock"]["active"], out
    assert out["read"].startswith("refused")


def _nobody() -> int:
    import pwd

    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


@pytest.mark.skipif(os.getuid() != 0, reason="becomes another user to try the layers of a host that is not root")
def test_a_worker_of_a_host_that_is_not_root_holds_its_layers(tmp_path):
    """The whole worker as a host that is not root runs it (no fresh uid): every layer is
    active, the user's files and processes are out of reach."""
    nobody = _nobody()
    try:
        subprocess.run([sys.executable, "-c", "import sandbox.documents.worker"], preexec_fn=lambda: _become(nobody),
                       env={"PYTHONPATH": str(ROOT)}, cwd="/", capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("this Python or this checkout is not reachable by an unprivileged user")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY")
    os.chmod(tmp_path, 0o755)
    os.chown(home, nobody, nobody)
    os.chown(home / ".ssh", nobody, nobody)
    os.chown(home / ".ssh" / "id_ed25519", nobody, nobody)
    code = PROCESS_ATTACKS + f"attempt('key', lambda: open({str(home / '.ssh' / 'id_ed25519')!r}).read())\n" \
                             f"attempt('write', lambda: open({str(home / 'planted')!r}, 'w'))\n"
    out = _inside_worker(code, tmp_path, as_user=nobody)
    layers = out["layers"]
    assert layers["landlock"] and layers["network namespace"] and layers["seccomp"] and layers["own process only"]
    for name in ("key", "write", "fork", "signal the host", "signal every process", "limit the host",
                 "pidfd of the host", "environ of the host"):
        assert out[name].startswith("refused"), (name, out[name])
    assert not (home / "planted").exists()


# a worker whose reader runs the attacker's code: a file holding EVIL takes the reader over
COMPROMISED_WORKER = """
import os, sys, threading
from sandbox.documents import readers_containers, worker
honest = readers_containers.read
taken = {}
def read(fmt, source, sink, name="", depth=0):
    import gzip
    data = gzip.decompress(source.read())
    source.seek(0)
    if b"EVIL" in data:
        taken["out"] = sink._out.fileno()
        sink.begin("", "text")
        sink.text("the attacker's own file\\n")
        return
    if taken:  # a later file: its text forged, the earlier file's text overwritten
        os.pwrite(taken["out"], b"OVERWRITTEN", 0)
        sink.begin("", "text")
        sink.text("FORGED\\n")
        return
    honest(fmt, source, sink, name, depth)
readers_containers.read = read
worker.main(sys.argv)
"""


def _with_worker(monkeypatch, code: str) -> None:
    """The pool starts `code` instead of the worker (its arguments as sys.argv[1:])."""
    from sandbox.documents import pool

    real = pool.subprocess.Popen

    def popen(args, **kwargs):
        if "sandbox.documents.worker" in args:
            at = args.index("-m")
            args = [*args[:at], "-c", code, *args[at + 2:]]
        return real(args, **kwargs)

    monkeypatch.setattr(pool.subprocess, "Popen", popen)


def test_a_reader_taken_over_by_one_file_does_not_forge_the_next(tmp_path, monkeypatch):
    """Attack: a hostile file runs code in the reader; the worker then reads the next files
    of the folder, and their text (cached under their content, for every later query) is
    the attacker's."""
    import document_files as D

    from sandbox.documents import ExtractOptions, extract_files

    _with_worker(monkeypatch, COMPROMISED_WORKER)
    evil = D.compressed(tmp_path / "evil.txt.gz", b"EVIL\n")
    honest = D.compressed(tmp_path / "honest.txt.gz", b"the honest text\n")
    results = extract_files([(evil, "gz"), (honest, "gz")], ExtractOptions(cache_dir=tmp_path / "cache", workers=1))
    assert results[evil].text.read_text().startswith("the attacker's own file")
    assert results[honest].error is None and results[honest].text.read_text().startswith("the honest text")


LYING_INDEXES = [
    {"docs": [{"name": "", "kind": "pdf", "offset": 0, "length": 11, "places": []}]},  # past the text
    {"docs": [{"name": "", "kind": "pdf", "offset": 5, "length": 2, "places": []},
              {"name": "", "kind": "pdf", "offset": 0, "length": 2, "places": []}]},  # out of order
    {"docs": [{"name": "", "kind": "pdf", "offset": 0, "length": 5, "places": [[4, "a"], [2, "b"]]}]},
    {"docs": [{"name": "", "kind": "pdf", "offset": 0, "length": 5, "places": [[9, "past its end"]]}]},
    {"docs": [{"name": "", "kind": "exe", "offset": 0, "length": 5, "places": []}]},
    {"docs": [{"name": "", "kind": "pdf", "offset": True, "length": 5, "places": []}]},
    {"docs": [{"name": "", "kind": "pdf", "offset": 0, "length": 5, "places": {"0": "a"}}]},
    {"docs": [{"name": "", "kind": "pdf", "offset": 0, "length": 5, "places": [[0, "a", "extra"]]}]},
    {"docs": {"0": 1}},
    {"docs": [], "notes": "a string, not a list"},
    # more places than a reader ever records: the host would hold them all (memory)
    {"docs": [{"name": "", "kind": "pdf", "offset": 0, "length": 5, "places": [[0, "p"]] * 200_001}]},
    [1, 2, 3],
]


def test_a_lying_index_is_refused_even_under_python_O(tmp_path):
    """Attack: the index a compromised worker writes; the checks were `assert`s, which
    `python -O` drops (every lie then passed), and places had no bound."""
    files = []
    for i, index in enumerate(LYING_INDEXES):
        files.append(str(tmp_path / f"{i}.json"))
        Path(files[-1]).write_text(json.dumps(index))
    code = ("import json, sys\nfrom sandbox.documents.pool import ExtractionError, _checked_index\nout = []\n"
            "for f in sys.argv[1:]:\n    try:\n        _checked_index(f, 10)\n        out.append('accepted')\n"
            "    except ExtractionError:\n        out.append('refused')\nprint(json.dumps(out))")
    for flags in ([], ["-O"]):
        r = subprocess.run([sys.executable, *flags, "-c", code, *files], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, check=False)
        assert r.stdout, r.stderr[-2000:]
        out = json.loads(r.stdout)
        assert out == ["refused"] * len(LYING_INDEXES), (flags, out)


def test_a_cache_others_may_write_to_is_not_used(tmp_path):
    """Attack: another local user makes the shared (or world-writable) extraction cache, and
    plants an entry under the key of a file the victim will read: its text was taken for
    the file's."""
    import document_files as D

    from sandbox.documents import ExtractOptions, extract_files
    from sandbox.documents.cache import content_key

    honest = D.compressed(tmp_path / "honest.txt.gz", b"the honest text\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with open(honest, "rb") as f:
        key = content_key(f.fileno(), "gz")
    (shared / f"{key}.txt").write_text("PLANTED\n")
    (shared / f"{key}.json").write_text(json.dumps({"docs": [{"name": "", "kind": "text", "offset": 0, "length": 8,
                                                               "places": []}], "notes": [], "cut": None}))
    r = extract_files([(honest, "gz")], ExtractOptions(cache_dir=shared))[honest]
    assert r.text is None or "PLANTED" not in r.text.read_text()
    assert r.error and "not this user's alone" in r.error
    # a symlink to such a directory is no better
    (tmp_path / "link").symlink_to(shared)
    r = extract_files([(honest, "gz")], ExtractOptions(cache_dir=tmp_path / "link"))[honest]
    assert r.error and "not this user's alone" in r.error
    # the user's own private directory is used
    r = extract_files([(honest, "gz")], ExtractOptions(cache_dir=tmp_path / "mine"))[honest]
    assert r.error is None and r.text.read_text().startswith("the honest text")


# a reader taken over that tries, with the files it was handed, to reach others
FD_TRICKS_WORKER = """
import json, os, socket, sys
from sandbox.documents import readers_containers, worker
def attempt(out, name, f):
    try:
        out[name] = repr(f())[:100]
    except OSError as exc:
        out[name] = "refused: " + type(exc).__name__
def read(fmt, source, sink, name="", depth=0):
    src, dst = source.fileno(), sink._out.fileno()
    out = {}
    attempt(out, "reopen the source to write", lambda: os.open(f"/proc/self/fd/{src}", os.O_WRONLY))
    attempt(out, "a sibling of the source", lambda: os.open("../secret.txt", os.O_RDONLY, dir_fd=src))
    attempt(out, "a file beside the text", lambda: os.open("planted", os.O_WRONLY | os.O_CREAT, dir_fd=dst))
    attempt(out, "a link to the text", lambda: os.link(f"/proc/self/fd/{dst}", "/tmp/stolen"))
    attempt(out, "the host's key", lambda: os.environ["OPENAI_API_KEY"] if "OPENAI_API_KEY" in os.environ
            else (_ for _ in ()).throw(OSError("absent")))
    attempt(out, "the host's environment", lambda: open(f"/proc/{os.getppid()}/environ").read())
    attempt(out, "shadow", lambda: open("/etc/shadow").read())
    attempt(out, "ssh", lambda: open(os.path.expanduser("~/.ssh/id_rsa")).read())
    attempt(out, "network", lambda: socket.create_connection(("1.1.1.1", 53), timeout=1))
    attempt(out, "a new process", lambda: os.fork() or os._exit(0))
    sink.begin("", "text")
    sink.text(json.dumps(out) + "\\n")
readers_containers.read = read
worker.main(sys.argv)
"""


def test_a_reader_taken_over_reaches_nothing_with_the_files_it_was_handed(tmp_path, monkeypatch):
    import document_files as D

    from sandbox.documents import ExtractOptions, extract_files

    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    _with_worker(monkeypatch, FD_TRICKS_WORKER)
    (tmp_path / "secret.txt").write_text("secret")
    f = D.compressed(tmp_path / "f.txt.gz", b"x\n")
    cache = tmp_path / "cache"
    r = extract_files([(f, "gz")], ExtractOptions(cache_dir=cache))[f]
    assert r.error is None, r.error
    out = json.loads(r.text.read_text().splitlines()[0])
    for name, result in out.items():
        assert result.startswith("refused"), (name, result)
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".txt"]
    assert not Path("/tmp/stolen").exists()
