"""Attacks from model code on the bubblewrap backend, as a user without root (nobody), with
plain Python (policy "trusted": the policy layer is assumed bypassed, the OS layers must hold
alone) and a few with the default policy: the sandbox outliving its close or the host's
death, signals to the launch command's process group, the user's own processes starving the
sandbox, the work directory opened to other users, and the routes that already hold (files,
processes, sockets, namespaces, descriptors), kept as regressions."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from unprivileged import ROOT, nobody, run_as_nobody, why_not

from sandbox import SandboxConfig
from sandbox.bubblewrap import unavailable
from sandbox.channel import KernelChannel, _listening

needs_bwrap_and_nobody = [
    pytest.mark.skipif(unavailable() is not None, reason=f"bubblewrap: {unavailable()}"),
    pytest.mark.skipif(why_not() is not None, reason=str(why_not())),
]


def sandboxed(test):
    """A test that runs a bubblewrap sandbox as nobody (skipped where it cannot)."""
    for mark in needs_bwrap_and_nobody:
        test = mark(test)
    return test

# a host (run as nobody) that opens a sandbox, runs the cells given as arguments, prints one
# JSON line per cell, then closes it (or, with RED_KILL_HOST set, dies by SIGKILL instead)
HOST = r'''
import json, os, signal, sys, time, warnings
warnings.simplefilter("ignore")
from sandbox import SandboxConfig, open_sandbox
cfg = json.loads(os.environ.get("RED_CONFIG", "{}"))
sb = open_sandbox(SandboxConfig(**{"policy": "trusted", "cell_timeout_s": 60, **cfg})).start()
for code in sys.argv[1:]:
    r = sb.execute(code)
    print(json.dumps({"stdout": r.stdout, "error": r.error, "restarted": r.restarted, "work": str(sb.work_dir),
                      "host": str(sb._host_dir), "kernel": sb._kernel_pid(), "backend": sb.isolation().backend,
                      "layers": {l.layer: l.detail for l in sb.isolation().layers if l.active}}), flush=True)
if os.environ.get("RED_AFTER"):  # what the user's own process does while the sandbox is open
    exec(os.environ["RED_AFTER"])
if os.environ.get("RED_WAIT"):
    sys.stdin.readline()  # the test looks at the open sandbox, then lets it close
if os.environ.get("RED_KILL_HOST"):
    os.kill(os.getpid(), signal.SIGKILL)
sb.close()
'''


def host(*cells: str, kill_host: bool = False, after: str = "", timeout: float = 120, **config) -> list[dict]:
    """Each cell's result; `after`, code the host runs once they ran, prints one more line."""
    env = {"HOME": "/nonexistent", "RED_CONFIG": json.dumps(config), "RED_AFTER": after}
    if kill_host:
        env["RED_KILL_HOST"] = "1"
    r = run_as_nobody([sys.executable, "-c", HOST, *cells], cwd=ROOT, env=env, timeout=timeout)
    results = [json.loads(line) for line in r.stdout.decode().splitlines() if line.startswith("{")]
    assert len(results) == len(cells) + bool(after), (r.returncode, r.stdout.decode()[-2000:],
                                                      r.stderr.decode()[-3000:])
    assert all(res["backend"] == "bubblewrap" for res in results[:len(cells)]), results
    return results


