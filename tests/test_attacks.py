"""Attack suite: hostile model code must fail harmlessly, the host must stay intact, and the
sandbox must stay usable. Policy-level cases run in restricted mode; OS-level cases run in
trusted mode too, so the OS layers are shown to hold on their own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import PLANTED_KEY

# (id, code, any of these must appear in error+stdout)
POLICY_CASES = [
    ("subclasses-walk", "().__class__.__bases__[0].__subclasses__()", ["PolicyError"]),
    ("getattr-dunder", "getattr((), '__class__')", ["AttributeError"]),
    ("mro-walk", "type(()).mro()", ["AttributeError"]),
    ("comprehension-walk", "[c for c in ().__class__.__base__.__subclasses__()]", ["PolicyError"]),
    ("generator-frame", "g = (i for i in [1])\ng.gi_frame.f_back.f_builtins", ["PolicyError", "AttributeError"]),
    ("generator-frame-getattr", "def f():\n    yield 1\ng = f()\ngetattr(g, 'gi_frame')", ["AttributeError"]),
    ("coroutine-frame", "async def f():\n    pass\nc = f()\ngetattr(c, 'cr_frame')", ["AttributeError", "PolicyError"]),
    ("traceback-attr", "try:\n    1/0\nexcept Exception as e:\n    t = e.__traceback__", ["PolicyError"]),
    ("traceback-getattr", "try:\n    1/0\nexcept Exception as e:\n    t = getattr(e, '__traceback__')", ["AttributeError"]),
    ("globals-of-helper", "llm_query.__globals__", ["PolicyError"]),
    ("getattr-globals-of-helper", "getattr(llm_query, '__self__')", ["AttributeError"]),
    ("format-leak", "'{0.__class__.__base__}'.format(1)", ["AttributeError"]),
    ("format-map-leak", "'{x.__class__}'.format_map({'x': 1})", ["AttributeError"]),
    ("formatter-leak", "import string\nstring.Formatter().format('{0.__globals__}', llm_query)", ["AttributeError"]),
    ("fstring-dunder", "f'{().__class__}'", ["PolicyError"]),
    ("random-os-pivot", "import random\nrandom._os", ["PolicyError"]),
    ("random-os-getattr", "import random\ngetattr(random, '_os')", ["AttributeError"]),
    ("json-codecs-pivot", "import json\njson.codecs.open('/etc/passwd').read()", ["AttributeError"]),
    ("re-copyreg-pivot", "import re\nre.copyreg", ["AttributeError"]),
    ("dataclasses-sys-pivot", "import dataclasses\ndataclasses.sys.modules", ["AttributeError"]),
    ("warnings-sys", "import warnings\nwarnings.sys", ["ImportError"]),
    ("import-os", "import os", ["ImportError"]),
    ("import-subprocess", "import subprocess", ["ImportError"]),
    ("import-socket", "import socket", ["ImportError"]),
    ("import-ctypes", "import ctypes", ["ImportError"]),
    ("import-importlib", "import importlib", ["ImportError"]),
    ("import-sys", "import sys", ["ImportError"]),
    ("import-builtins", "import builtins", ["ImportError", "PolicyError"]),
    ("import-mmap", "import mmap", ["ImportError"]),
    ("import-multiprocessing", "import multiprocessing", ["ImportError"]),
    ("from-os-import", "from os import path", ["ImportError"]),
    ("dunder-import", "__import__('os')", ["PolicyError"]),
    ("open-file", "open('/etc/passwd').read()", ["NameError"]),
    ("eval", "eval('1+1')", ["NameError", "PolicyError"]),
    ("exec", "exec('x = 1')", ["NameError", "PolicyError"]),
    ("compile", "compile('1', 'x', 'eval')", ["NameError"]),
    ("globals-call", "globals()", ["NameError"]),
    ("vars-call", "vars()", ["NameError"]),
    ("attrgetter-bypass", "import operator\noperator.attrgetter('__class__')(1)", ["AttributeError"]),
    ("methodcaller-bypass", "import operator\noperator.methodcaller('__reduce_ex__', 2)(1)", ["AttributeError"]),
    ("type-hints-eval", "import typing\ntyping.get_type_hints", ["AttributeError"]),
    ("exception-obj", "try:\n    (1).nonexistent\nexcept AttributeError as e:\n    e.obj", ["AttributeError"]),
    # bypasses found by the second review, closed at their root (see the policy module)
    ("formatter-subclass-super",
     "import string\nclass F(string.Formatter):\n    def get_field(self, field_name, args, kwargs):\n"
     "        return super().get_field(field_name, args, kwargs)\nF().format('{0.__globals__}', SHOW_VARS)",
     ["AttributeError"]),
    ("formatter-super-of-instance",
     "import string\nf = string.Formatter()\nsuper(type(f), f).get_field('0.__globals__', (SHOW_VARS,), {})",
     ["AttributeError"]),
    ("real-type-from-type-of-type", "T = type(type(1))\nT('A', (), {'x': 1})", ["TypeError"]),
    ("dataclass-field-names-as-code",
     "import dataclasses\nT = type(type(1))\nA = T('A', (), {'__annotations__': {'a=print(1)': int}})\n"
     "dataclasses.dataclass(A)", ["TypeError"]),
    ("update-wrapper-raw-getattr",
     "import functools\nclass W:\n    pass\nw = W()\nfunctools.update_wrapper(w, SHOW_VARS, assigned=('__globals__',))",
     ["PolicyError"]),
    ("wraps-raw-getattr",
     "import functools\nfunctools.wraps(SHOW_VARS, assigned=('__globals__',))", ["PolicyError"]),
    ("unbound-str-format", "str.format('{0.__class__.__base__}', 1)", ["AttributeError"]),
    ("unbound-str-format-map", "str.format_map('{x.__class__}', {'x': 1})", ["AttributeError"]),
    ("str-subclass-format", "class S(str):\n    pass\nS.format('{0.__class__}', 1)", ["AttributeError"]),
    ("singledispatch-annotation-eval",
     "import functools\n@functools.singledispatch\ndef f(x):\n    return 0\n"
     "def g(x: \"[c for c in ().__class__.__base__.__subclasses__()]\"):\n    return 1\nf.register(g)",
     ["AttributeError"]),
    ("make-dataclass", "import dataclasses\ndataclasses.make_dataclass('X', ['__class__'])", ["AttributeError"]),
    ("metaclass-type", "class M(type):\n    pass", ["PolicyError"]),
    ("except-star", "try:\n    pass\nexcept* Exception:\n    pass", ["PolicyError", "SyntaxError"]),
    ("posonly-getattr-shadow", "def f(_getattr_, /):\n    return 1", ["PolicyError"]),
    ("module-write", "import math\nmath.pi = 3", ["PolicyError", "AttributeError"]),
    ("setattr-helper", "setattr(llm_query, 'x', 1)", ["PolicyError"]),
    ("ipython-shell-escape", "!cat /etc/passwd", ["SyntaxError"]),
    ("ipython-magic", "%env", ["SyntaxError"]),
    ("type-three-args", "type('X', (), {})", ["TypeError"]),
    ("dir-no-args", "dir()", ["PolicyError"]),
    ("recursion-bomb", "def f():\n    return f()\nf()", ["RecursionError"]),
    ("memory-bomb", "x = 'a' * (10**11)", ["MemoryError"]),
    ("memory-bomb-gradual", "def grow():\n    l = []\n    while True:\n        l.append(' ' * 10**8)\ngrow()", ["MemoryError"]),
    ("hostile-compile-nesting", "'-' * 400000 + '1'", None),  # built at run time below
]


def _host_intact(sb, host_secret: Path, listener) -> None:
    assert host_secret.read_text().startswith("top secret"), "the host file changed"
    assert listener.connections == 0, "something reached the host's listener"
    r = sb.execute("print(len(context))", timeout=20)
    assert r.error is None and r.stdout.strip() == "43", f"sandbox unusable: {r}"


@pytest.mark.parametrize("case_id,code,expect", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_policy_attack(restricted_sb, host_secret, listener, case_id, code, expect):
    if case_id == "hostile-compile-nesting":
        code = "-" * 400_000 + "1"
        expect = ["RecursionError", "MemoryError", "SyntaxError"]
    r = restricted_sb.execute(code, timeout=20)
    seen = (r.stdout or "") + (r.error or "")
    assert r.error is not None, f"attack ran without error: {seen[:500]}"
    assert any(e in seen for e in expect), f"unexpected outcome: {seen[:800]}"
    assert PLANTED_KEY not in seen
    _host_intact(restricted_sb, host_secret, listener)


def test_reserved_names_restored(restricted_sb):
    # rebinding the context or a helper is refused before the cell runs (nothing of it runs) ...
    r = restricted_sb.execute("x = 1\nllm_query = 5\ncontext = 'gone'\nanswer = 3")
    assert r.error.startswith("ProtectedName") and "`llm_query`, `context`" in r.error
    assert "x" not in [v.name for v in restricted_sb.variables()]
    # ... and a reserved name a cell did overwrite is put back after it
    r = restricted_sb.execute("answer = 3")
    assert r.restored == ["answer"]
    r = restricted_sb.execute("print(callable(llm_query), len(context), answer['ready'])")
    assert r.stdout.strip() == "True 43 False"


def test_infinite_loop_is_interrupted(restricted_sb):
    r = restricted_sb.execute("while True:\n    pass", timeout=1.5)
    assert r.timed_out and not r.restarted
    assert "TimeoutError" in r.error
    assert restricted_sb.execute("print(1)").stdout == "1\n"


def test_output_flood_is_capped(restricted_sb):
    r = restricted_sb.execute("for i in range(10**6):\n    print(i)", timeout=60)
    assert r.truncated and r.error is None
    assert len(r.stdout) < restricted_sb.config.output_limit_chars + 500
    assert "characters cut" in r.stdout and r.stdout.rstrip().endswith("999999")


def test_huge_last_expression_is_capped(restricted_sb):
    r = restricted_sb.execute("'x' * 10**8", timeout=60)
    assert len(r.stdout) < restricted_sb.config.output_limit_chars + 500
    assert "cut" in r.stdout


def test_huge_source_is_refused(restricted_sb):
    r = restricted_sb.execute("x = 1\n" * 300_000)
    assert "SourceTooLarge" in r.error


# ---------------------------------------------------------------- OS layers (trusted mode)

OS_CASES = [
    ("read-etc-shadow", "print(open('/etc/shadow').read())", ["PermissionError", "FileNotFoundError"]),
    ("read-connection-file", "print(open(CONN).read())", ["PermissionError", "FileNotFoundError"]),
    ("read-host-secret", "print(open(SECRET).read())", ["PermissionError", "FileNotFoundError"]),
    ("list-host-home", "import os\nprint(os.listdir(HOME))\nopen(HOME + '/.bash_history').read()",
     ["PermissionError", "FileNotFoundError"]),
    ("proc-self-environ", "env = open('/proc/self/environ').read()\nassert 'OPENAI' not in env\nraise SystemExit('clean')", ["clean"]),
    ("os-environ", "import os\nassert not any('OPENAI' in k or 'RLM_TEST' in k for k in os.environ)\nraise SystemExit('clean')", ["clean"]),
    ("proc-1-environ", "env = open('/proc/1/environ').read()\nassert 'OPENAI' not in env\nraise SystemExit('clean')",
     ["PermissionError", "FileNotFoundError", "clean"]),  # PID 1 is the kernel itself in its PID namespace
    ("proc-parent-environ", "import os\nprint(open(f'/proc/{os.getppid()}/environ').read())", ["PermissionError", "FileNotFoundError"]),
    ("proc-host-environ", "print(open('/proc/HOSTPID/environ').read())", ["PermissionError", "FileNotFoundError"]),
    ("write-tmp", "open('/tmp/rlm-attack-escape', 'w').write('x')", ["PermissionError", "Read-only file system"]),
    ("write-secret-dir", "open(SECRET + '.pwn', 'w').write('x')", ["PermissionError", "FileNotFoundError"]),
    ("overwrite-secret", "open(SECRET, 'w').write('pwned')", ["PermissionError", "FileNotFoundError"]),
    ("write-dev-shm", "open('/dev/shm/rlm-attack', 'w').write('x')", ["PermissionError", "FileNotFoundError"]),
    ("network-tcp", "import socket\ns = socket.create_connection(('127.0.0.1', PORT), timeout=2)", ["OSError", "unreachable"]),
    ("network-udp", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'x', ('127.0.0.1', PORT))", ["OSError", "unreachable"]),
    ("network-dns", "import socket\nsocket.getaddrinfo('pypi.org', 443)", ["gaierror", "OSError"]),
    ("kill-host", "import os, signal\nos.kill(HOSTPID, signal.SIGKILL)", ["PermissionError", "ProcessLookupError"]),
    ("setuid-root", "import os\nos.setuid(0)", ["PermissionError"]),
    ("unshare-netns", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.unshare(0x40000000) != 0\nraise OSError(ctypes.get_errno(), 'unshare refused')", ["unshare refused"]),
    ("ptrace-host", "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.ptrace(16, os.getppid(), 0, 0) != 0\nraise OSError('ptrace refused')", ["ptrace refused"]),
    ("mount-tmpfs", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) != 0\nraise OSError('mount refused')", ["mount refused"]),
    ("file-10gb", "f = open('big.bin', 'wb')\nf.seek(10 * 2**30)\nf.write(b'x')\nf.close()", ["File too large", "EFBIG", "OSError"]),
    ("file-stream-2gb", "f = open('big2.bin', 'wb')\nblock = b'x' * 2**26\nfor i in range(32):\n    f.write(block)\nf.flush()", ["File too large", "OSError"]),
    ("memory-bomb-os", "x = bytearray(20 * 2**30)", ["MemoryError"]),
    ("process-limit", "import os\npids = []\ntry:\n    for i in range(500):\n        pid = os.fork()\n        if pid == 0:\n            import time\n            time.sleep(30)\n            os._exit(0)\n        pids.append(pid)\nexcept OSError as e:\n    raise OSError(f'stopped after {len(pids)} forks: {e}')", ["stopped after"]),
    ("sleep-forever", "import time\ntime.sleep(1e9)", ["TimeoutError"]),
    ("bridge-garbage", "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('bridge.sock')\ns.sendall(b'\\xff' * 64)\ns.close()\nraise SystemExit('sent')", ["sent"]),
    ("bridge-unknown-op", "import socket, json, struct\ns = socket.socket(socket.AF_UNIX)\ns.connect('bridge.sock')\nb = json.dumps({'op': 'shell', 'args': {'cmd': 'id'}}).encode()\ns.sendall(struct.pack('>I', len(b)) + b)\nprint(s.recv(1000))\nraise SystemExit('done')", ["unknown request"]),
]


def os_case_code(code: str, conn: str, host_secret: Path, port: int) -> str:
    """An OS_CASES attack with its place-holders filled: the connection file's path (or an
    expression that finds it), the host's secret, the listener's port, this process."""
    return (code.replace("CONN", conn)
            .replace("SECRET", repr(str(host_secret)))
            .replace("HOME", repr(str(Path.home())))
            .replace("PORT", str(port))
            .replace("HOSTPID", str(os.getpid())))


def run_os_case(sb, host_secret: Path, listener, case_id: str, code: str, expect: list[str]) -> None:
    """Run one OS_CASES attack in `sb` (a started sandbox of the test sentence, plain Python)
    and check it failed as expected and left the host and the sandbox as they were."""
    code = os_case_code(code, repr(str(sb._host_dir / "connection.json")), host_secret, listener.port)
    r = sb.execute(code, timeout=3 if case_id == "sleep-forever" else 30)
    seen = (r.stdout or "") + (r.error or "")
    assert r.error is not None, f"attack ran without error: {seen[:500]}"
    assert any(e in seen for e in expect), f"unexpected outcome: {seen[:800]}"
    assert PLANTED_KEY not in seen
    assert not Path("/tmp/rlm-attack-escape").exists()
    assert not Path(str(host_secret) + ".pwn").exists()
    _host_intact(sb, host_secret, listener)


@pytest.mark.parametrize("case_id,code,expect", OS_CASES, ids=[c[0] for c in OS_CASES])
def test_os_layer_attack(trusted_sb, host_secret, listener, case_id, code, expect):
    run_os_case(trusted_sb, host_secret, listener, case_id, code, expect)


def test_sigint_ignored_kills_and_restarts(fresh_sb):
    fresh_sb.execute("keep = 1")
    r = fresh_sb.execute("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass", timeout=1)
    assert r.timed_out and r.restarted
    assert "restarted" in r.error
    r = fresh_sb.execute("print(len(context))\nprint('keep' in globals())")
    assert r.stdout.split() == ["43", "False"]


def test_segfault_gives_clear_error(fresh_sb):
    r = fresh_sb.execute("import ctypes\nctypes.string_at(0)", timeout=20)
    assert r.restarted and "SIGSEGV" in r.error
    assert fresh_sb.execute("print(context[:3])").stdout == "the\n"


def test_fork_bomb_is_contained(fresh_sb):
    r = fresh_sb.execute("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", timeout=3)
    assert r.timed_out
    assert fresh_sb.execute("print(1)").stdout == "1\n"


def test_setsid_children_do_not_survive_close(trusted_sb):
    from sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(policy="trusted")).start()
    uid = sb._uid
    r = sb.execute("import subprocess\np = subprocess.Popen(['setsid', 'sleep', '300'])\nprint(p.pid)")
    assert r.error is None, r.error
    sb.close()
    if uid is None:
        pytest.skip("not root: no per-sandbox uid")
    survivors = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            if f"Uid:\t{uid}\t" in status and "State:\tZ" not in status:
                survivors.append(entry)
    assert survivors == []


def test_sandboxes_cannot_read_each_other(trusted_sb):
    from sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(policy="trusted")) as other:
        other.execute("open('mine.txt', 'w').write('private')")
        target = other.work_dir / "mine.txt"
        r = trusted_sb.execute(f"print(open({str(target)!r}).read())")
        assert r.error is not None and "private" not in r.stdout


# ---------------------------------------------------------------- links planted for the host (trusted mode)

FORCE_RESTART = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"


def test_links_planted_in_the_work_dir_are_never_followed_by_root(tmp_path):
    import socket
    import threading
    import time

    from sandbox import Sandbox, SandboxConfig

    canary = tmp_path / "canary.txt"
    canary.write_text("root's own file\n")
    os.chmod(canary, 0o644)
    before = os.stat(canary)
    tmp_path.chmod(0o777)
    service = tmp_path / "service.sock"  # a host service's Unix socket
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(service))
    os.chmod(service, 0o777)
    listener.listen(16)
    listener.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.close()

    watcher = threading.Thread(target=accept)
    watcher.start()
    plant = (
        "import os, glob\n"
        f"for name in ['.kernel/connection.json', '.kernel/options.json', 'options.json', 'connection.json']:\n"
        f"    os.makedirs(os.path.dirname(name) or '.', exist_ok=True)\n"
        f"    if os.path.lexists(name):\n        os.unlink(name)\n"
        f"    os.symlink({str(canary)!r}, name)\n"
        "for path in glob.glob('kernel-*'):\n"
        f"    os.unlink(path)\n    os.symlink({str(service)!r}, path)\n"
        "print('planted')")
    try:
        with Sandbox(SandboxConfig(policy="trusted", cell_timeout_s=10, interrupt_grace_s=1)) as sb:
            sb.load_context("abc")
            assert sb.execute(plant).stdout == "planted\n"
            r = sb.execute(FORCE_RESTART, timeout=1)  # the host restarts the kernel, rewriting its files
            assert r.restarted
            assert sb.execute("print(len(context))").stdout == "3\n"
            time.sleep(0.5)
    finally:
        stop.set()
        watcher.join()
        listener.close()
    after = os.stat(canary)
    assert canary.read_text() == "root's own file\n"
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
    assert accepted == []
