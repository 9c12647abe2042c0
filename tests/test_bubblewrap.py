"""The bubblewrap backend: the isolation a user without root gets. As root (the backend runs
for root too) and, where the tests may become nobody, as a user without root: the layers
reported, the smoke test, `rlm query` against the scripted server, and attacks from model
code on the user's own files, processes, network and environment."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from conftest import cli_env
from scripted_server import Call, ScriptedServer
from unprivileged import ROOT, nobody, run_as_nobody, why_not

from sandbox import IsolationWarning, SandboxConfig, open_sandbox
from sandbox.bubblewrap import unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"bubblewrap: {unavailable()}")

NAMESPACES = ("user namespace", "network namespace", "ipc namespace", "pid namespace", "minimal root",
              "landlock", "seccomp", "resource limits", "scrubbed environment")

# model code that tries what a user's own tool must not let it: each line of the output is
# "name: refused ..." or "name: GOT ..."
ATTACKS = r'''
import json, os, socket, signal
out = {}
def attempt(name, fn):
    try:
        got = fn()
        out[name] = "GOT " + repr(got)[:200]
    except BaseException as exc:
        out[name] = "refused " + type(exc).__name__
attempt("read the user's key", lambda: open(KEY).read())
attempt("write in the user's home", lambda: open(HOME + "/planted", "w").write("x"))
attempt("list the user's home", lambda: os.listdir(HOME))
attempt("tcp to the host", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3))
attempt("an internet socket", lambda: socket.socket(socket.AF_INET))
attempt("a unix socket of the host", lambda: socket.socket(socket.AF_UNIX).connect(SOCK))
attempt("signal the host", lambda: os.kill(HOSTPID, 0))
attempt("the host's environment", lambda: open("/proc/%d/environ" % HOSTPID).read())
attempt("other processes", lambda: [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
        or 1 / 0)  # PID 1: bwrap's init
attempt("keys in the environment", lambda: [k for k in os.environ if "KEY" in k or "TOKEN" in k] or 1 / 0)
def unshare(flags):  # os.unshare is Python 3.12's: on 3.11 an AttributeError passed for refused
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
attempt("unshare", lambda: unshare(0x40000000))  # CLONE_NEWNET (CLONE_NEWUSER needs a single thread)
attempt("etc shadow", lambda: open("/etc/shadow").read())
attempt("the home of root", lambda: os.listdir("/root"))
print(json.dumps(out))
'''

SANDBOX_SCRIPT = r'''
import json, sys, warnings
warnings.simplefilter("ignore")
from sandbox import SandboxConfig, open_sandbox
with open_sandbox(SandboxConfig(policy="trusted")) as sb:
    sb.load_context("a needle")
    r = sb.execute(sys.argv[1], timeout=60)
    report = sb.isolation()
    print(json.dumps({"stdout": r.stdout, "error": r.error, "backend": report.backend,
                      "layers": {l.layer: l.active for l in report.layers}}))
'''


@pytest.fixture
def bwrap_sb():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IsolationWarning)
        with open_sandbox(SandboxConfig(backend="bubblewrap", policy="trusted", cell_timeout_s=60)) as sb:
            yield sb


def test_the_kernel_under_bubblewrap_is_alone_and_offline(bwrap_sb):
    bwrap_sb.load_context("a needle in a haystack")
    r = bwrap_sb.execute("import os, socket\nprint(os.getpid(), sorted(p for p in os.listdir('/proc') if p.isdigit()))\n"
                         "print(len(context))\ntry:\n    socket.socket(socket.AF_INET)\nexcept OSError as e:\n"
                         "    print('refused', e.errno)")
    assert r.ok, r.error
    # PID 1 is bwrap's init (model code cannot change it), the kernel PID 2
    assert r.stdout.split("\n")[:3] == ["2 ['1', '2']", "22", "refused 97"]
    layers = {layer.layer: layer.active for layer in bwrap_sb.isolation().layers}
    assert bwrap_sb.isolation().backend == "bubblewrap"
    assert all(layers[name] for name in NAMESPACES), layers


def test_an_interrupted_cell_stops_and_the_kernel_lives_on(bwrap_sb):
    bwrap_sb.execute("kept = 41")
    r = bwrap_sb.execute("while True:\n    pass", timeout=2)
    assert r.timed_out and not r.restarted and "KeyboardInterrupt" in (r.error or "")
    assert bwrap_sb.execute("print(kept + 1)").stdout.strip() == "42"


def test_a_kernel_killed_under_bubblewrap_is_restarted_with_its_context(bwrap_sb):
    bwrap_sb.load_context("x" * 1000)
    r = bwrap_sb.execute("import os\nos._exit(3)")
    assert r.restarted and "KernelDied" in (r.error or "")
    assert bwrap_sb.execute("print(len(context))").stdout.strip() == "1000"


def test_closing_leaves_no_process_and_no_directory():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IsolationWarning)
        sb = open_sandbox(SandboxConfig(backend="bubblewrap", policy="trusted")).start()
    pid = sb._kernel_pid()
    work = sb.work_dir
    assert pid is not None and os.path.exists(f"/proc/{pid}")
    sb.close()
    assert not work.exists()
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}"):
            break
        import time
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")


# ----- as a user without root --------------------------------------------------------------------
needs_nobody = pytest.mark.skipif(why_not() is not None, reason=str(why_not()))


@pytest.fixture
def nobody_tmp():
    """A directory nobody can reach (pytest's own are root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="rlm-nobody-"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def nobody_home(nobody_tmp):
    home = nobody_tmp / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY OF THE USER")
    for p in (home, home / ".ssh", home / ".ssh" / "id_ed25519"):
        os.chown(p, nobody(), nobody())
    return home


@needs_nobody
def test_a_user_without_root_gets_bubblewrap_by_default_with_every_namespace(nobody_home):
    r = run_as_nobody([sys.executable, "-m", "cli", "sandbox", "check", "--json"], cwd=ROOT,
                      env=cli_env(nobody_home, key="k"))
    assert r.returncode == 0, r.stderr.decode()
    report = json.loads(r.stdout)
    assert report["isolation"]["backend"] == "bubblewrap" and report["smoke_ok"]
    layers = {layer["layer"]: layer["active"] for layer in report["isolation"]["layers"]}
    assert all(layers[name] for name in NAMESPACES + ("unprivileged user",)), layers


@needs_nobody
def test_model_code_of_a_user_without_root_cannot_reach_the_users_things(nobody_home, nobody_tmp):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    unix_path = nobody_tmp / "host.sock"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(unix_path))
    unix.listen()
    os.chmod(unix_path, 0o777)
    key = nobody_home / ".ssh" / "id_ed25519"
    # the user itself reads its key and reaches the socket: what the sandbox refuses, it refuses alone
    outside = run_as_nobody([sys.executable, "-c", f"import socket; print(open({str(key)!r}).read()); "
                             f"socket.socket(socket.AF_UNIX).connect({str(unix_path)!r})"], cwd=ROOT, env={})
    assert outside.returncode == 0 and b"PRIVATE KEY" in outside.stdout, outside.stderr
    try:
        code = (ATTACKS.replace("KEY", repr(str(nobody_home / ".ssh" / "id_ed25519")))
                .replace("HOME", repr(str(nobody_home))).replace("PORT", str(listener.getsockname()[1]))
                .replace("SOCK", repr(str(unix_path))).replace("HOSTPID", str(os.getpid())))
        r = run_as_nobody([sys.executable, "-c", SANDBOX_SCRIPT, code], cwd=ROOT,
                          env=cli_env(nobody_home, key="sk-the-users-key", SOME_TOKEN="t"))
    finally:
        listener.close()
        unix.close()
    assert r.returncode == 0, r.stderr.decode()
    result = json.loads(r.stdout)
    assert result["backend"] == "bubblewrap", result
    attacks = json.loads(result["stdout"])
    assert len(attacks) == 13
    for name, outcome in attacks.items():
        assert outcome.startswith("refused"), (name, outcome)
    assert not (nobody_home / "planted").exists()


@needs_nobody
def test_rlm_query_runs_for_a_user_without_root(nobody_home, nobody_tmp):
    corpus = nobody_tmp / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("hello world\n")
    os.chmod(corpus, 0o755)

    def root(call: Call) -> str:
        return ["```repl\nsize = str(len(context))\nprint(size)\n```", "FINAL_VAR(size)"][min(call.turn, 1)]

    with ScriptedServer({"root": root}) as server:
        r = run_as_nobody([sys.executable, "-m", "cli", "query", str(corpus / "a.txt"), "-q", "how long?",
                           "--model", "root", "--base-url", server.url, "--json", "--no-notes"], cwd=ROOT,
                          env=cli_env(nobody_home, key="k"))
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["answer"] == "12"