def gone(pid: int | None, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while pid is not None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return pid is None


def emptied(root: str, within: float = 20.0) -> bool:
    """Whether the sandbox's directories under `root` (work and host) are removed in time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not os.listdir(root):
            return True
        time.sleep(0.1)
    return False


def sandbox_processes(tag: str) -> list[str]:
    """nobody's live processes (not zombies) whose command line or working directory names
    `tag` (the test's own work root: no other test's or session's sandbox)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != nobody():
                continue
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if tag in cmdline or tag in cwd:
            found.append(f"{pid} {cmdline[:200]}")
    return found


def settled(root: str, within: float = 10.0) -> list[str]:
    """The sandbox's processes still there once those killed are gone (a killed process is
    listed until it has exited)."""
    deadline = time.monotonic() + within
    while (left := sandbox_processes(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture
def work_root():
    """A work root of the test's own, nobody's: its sandboxes' processes and directories are
    told apart from any other's by its name; what a test of an open hole left is killed."""
    root = Path(tempfile.mkdtemp(prefix="rlm-red-"))
    os.chown(root, nobody(), nobody())
    yield str(root)
    for _ in range(50):
        left = sandbox_processes(str(root))
        if not left:
            break
        for line in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
        time.sleep(0.1)
    shutil.rmtree(root, ignore_errors=True)


# ----- outliving the sandbox ---------------------------------------------------------------------
# The kernel was PID 1 of its namespace (bwrap --as-pid-1): model code could clear the
# parent-death signal bwrap gave it and setsid() out of the process group the host kills at
# close, and ran on, as the user, after the sandbox was closed (its work directory deleted).
OUTLIVE = r'''
import ctypes, os
ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG: none
os.setsid()
print(os.getpid())
'''


@sandboxed
def test_the_kernel_does_not_outlive_the_closed_sandbox(work_root):
    (res,) = host(OUTLIVE, work_root=work_root)
    assert res["error"] is None, res
    assert gone(res["kernel"]), f"the kernel outlived the sandbox: {sandbox_processes(work_root)}"
    assert settled(work_root) == []
    assert not os.path.exists(res["work"])


# kill(0, sig) signals the caller's process group: the launch command's, which held the
# watchdog and bwrap outside every namespace. SIGSTOP froze both; when the host then died,
# nothing cleaned up and the sandbox ran on for ever.
STOP_THE_WATCHDOG = r'''
import os, signal, time
child = os.fork()
if child == 0:  # still in the launch command's process group
    time.sleep(0.3)
    try:
        os.kill(0, signal.SIGSTOP)
    finally:
        os._exit(0)
os.setsid()  # the kernel leaves it, so as not to stop itself
time.sleep(1)
print("done")
'''


@sandboxed
@pytest.mark.parametrize("seccomp", [True, False], ids=["all-layers", "landlock-alone"])
def test_model_code_cannot_stop_the_watchdog_and_outlive_the_host(seccomp, work_root):
    (res,) = host(STOP_THE_WATCHDOG, kill_host=True, seccomp=seccomp, work_root=work_root)
    if not seccomp and "scoped to the sandbox" not in res["layers"].get("landlock", ""):
        pytest.skip(f"Landlock cannot scope signals here: {res['layers'].get('landlock')}")
    assert gone(res["kernel"]), f"the sandbox outlived its host: {sandbox_processes(work_root)}"
    assert emptied(work_root), f"the watchdog did not clean up: {os.listdir(work_root)}"
    assert settled(work_root) == []


SIGNALS = r'''
import ctypes, json, os, signal
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def attempt(name, fn):
    try:
        out[name] = "GOT " + repr(fn())[:100]
    except OSError as exc:
        out[name] = "refused " + str(exc.errno)
def raw_kill(pid, sig):
    if libc.syscall(62 if os.uname().machine == "x86_64" else 129, ctypes.c_long(pid), sig) != 0:
        raise OSError(ctypes.get_errno(), "kill")
attempt("the process group", lambda: os.kill(0, 0))
attempt("the process group, high bits set", lambda: raw_kill(1 << 32, 0))
attempt("every process", lambda: os.kill(-1, signal.SIGCONT))
attempt("the namespace's init", lambda: os.kill(1, signal.SIGTERM))
attempt("its memory", lambda: open("/proc/1/mem", "rb"))
attempt("its environment", lambda: open("/proc/1/environ").read())
for fd in os.listdir("/proc/1/fd"):
    attempt(f"its descriptor {fd}", lambda: os.readlink(f"/proc/1/fd/{fd}"))
    attempt(f"its descriptor {fd}, opened", lambda: os.open(f"/proc/1/fd/{fd}", os.O_RDONLY))
print(json.dumps(out))
'''


@sandboxed
def test_signals_reach_nothing_outside_the_sandbox():
    (res,) = host(SIGNALS)
    outcomes = json.loads(res["stdout"])
    for name, outcome in outcomes.items():
        assert outcome.startswith("refused"), (name, outcome)


@sandboxed
def test_a_host_killed_by_sigkill_leaves_no_kernel_and_no_directory(work_root):
    (res,) = host("print(1)", kill_host=True, work_root=work_root)
    assert gone(res["kernel"]), sandbox_processes(work_root)
    assert emptied(work_root), f"the watchdog did not clean up: {os.listdir(work_root)}"
    assert settled(work_root) == []


# ----- the user's process limit ------------------------------------------------------------------
# RLIMIT_NPROC was set before bwrap, outside the user namespace, where it counts every process
# and thread of the user's: a user running 64 of them (any desktop session) could not start a
# sandbox at all. Set inside the namespace it counts the sandbox's own; the user's other
# processes keep their own limit whatever the sandbox forks.
FORK_BOMB = r'''
import os, time
n, err = 0, None
for _ in range(10000):
    try:
        pid = os.fork()
    except OSError as exc:
        err = exc.errno
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    n += 1
print(n, err)
'''


@sandboxed
def test_a_fork_bomb_stops_at_the_sandboxs_limit_and_the_users_processes_do_not_count():
    others = [subprocess.Popen(["sleep", "120"], preexec_fn=_become_nobody) for _ in range(80)]
    try:
        (res,) = host(FORK_BOMB, processes=40)
        forks, err = res["stdout"].split()
        assert err == "11" and 10 < int(forks) < 40, res  # EAGAIN: the sandbox's own limit
        # the user's processes were not the sandbox's to spend: each still runs, and forks
        assert all(p.poll() is None for p in others)
        r = run_as_nobody(["/bin/sh", "-c", "/bin/true & wait"], cwd=ROOT, env={})
        assert r.returncode == 0
    finally:
        for p in others:
            p.kill()
            p.wait()


# What the kernel counts per user, across every namespace, is shared by the sandbox (the
# host's uid) and the user's own programs: model code took every inotify instance (128) and
# every queued signal (the user's RLIMIT_SIGPENDING) of the user's, whose programs then failed.
TAKE_THE_USERS_ALLOWANCES = r'''
import ctypes, json, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 0, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER off: the holder outlives the cell
class sigval(ctypes.Union):
    _fields_ = [("i", ctypes.c_int), ("p", ctypes.c_void_p)]
r, w = os.pipe()
if os.fork() == 0:
    if os.fork() == 0:  # single-threaded: a queued signal waits for it, blocked
        got = {}
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
        n = 0
        while n < 200000 and libc.sigqueue(os.getpid(), signal.SIGRTMIN, sigval(1)) == 0:
            n += 1
        got["queued signals"] = n
        n = 0
        while n < 1000 and libc.inotify_init1(0) >= 0:
            n += 1
        got["inotify instances"] = n
        os.write(w, json.dumps(got).encode())
        time.sleep(60)
    os._exit(0)
os.close(w)
print(os.read(r, 1000).decode())
'''
USERS_OWN = r'''
import ctypes, json, signal
libc = ctypes.CDLL(None, use_errno=True)
class sigval(ctypes.Union):
    _fields_ = [("i", ctypes.c_int), ("p", ctypes.c_void_p)]
signal.signal(signal.SIGRTMIN, lambda *a: None)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
print(json.dumps({"queued a signal": libc.sigqueue(os.getpid(), signal.SIGRTMIN, sigval(1)) == 0,
                  "made an inotify instance": libc.inotify_init1(0) >= 0}), flush=True)
'''


@sandboxed
def test_model_code_cannot_take_what_the_user_is_allowed_in_all(work_root):
    res, users = host(TAKE_THE_USERS_ALLOWANCES, after=USERS_OWN, work_root=work_root)
    took = json.loads(res["stdout"])
    assert took["queued signals"] <= 1024 and took["inotify instances"] == 0, took
    assert users == {"queued a signal": True, "made an inotify instance": True}, (took, users)


def _become_nobody() -> None:
    uid = nobody()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


# ----- the work directory, opened to other users -------------------------------------------------
# The kernel runs as the user and owned its work directory, a child of /tmp: model code could
# chmod it open and plant a set-user-ID copy of a shell (the mount is nosuid inside bwrap, not
# on the host), and any local user ran code as the user; or open the bridge's socket to them.
OPEN_THE_WORK_DIRECTORY = r'''
import os, shutil
os.chmod(".", 0o777)
shutil.copy("/bin/sh", "sh")
os.chmod("sh", 0o4755)
os.chmod("bridge.sock", 0o666)
print(os.getcwd())
'''
ANOTHER_USER = 54321


@sandboxed
@pytest.mark.parametrize("backend", ["bubblewrap", "launcher"])
def test_other_users_cannot_reach_the_work_directory_model_code_opened(backend):
    # the launcher of a host that is not root runs the kernel as the user too (it owned its work
    # directory in the open, as bubblewrap's did, until both got a private parent)
    env = {"HOME": "/nonexistent", "RED_CONFIG": json.dumps({"backend": backend}), "RED_WAIT": "1"}
    proc = subprocess.Popen([sys.executable, "-c", HOST, OPEN_THE_WORK_DIRECTORY], cwd=ROOT, env={
        "PYTHONPATH": str(ROOT), **env}, preexec_fn=_become_nobody, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        res = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert res["error"] is None and res["backend"] == backend, res
        work = Path(res["work"])

        def other() -> None:
            os.setgroups([])
            os.setresgid(ANOTHER_USER, ANOTHER_USER, ANOTHER_USER)
            os.setresuid(ANOTHER_USER, ANOTHER_USER, ANOTHER_USER)

        probe = ("import os, socket, subprocess, sys\n"
                 "w = sys.argv[1]\n"
                 "try:\n    print('listed', os.listdir(w))\nexcept OSError as e:\n    print('list refused', e.errno)\n"
                 "try:\n    print('ran as', subprocess.run([w + '/sh', '-p', '-c', 'id -u'], capture_output=True, "
                 "text=True).stdout.strip())\nexcept OSError as e:\n    print('run refused', e.errno)\n"
                 "try:\n    socket.socket(socket.AF_UNIX).connect(w + '/bridge.sock'); print('bridge connected')\n"
                 "except OSError as e:\n    print('bridge refused', e.errno)\n")
        r = subprocess.run([sys.executable, "-I", "-c", probe, str(work)], preexec_fn=other, capture_output=True,
                           text=True, timeout=60, cwd="/")
        out = r.stdout
        assert "list refused" in out and "run refused" in out and "bridge refused" in out, (out, r.stderr[-1000:])
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=60)
        proc.stdout.close()  # type: ignore[union-attr]


# ----- what holds (regressions) ------------------------------------------------------------------
HOLDS = r'''
import ctypes, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def attempt(name, fn):
    try:
        out[name] = "GOT " + repr(fn())[:150]
    except OSError as exc:
        out[name] = "refused " + str(exc.errno)
# descriptors: none but the kernel's own (its sockets, pipes, /dev/null)
fds = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")}
out["descriptors"] = sorted({t for t in fds.values()
                             if not t.startswith(("socket:", "pipe:", "anon_inode:")) and t != "/dev/null"})
attempt("the host's directory", lambda: os.listdir(HOSTDIR))
attempt("the launch spec", lambda: open(HOSTDIR + "/launch.json").read())
attempt("the host's /tmp", lambda: os.listdir("/tmp"))
attempt("a file of the user's in /tmp", lambda: open(USERFILE).read())
attempt("the checkout", lambda: os.listdir(CHECKOUT))
attempt("the checkout's files", lambda: open(CHECKOUT + "/pyproject.toml").read())
attempt("write beside the sandbox package", lambda: open(PACKAGE + "/planted.py", "w"))
attempt("the parent of the work directory", lambda: os.listdir(os.path.dirname(os.getcwd())))
attempt("the host's abstract socket", lambda: socket.socket(socket.AF_UNIX).connect("\0rlm-red-host"))
attempt("an internet socket", lambda: socket.socket(socket.AF_INET).connect(("127.0.0.1", 9)))
attempt("a terminal", lambda: open("/dev/tty", "rb"))
def libc_call(name, *args):
    if getattr(libc, name)(*args) != 0:
        raise OSError(ctypes.get_errno(), name)
attempt("unshare a network namespace", lambda: libc_call("unshare", 0x40000000))
attempt("setns", lambda: libc_call("setns", 0, 0))
attempt("mount", lambda: libc_call("mount", b"none", b"/tmp", b"tmpfs", 0, None))
attempt("ptrace", lambda: libc_call("ptrace", 16, 1, 0, 0))
attempt("chroot", lambda: os.chroot("/"))
def command(line):
    if os.system(line) != 0:
        raise OSError(1, line)
attempt("bubblewrap in the sandbox", lambda: command("/usr/bin/bwrap --ro-bind / / /bin/true 2>/dev/null"))
r, w = os.pipe()
child = os.fork()
if child == 0:  # single-threaded, where unshare(CLONE_NEWUSER) is possible at all
    code = libc.unshare(0x10000000)
    os.write(w, b"GOT" if code == 0 else b"refused %d" % ctypes.get_errno())
    os._exit(0)
os.waitpid(child, 0)
out["a user namespace of its own"] = os.read(r, 100).decode()
print(json.dumps(out))
'''

OPEN_AN_ABSTRACT_SOCKET = r'''
import socket
held = socket.socket(socket.AF_UNIX)
held.bind("\0rlm-red-host")
held.listen()
'''


@sandboxed
@pytest.mark.parametrize("config", [{}, {"seccomp": False}, {"network_isolation": False}, {"policy": "restricted"}],
                         ids=["all-layers", "no-seccomp", "no-network-namespace", "restricted"])
def test_model_code_reaches_nothing_of_the_users(config):
    """Files, the host's directory and launch spec, the checkout, other sandboxes, sockets,
    descriptors, namespaces: refused by the OS layers even with seccomp or the network
    namespace turned off (Landlock, bubblewrap's root and --disable-userns hold alone)."""
    user_file = Path(tempfile.mkdtemp(prefix="rlm-red-")) / "notes"
    user_file.write_text("the user's own")
    os.chown(user_file.parent, nobody(), nobody())
    os.chown(user_file, nobody(), nobody())
    try:
        code = (HOLDS.replace("USERFILE", repr(str(user_file))).replace("CHECKOUT", repr(str(ROOT)))
                .replace("PACKAGE", repr(str(ROOT / "sandbox"))))
        # the host's directory is known only once the sandbox is open: the cell reads it from a
        # variable the host's code sets (the host runs the cell twice: the first sets HOSTDIR)
        after = ("exec(os.environ['RED_OPEN'])\n"
                 "r = sb.execute('HOSTDIR = ' + repr(str(sb._host_dir)) + '\\n' + os.environ['RED_CELL'])\n"
                 "landlock = [l.detail for l in sb.isolation().layers if l.layer == 'landlock' and l.active]\n"
                 "print(json.dumps({'stdout': r.stdout, 'error': r.error, 'landlock': landlock}), flush=True)\n")
        res = host_with(after, RED_OPEN=OPEN_AN_ABSTRACT_SOCKET, RED_CELL=code, **config)
        if config.get("policy") == "restricted":  # the policy refuses before any OS layer is tried
            assert res["error"] and not res["stdout"], res
            return
        assert res["error"] is None, res
        outcomes = json.loads(res["stdout"])
        if not config.get("network_isolation", True) and "scoped" not in "".join(res["landlock"]):
            # no network namespace: only Landlock's scope (Linux 6.12) keeps the host's abstract sockets
            assert outcomes.pop("the host's abstract socket").startswith("GOT"), res["landlock"]
        assert outcomes.pop("descriptors") == [], outcomes
        for name, outcome in outcomes.items():
            assert outcome.startswith("refused"), (name, outcome)
    finally:
        shutil.rmtree(user_file.parent, ignore_errors=True)


def host_with(after: str, **config_and_env) -> dict:
    env = {k: v for k, v in config_and_env.items() if k.startswith("RED_")}
    config = {k: v for k, v in config_and_env.items() if not k.startswith("RED_")}
    r = run_as_nobody([sys.executable, "-c", HOST], cwd=ROOT, timeout=120, env={
        "HOME": "/nonexistent", "RED_CONFIG": json.dumps(config), "RED_AFTER": after, **env})
    lines = [json.loads(line) for line in r.stdout.decode().splitlines() if line.startswith("{")]
    assert lines, (r.returncode, r.stderr.decode()[-3000:])
    return lines[-1]


# ----- the host's one connection to the kernel -----------------------------------------------------
# The host connected to the kernel's shell socket as soon as its file appeared: that is at
# bind(), a moment before listen(), and a connection in between was refused for good (the host
# never reconnects). On a loaded host one start or restart in about 30 then waited out the
# startup timeout and failed: a KernelStartError out of execute() after model code's os._exit().
def test_the_host_connects_only_once_the_kernel_listens(tmp_path):
    path = str(tmp_path / "kernel-1")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)  # the file is there: not yet listening
    listened = threading.Timer(0.3, server.listen)

    class Manager:
        ip, shell_port = str(tmp_path / "kernel"), 1

        @staticmethod
        def is_alive() -> bool:
            return True

    channel = KernelChannel(SandboxConfig(startup_timeout_s=10), threading.Event())
    try:
        assert not _listening(path)
        started = time.monotonic()
        listened.start()
        channel._wait_for_shell_socket(Manager)  # type: ignore[arg-type]
        assert time.monotonic() - started >= 0.25 and _listening(path)
    finally:
        listened.cancel()
        server.close()


# the connection file's path, found from the kernel's own working directory (the host's
# directory beside the work directory, as the Workspace names them)
_CONN_OF_CWD = ("__import__('os').path.join(__import__('os').path.dirname(_top), 'rlm-host-' + "
                "__import__('os').path.basename(_top)[len('rlm-sandbox-'):], 'connection.json')")


# where a user namespace answers otherwise, and the attack fails all the same: uid 0 is not
# mapped in it, so setuid(0) is an invalid argument rather than a permission refused
_BUBBLEWRAP_OUTCOMES = {"setuid-root": ["OSError: [Errno 22] Invalid argument"]}


@sandboxed
def test_the_os_attack_table_holds_as_nobody_on_bubblewrap(host_secret, listener):
    """Every OS-layer attack of tests/test_attacks.py, as plain Python, in one bubblewrap
    sandbox opened by nobody: the layers a user without root gets must hold alone."""
    from test_attacks import OS_CASES, os_case_code

    find_top = ("import os as _os\n_top = _os.getcwd()\n"
                "_top = _top if _os.path.basename(_top).startswith('rlm-sandbox-') else _os.path.dirname(_top)\n")
    cells = [find_top + os_case_code(code, _CONN_OF_CWD, host_secret, listener.port) for _, code, _ in OS_CASES]
    results = host(*cells, timeout=600, cell_timeout_s=10)
    for (case_id, _, expect), res in zip(OS_CASES, results, strict=True):
        expect = expect + _BUBBLEWRAP_OUTCOMES.get(case_id, [])
        seen = (res["stdout"] or "") + (res["error"] or "")
        assert res["error"] is not None, f"{case_id}: the attack ran without error: {seen[:500]}"
        assert any(e in seen for e in expect), f"{case_id}: unexpected outcome: {seen[:800]}"
        assert "sk-planted" not in seen
    assert listener.connections == 0
    assert not Path(str(host_secret) + ".pwn").exists()
    assert not Path("/tmp/rlm-attack-escape").exists()
