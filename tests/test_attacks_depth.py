"""Attack suite in depth: several routes for each class of attack, in each policy where it
makes sense, against real sandboxes.

Policy-layer routes run in restricted mode: an attack "escapes" when it reaches something that
runs os-level code or reads what the guards hide (a real `type`, `__globals__`, private
attributes of the objects the kernel hands out, code executed with the real builtins). The
OS layers are attacked in trusted mode (plain Python: os, socket, ctypes, mmap), where they
must hold on their own. Host robustness attacks measure the host test process itself (its
peak RSS, open descriptors and threads).

Code run in the kernel prints `MARK` (spelled 'ESC' + 'APED' there, so that a traceback that
echoes the source never contains it) only when an attack got through. A route the product
does not stop yet is a strict xfail whose reason says what happened: when a fix lands the
xfail turns into a failure, telling us to remove the marker.

After every attack `intact()` checks the canaries (the host secret, a root-owned file, the
host's planted key, which the kernel must never see) and that the sandbox still answers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import PLANTED_KEY, host_intact, seen

from rlm.tools import notes_tools, query_tools
from sandbox import HostRequest, Sandbox, SandboxConfig
from sandbox.config import GiB, MiB

MARK = "ESCAPED"
FORCE_RESTART = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
RT = "from sandbox.kernel.kernel import SandboxKernel\nrt = SandboxKernel.runtime\n"


def xfail(reason: str):
    return pytest.mark.xfail(strict=True, reason=f"escape: {reason}")


# ================================================================ canaries and shared checks
class Canary:
    """A root-owned file (0644) in a world-readable directory outside any work directory."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o755)
        self.dir = directory
        self.path = directory / "canary.txt"
        self.text = f"root's own file {secrets.token_hex(8)}\n"
        self.path.write_text(self.text)
        os.chmod(self.path, 0o644)
        self.stat = self._stat(self.path)
        self.dir_stat = self._stat(directory)
        self.listing = sorted(os.listdir(directory))

    @staticmethod
    def _stat(p: Path) -> tuple[int, int, int]:
        st = os.lstat(p)
        return st.st_uid, st.st_gid, st.st_mode

    def check(self) -> None:
        assert self.path.read_text() == self.text, "the root-owned canary's content changed"
        assert self._stat(self.path) == self.stat, "the root-owned canary's owner or mode changed"
        assert self._stat(self.dir) == self.dir_stat, "the canary's directory changed owner or mode"
        assert sorted(os.listdir(self.dir)) == self.listing, "something was created next to the canary"


@pytest.fixture(scope="module")
def canary(tmp_path_factory) -> Canary:
    return Canary(tmp_path_factory.mktemp("depth-canary") / "root-owned")


def intact(sb: Sandbox, host_secret: Path, canary: Canary, listener=None) -> None:
    """The host is untouched (its canaries too) and the sandbox still answers."""
    canary.check()
    host_intact(sb, host_secret, listener)


def not_escaped(r) -> None:
    text = seen(r)
    assert MARK not in text, f"the attack got through: {text[:1500]}"
    assert PLANTED_KEY not in text
    # a route that failed on a name of its own would test nothing
    assert "NameError" not in text, f"the attack's code is broken: {text[-1500:]}"


def ran(r) -> None:
    """The route's code compiled: RestrictedPython refused none of its own names (a refusal of
    an incidental name would stop the route before it tried anything)."""
    text = seen(r)
    assert "invalid attribute name" not in text and "invalid variable name" not in text, text[-800:]


def host_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def host_status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def reset_peak_rss() -> int:
    """Reset the test process's peak RSS (VmHWM) and return its RSS now, in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return host_status("VmRSS") * 1024


def peak_rss() -> int:
    return host_status("VmHWM") * 1024


def sandbox_pids(uid: int) -> list[int]:
    """Live processes of a sandbox's uid on the host."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if f"Uid:\t{uid}\t" in status and "State:\tZ" not in status:
            found.append(int(entry))
    return found


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# ================================================================ 1. policy bypasses (restricted)
@pytest.fixture(scope="module")
def docs_sb(restricted_sb, tmp_path_factory):
    """The module's restricted sandbox, with a two-file context as well (so `docs` exists)."""
    d = tmp_path_factory.mktemp("depth-docs")
    (d / "a.txt").write_text("alpha document\n")
    (d / "b.txt").write_text("beta document\n")
    restricted_sb.load_context([d / "a.txt", d / "b.txt"], name="files")
    r = restricted_sb.execute("print(len(docs), docs[0].path.endswith('a.txt'))")
    assert r.stdout == "2 True\n", r
    return restricted_sb


# the objects the kernel hands out, each with a private attribute that leads somewhere
TARGETS = [
    ("llm_query", "__globals__"),
    ("rlm_query", "__closure__"),
    ("remember", "__globals__"),
    ("SHOW_VARS", "__self__"),
    ("FINAL_VAR", "__func__"),
    ("archive", "_kernel"),
    ("answer", "__class__"),
    ("Out", "__class__"),
    ("docs[0]", "_source"),
]
TARGET_IDS = [t[0].replace("[0]", "0") for t in TARGETS]

SUPER_FORMAT = (
    "class S(str):\n"
    "    def leak(self, obj):\n"
    "        return super().format(obj)\n"
    "text = S('{0.ATTR!r:.80}').leak(TARGET)\n"
    "print('ESC' + 'APED', text)\n"
)
SUPER_FORMAT_MAP = (
    "class S(str):\n"
    "    def leak(self, obj):\n"
    "        return super().format_map({'x': obj})\n"
    "text = S('{x.ATTR!r:.80}').leak(TARGET)\n"
    "print('ESC' + 'APED', text)\n"
)
FORMATTER_SUPER_GET_FIELD = (
    "import string\n"
    "class F(string.Formatter):\n"
    "    def get_field(self, field_name, args, kwargs):\n"
    "        return super().get_field(field_name, args, kwargs)\n"
    "obj = F().get_field('0.ATTR', (TARGET,), {})[0]\n"
    "print('ESC' + 'APED', repr(obj)[:80])\n"
)
FORMATTER_SUPER_OF_INSTANCE = (
    "import string\n"
    "f = string.Formatter()\n"
    "obj = super(type(f), f).get_field('0.ATTR', (TARGET,), {})[0]\n"
    "print('ESC' + 'APED', obj)\n"
)
FORMATTER_UNBOUND = (
    "import string\n"
    "obj = string.Formatter.get_field(string.Formatter(), '0.ATTR', (TARGET,), {})[0]\n"
    "print('ESC' + 'APED', obj)\n"
)
FORMATTER_VFORMAT_GET_VALUE = (
    "import string\n"
    "class F(string.Formatter):\n"
    "    def get_value(self, key, args, kwargs):\n"
    "        return TARGET\n"
    "print('ESC' + 'APED', F().vformat('{0.ATTR!r:.80}', (), {}))\n"
)
USERSTRING_FORMAT = (
    "import collections\n"
    "class U(collections.UserString):\n"
    "    pass\n"
    "print('ESC' + 'APED', U('{0.ATTR!r:.80}').format(TARGET))\n"
)
USERSTRING_FORMAT_MAP = (
    "import collections\n"
    "print('ESC' + 'APED', collections.UserString('{x.ATTR!r:.80}').format_map({'x': TARGET}))\n"
)
UNBOUND_STR_FORMAT = "print('ESC' + 'APED', str.format('{0.ATTR!r:.80}', TARGET))\n"
UNBOUND_STR_FORMAT_MAP = "print('ESC' + 'APED', str.format_map('{x.ATTR!r:.80}', {'x': TARGET}))\n"
MAPPED_STR_FORMAT = "print('ESC' + 'APED', list(map(str.format, ['{0.ATTR!r:.80}'], [TARGET])))\n"
PARTIAL_STR_FORMAT = (
    "import functools\n"
    "print('ESC' + 'APED', functools.partial(str.format, '{0.ATTR!r:.80}')(TARGET))\n"
)
METHODCALLER_FORMAT = (
    "import operator\n"
    "print('ESC' + 'APED', operator.methodcaller('format', TARGET)('{0.ATTR!r:.80}'))\n"
)
UPDATE_WRAPPER_ASSIGNED = (
    "import functools\n"
    "class W:\n"
    "    pass\n"
    "w = W()\n"
    "functools.update_wrapper(w, TARGET, assigned=('ATTR',))\n"
    "print('ESC' + 'APED', getattr(w, 'ATTR'))\n"
)
UPDATE_WRAPPER_POSITIONAL = (
    "import functools\n"
    "class W:\n"
    "    pass\n"
    "w = W()\n"
    "functools.update_wrapper(w, TARGET, ('ATTR',), ())\n"
    "print('ESC' + 'APED', getattr(w, 'ATTR'))\n"
)
UPDATE_WRAPPER_PARTIAL = (
    "import functools\n"
    "class W:\n"
    "    pass\n"
    "w = W()\n"
    "functools.partial(functools.update_wrapper, assigned=('ATTR',))(w, TARGET)\n"
    "print('ESC' + 'APED', getattr(w, 'ATTR'))\n"
)
WRAPS_ASSIGNED = (
    "import functools\n"
    "class W:\n"
    "    pass\n"
    "w = functools.wraps(TARGET, ('ATTR',))(W())\n"
    "print('ESC' + 'APED', getattr(w, 'ATTR'))\n"
)

def _policy_params():
    params = []
    for template, tid in [
        (SUPER_FORMAT, "super-format"),
        (SUPER_FORMAT_MAP, "super-format-map"),
        (FORMATTER_SUPER_GET_FIELD, "formatter-subclass-super-get-field"),
        (FORMATTER_SUPER_OF_INSTANCE, "formatter-super-of-instance"),
        (FORMATTER_UNBOUND, "formatter-unbound-get-field"),
        (FORMATTER_VFORMAT_GET_VALUE, "formatter-get-value-override"),
        (UNBOUND_STR_FORMAT, "unbound-str-format"),
        (USERSTRING_FORMAT, "userstring-format"),
        (USERSTRING_FORMAT_MAP, "userstring-format-map"),
        (UNBOUND_STR_FORMAT_MAP, "unbound-str-format-map"),
        (MAPPED_STR_FORMAT, "map-str-format"),
        (PARTIAL_STR_FORMAT, "partial-str-format"),
        (METHODCALLER_FORMAT, "methodcaller-format"),
        (UPDATE_WRAPPER_ASSIGNED, "update-wrapper-assigned"),
        (UPDATE_WRAPPER_POSITIONAL, "update-wrapper-positional"),
        (UPDATE_WRAPPER_PARTIAL, "update-wrapper-partial"),
        (WRAPS_ASSIGNED, "wraps-assigned"),
    ]:
        for (target, attr), target_id in zip(TARGETS, TARGET_IDS, strict=True):
            code = template.replace("TARGET", target).replace("ATTR", attr)
            params.append(pytest.param(code, id=f"{tid}-{target_id}"))
    return params


@pytest.mark.parametrize("code", _policy_params())
def test_policy_route_against_kernel_objects(docs_sb, host_secret, canary, listener, code):
    r = docs_sb.execute(code, timeout=20)
    print(seen(r)[-300:])
    not_escaped(r)
    ran(r)
    assert r.error is not None, f"the route ran without error: {seen(r)[:500]}"
    intact(docs_sb, host_secret, canary, listener)


# code executed by a dataclass's generated methods: `(self.a,EXPR,)==(other.a,EXPR,)` in __eq__
_FIELD = "a,print('ESC'+'APED', __import__('os').getuid(), open('/etc/passwd').read()[:4])"

POLICY_ROUTES = [
    # -- a real `type` (three arguments: a class from any dict, past the class checks)
    pytest.param("T = type(type(1))\nA = T('A', (), {'x': 1})\nprint('ESC' + 'APED', A)", id="type-of-type"),
    pytest.param("T = type(type)\nprint('ESC' + 'APED', T('A', (), {'x': 1}))", id="type-of-guarded-type"),
    pytest.param("import typing\nT = typing.get_origin(typing.Type[int])\nA = T('A', (), {'__module__': 'x', 'q': 1})\n"
                 "print('ESC' + 'APED', A)", id="typing-get-origin-Type"),
    pytest.param("import typing\nM = typing.ABCMeta\nA = M('A', (), {'__module__': 'x', 'q': 1})\n"
                 "print('ESC' + 'APED', A)", id="typing-ABCMeta"),
    pytest.param("import typing\nT = typing.get_origin(typing.Type)\nprint('ESC' + 'APED', T('A', (), {'__module__': 'x'}))",
                 id="typing-get-origin-bare-Type"),
    pytest.param("class M(type):\n    pass\nprint('ESC' + 'APED', M)", id="metaclass-subclass"),
    # -- dataclass field names compiled into generated code
    pytest.param(f"import dataclasses\nX = dataclasses.make_dataclass('X', [({_FIELD!r}, int)])\nX() == X()",
                 id="make-dataclass-hostile-name"),
    pytest.param("import dataclasses\nX = dataclasses.make_dataclass('X', ['a'], namespace={'a': 1})\n"
                 "print('ESC' + 'APED', X)", id="make-dataclass-plain"),
    pytest.param(f"import typing, dataclasses\nA = typing.ABCMeta('A', (), {{'a': 1, '__annotations__': {{{_FIELD!r}: int}}}})\n"
                 "dataclasses.dataclass(A, init=False, repr=False)\nA() == A()", id="dataclass-fields-via-ABCMeta"),
    pytest.param(f"import typing, dataclasses\nT = typing.get_origin(typing.Type[int])\n"
                 f"A = T('A', (), {{'a': 1, '__module__': '__rlm__', '__annotations__': {{{_FIELD!r}: int}}}})\n"
                 "dataclasses.dataclass(A, init=False, repr=False)\nA() == A()", id="dataclass-fields-via-real-type"),
    pytest.param(f"import typing, dataclasses, functools\nT = typing.TypedDict('T', {{{_FIELD!r}: int}})\n"
                 "class A:\n    a = 1\ntry:\n    functools.update_wrapper(A, T)\nexcept AttributeError:\n    pass\n"
                 "dataclasses.dataclass(A, init=False, repr=False)\nA() == A()",
                 id="dataclass-fields-via-typeddict-update-wrapper"),
    pytest.param(f"import typing, dataclasses\nT = typing.TypedDict('T', {{{_FIELD!r}: int}})\n"
                 "dataclasses.dataclass(T)\nprint('ESC' + 'APED')", id="dataclass-of-typeddict-init"),
    pytest.param("import dataclasses\nclass A:\n    a: int = 1\nf = dataclasses.fields(dataclasses.dataclass(A))[0]\n"
                 f"f.name = {_FIELD!r}\n"
                 "class B(A):\n    b: int = 2\ndataclasses.dataclass(B)\nB() == B()", id="dataclass-field-rename"),
    # -- raw getattr through functools / typing
    pytest.param("import functools\nclass W:\n    pass\nw = W()\nfunctools.update_wrapper(w, llm_query, updated=('__dict__', '__globals__'))\n"
                 "print('ESC' + 'APED')", id="update-wrapper-updated"),
    pytest.param("import functools\nclass W:\n    pass\nw = functools.lru_cache(W)\nprint('ESC' + 'APED', getattr(w, '__wrapped__'))",
                 id="lru-cache-wrapped"),
    pytest.param("import typing\nprint('ESC' + 'APED', typing.get_type_hints(llm_query, {}, {}))", id="get-type-hints"),
    pytest.param("import typing\nr = typing.ForwardRef('().__class__')\nprint('ESC' + 'APED', r)", id="forward-ref"),
    pytest.param("import operator\ng = operator.attrgetter('__globals__')\nprint('ESC' + 'APED', g(llm_query))", id="attrgetter"),
    pytest.param("import functools\nprint('ESC' + 'APED', functools.reduce(getattr, ['__self__', 'ns'], SHOW_VARS))", id="reduce-getattr"),
    pytest.param("import string\nprint('ESC' + 'APED', string.Template('$x').substitute({'x': 1}), string.Formatter().format('{0._kernel}', archive))",
                 id="template-then-formatter"),
]


@pytest.mark.parametrize("code", POLICY_ROUTES)
def test_policy_route(docs_sb, host_secret, canary, listener, code):
    r = docs_sb.execute(code, timeout=20)
    print(seen(r)[-300:])
    not_escaped(r)
    ran(r)
    assert r.error is not None, f"the route ran without error: {seen(r)[:500]}"
    intact(docs_sb, host_secret, canary, listener)


# ================================================================ 2. links planted for the host and launcher (trusted)
_HOST_NAMES = [".kernel/connection.json", ".kernel/options.json", ".kernel/launch.json", ".kernel/isolation.json",
               ".kernel/kernel.log", "connection.json", "options.json", "launch.json", "isolation.json",
               "kernel.log", ".kernel/jupyter/kernel.json", ".kernel/ipython/profile_default/startup/00.py"]


def _plant_files(target: str) -> str:
    return (
        "import os\n"
        f"names = {_HOST_NAMES!r} + ['kernel-%d' % i for i in range(1, 41)]\n"
        "for name in names:\n"
        "    os.makedirs(os.path.dirname(name) or '.', exist_ok=True)\n"
        "    if os.path.lexists(name) and not os.path.isdir(name):\n"
        "        os.unlink(name)\n"
        "    if not os.path.lexists(name):\n"
        f"        os.symlink({target!r}, name)\n"
        "print('planted', len(names))\n"
    )


def _plant_dirs(target_dir: str) -> str:
    # the directories the host made (and chowned) at setup, replaced by links to a root-owned directory
    return (
        "import os, shutil\n"
        "for name in ['.kernel', 'tmp', '.kernel-new']:\n"
        "    if os.path.isdir(name) and not os.path.islink(name):\n"
        "        shutil.rmtree(name)\n"
        "    elif os.path.lexists(name):\n"
        "        os.unlink(name)\n"
        f"    os.symlink({target_dir!r}, name)\n"
        "print('planted', sorted(os.listdir('.')))\n"
    )


@pytest.mark.parametrize("route", ["file-links", "dir-links", "both"])
def test_planted_links_are_never_followed_on_restart(tmp_path, host_secret, canary, route):
    own = Canary(tmp_path / "own")  # one per test, so a failure names this route
    cfg = SandboxConfig(policy="trusted", cell_timeout_s=20, interrupt_grace_s=1)
    with Sandbox(cfg) as sb:
        sb.load_context("abc")
        if route in ("file-links", "both"):
            r = sb.execute(_plant_files(str(own.path)))
            assert r.error is None and r.stdout.startswith("planted"), r
        if route in ("dir-links", "both"):
            r = sb.execute(_plant_dirs(str(own.dir)))
            assert r.error is None and r.stdout.startswith("planted"), r
        for _ in range(2 if route == "both" else 1):  # each restart rewrites what the host and launcher write
            r = sb.execute(FORCE_RESTART, timeout=1)
            assert r.timed_out and r.restarted, r
            own.check()
            canary.check()
        assert sb.execute("print(len(context))").stdout == "3\n"
        intact(sb, host_secret, canary)
    own.check()


def test_a_replaced_bridge_socket_does_not_break_the_next_kernel(tmp_path, host_secret, canary):
    own = Canary(tmp_path / "own")
    cfg = SandboxConfig(policy="trusted", cell_timeout_s=20, interrupt_grace_s=1)
    with Sandbox(cfg) as sb:
        sb.load_context("abc")
        sb.add_tools(query_tools(lambda request: ["ok"] * len(request.args["prompts"])))
        r = sb.execute(f"import os\nos.unlink('bridge.sock')\nos.symlink({str(own.path)!r}, 'bridge.sock')\nprint('planted')")
        assert r.stdout == "planted\n", r
        try:
            r = sb.execute(FORCE_RESTART, timeout=1)
        finally:
            own.check()
            canary.check()
        assert r.restarted, r
        r = sb.execute("print(len(context), llm_query('x'))")
        assert (r.error, r.stdout) == (None, "3 ok\n"), r
        intact(sb, host_secret, canary)


# ================================================================ 3. host Unix sockets (trusted)
class UnixListener:
    """A listening AF_UNIX socket of the host (a pathname one in a 0777 directory, or an
    abstract one), recording whether anything connected."""

    def __init__(self, address: str | bytes, kind: int = socket.SOCK_STREAM) -> None:
        self.address = address
        self.kind = kind
        self.sock = socket.socket(socket.AF_UNIX, kind)
        self.sock.bind(address)
        if isinstance(address, str) and not address.startswith("\0"):
            os.chmod(address, 0o777)
        if kind == socket.SOCK_STREAM:
            self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.kind == socket.SOCK_STREAM:
                    conn, _ = self.sock.accept()
                    conn.close()
                else:
                    self.sock.recv(100)
            except OSError:
                continue
            self.accepted += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture()
def unix_listeners(tmp_path):
    d = tmp_path / "public"
    d.mkdir()
    os.chmod(d, 0o777)
    os.chmod(tmp_path, 0o777)
    name = secrets.token_hex(6)
    made = [UnixListener(str(d / "service.sock")), UnixListener(f"\0rlm-depth-{name}"),
            UnixListener(str(d / "dgram.sock"), socket.SOCK_DGRAM), UnixListener(f"\0rlm-depth-dgram-{name}", socket.SOCK_DGRAM)]
    yield made
    for lst in made:
        lst.close()


UNIX_ROUTES = {
    "pathname": "s = socket.socket(socket.AF_UNIX)\ns.settimeout(3)\ns.connect(PATH)",
    "abstract": "s = socket.socket(socket.AF_UNIX)\ns.settimeout(3)\ns.connect(ABSTRACT)",
    "link-in-work-dir": "import os\nos.symlink(PATH, 'svc-link')\ns = socket.socket(socket.AF_UNIX)\ns.settimeout(3)\ns.connect('svc-link')",
    "dgram-pathname": "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.sendto(b'x', DGRAM_PATH)",
    "dgram-abstract": "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.sendto(b'x', DGRAM_ABSTRACT)",
    "proc-root-of-parent": "import os\ns = socket.socket(socket.AF_UNIX)\ns.settimeout(3)\ns.connect('/proc/%d/root' % os.getppid() + PATH)",
    "proc-root-of-host": "s = socket.socket(socket.AF_UNIX)\ns.settimeout(3)\ns.connect('/proc/HOSTPID/root' + PATH)",
    "seqpacket-abstract": "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\ns.settimeout(3)\ns.connect(ABSTRACT)",
}


@pytest.mark.parametrize("route", list(UNIX_ROUTES))
def test_host_unix_sockets_are_unreachable(trusted_sb, unix_listeners, host_secret, canary, listener, route):
    stream_path, stream_abstract, dgram_path, dgram_abstract = (lst.address for lst in unix_listeners)
    code = ("import socket\n" + UNIX_ROUTES[route] + "\nprint('ESC' + 'APED', 'connected')\n")
    code = (code.replace("DGRAM_PATH", repr(dgram_path)).replace("DGRAM_ABSTRACT", repr(dgram_abstract))
            .replace("PATH", repr(stream_path)).replace("ABSTRACT", repr(stream_abstract))
            .replace("HOSTPID", str(os.getpid())))
    r = trusted_sb.execute(code, timeout=20)
    print(route, seen(r)[-300:])
    not_escaped(r)
    time.sleep(0.3)
    assert [lst.accepted for lst in unix_listeners] == [0, 0, 0, 0], "a host Unix socket was reached"
    intact(trusted_sb, host_secret, canary, listener)


# ================================================================ 4. memory limit (trusted)
MEMORY_LIMIT = 2 * GiB
MEMORY_OVER = 256 * MiB  # how far past the limit an attack goes before it stops (it has escaped by then)

# Each route maps 5 GiB and makes pages resident (MADV_POPULATE_WRITE, else a write every 4096
# bytes) until it is stopped or holds the limit + MEMORY_OVER; it prints how much it held.
_POPULATE = """
import ctypes, mmap
libc = ctypes.CDLL(None, use_errno=True)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
STOP = LIMIT + OVER
CHUNK = 64 << 20
def populate(addr, size, held):
    # make `size` bytes at `addr` resident, counting into held[0]; stop at STOP
    off = 0
    while off < size and held[0] < STOP:
        n = min(CHUNK, size - off)
        if libc.madvise(addr + off, n, 23) != 0:  # MADV_POPULATE_WRITE; older kernels: touch each page
            for i in range(off, off + n, 4096):
                ctypes.memset(addr + i, 1, 1)
        off += n
        held[0] += n
def report(held):
    print('held', held)
    if held > LIMIT:
        print('ESC' + 'APED', held / 2**30, 'GiB resident past the limit')
"""

MEMORY_ROUTES = {
    "mmap-shared-anonymous": _POPULATE + """
def attack():
    mm = mmap.mmap(-1, 5 << 30)
    held = [0]
    try:
        populate(ctypes.addressof(ctypes.c_char.from_buffer(mm)), 5 << 30, held)
    finally:
        mm.close()
    return held[0]
report(attack())
""",
    "memfd-ftruncate-mmap": _POPULATE + """
import os
def attack():
    held = [0]
    maps = []
    try:
        while held[0] < STOP and len(maps) < 8:
            fd = os.memfd_create('m%d' % len(maps))
            try:
                os.ftruncate(fd, 768 << 20)  # each under the per-file size limit
                maps.append(mmap.mmap(fd, 768 << 20))
            finally:
                os.close(fd)
            populate(ctypes.addressof(ctypes.c_char.from_buffer(maps[-1])), 768 << 20, held)
    finally:
        for mm in maps:
            mm.close()
    return held[0]
report(attack())
""",
    "sysv-shm": _POPULATE + """
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
shmid = libc.shmget(0, 5 << 30, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
if shmid < 0:
    raise OSError(ctypes.get_errno(), 'shmget')
addr = libc.shmat(shmid, None, 0)
if addr in (None, 2**64 - 1):
    raise OSError(ctypes.get_errno(), 'shmat')
held = [0]
try:
    populate(addr, 5 << 30, held)
finally:
    libc.shmctl(shmid, 0, None)  # IPC_RMID: freed once detached
    libc.shmdt(ctypes.c_void_p(addr))
report(held[0])
""",
    "mmap-private-anonymous": _POPULATE + """
def attack():
    mm = mmap.mmap(-1, 5 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    held = [0]
    try:
        populate(ctypes.addressof(ctypes.c_char.from_buffer(mm)), 5 << 30, held)
    finally:
        mm.close()
    return held[0]
report(attack())
""",
}


class CgroupPeak:
    """The peak memory use of a sandbox's cgroup since `start()`, as the host sees it (v1:
    memory.max_usage_in_bytes, reset by writing 0; v2: memory.peak, reset per open file on
    Linux 6.12+). None when the sandbox has no cgroup or the peak cannot be reset."""

    def __init__(self, sb: Sandbox) -> None:
        self.cgroup = sb._cgroup
        self._fd: int | None = None

    def start(self) -> None:
        if self.cgroup is None:
            return
        d = self.cgroup.dirs[0]
        try:
            if self.cgroup.version == 1:
                (d / "memory.max_usage_in_bytes").write_text("0")
            else:
                self._fd = os.open(d / "memory.peak", os.O_RDWR)
                os.write(self._fd, b"reset")
        except OSError:
            self.cgroup = None

    def read(self) -> int | None:
        if self.cgroup is None:
            return None
        try:
            if self._fd is not None:
                return int(os.pread(self._fd, 64, 0))
            return int((self.cgroup.dirs[0] / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError):
            return None
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


@pytest.fixture(scope="module")
def memory_sb():
    cfg = SandboxConfig(policy="trusted", memory_limit_bytes=MEMORY_LIMIT, cell_timeout_s=60, interrupt_grace_s=2)
    with Sandbox(cfg) as sb:
        sb.load_context("abc")
        yield sb


@pytest.mark.parametrize("route", [
    "mmap-shared-anonymous",
    "memfd-ftruncate-mmap",
    "sysv-shm",
    "mmap-private-anonymous",
])
def test_memory_limit_holds(memory_sb, host_secret, canary, route):
    assert memory_sb._memory_limit == MEMORY_LIMIT
    code = MEMORY_ROUTES[route].replace("LIMIT", str(MEMORY_LIMIT)).replace("OVER", str(MEMORY_OVER))
    peak = CgroupPeak(memory_sb)
    peak.start()
    r = memory_sb.execute(code, timeout=60)
    host_peak = peak.read()
    print(route, "cgroup peak", host_peak, seen(r)[-300:])
    not_escaped(r)
    assert host_peak is None or host_peak <= MEMORY_LIMIT, \
        f"the sandbox's processes used {host_peak / GiB:.2f} GiB, past the {MEMORY_LIMIT / GiB:.0f} GiB limit"
    intact(memory_sb, host_secret, canary)


def _ipc_ns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/ipc")


def test_a_sysv_segment_does_not_outlive_close(host_secret, canary):
    host_segments = Path("/proc/sysvipc/shm").read_text()
    sb = Sandbox(SandboxConfig(policy="trusted", memory_limit_bytes=MEMORY_LIMIT)).start()
    try:
        code = MEMORY_ROUTES["sysv-shm"].replace("libc.shmctl(shmid, 0, None)", "pass")  # never removed
        code = code.replace("LIMIT", str(512 * MiB)).replace("OVER", "0")
        r = sb.execute(code, timeout=60)
        assert "held" in r.stdout, r
        r = sb.execute("print(open('/proc/sysvipc/shm').read().count('\\n') - 1)")
        assert r.stdout == "1\n", r  # the segment is there, not removed
        namespace = _ipc_ns(sb._kernel_pid())
        assert namespace != _ipc_ns(os.getpid()), "the kernel shares the host's IPC namespace"
        intact(sb, host_secret, canary)
    finally:
        sb.close()

    def holders() -> list[str]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if _ipc_ns(int(entry)) == namespace:
                        found.append(entry)
        return found

    assert wait_until(lambda: not holders(), 5), f"processes still hold the sandbox's IPC namespace: {holders()}"
    assert Path("/proc/sysvipc/shm").read_text() == host_segments


# ================================================================ 5. /proc visibility (trusted)
def _allowed_mount_points(sb: Sandbox) -> list[str]:
    from sandbox.host import _SYSTEM_READ_PATHS, _python_read_paths

    return ["/", "/proc", "/dev", str(sb.work_dir), *_SYSTEM_READ_PATHS, *_python_read_paths()]


PROC_ROUTES = {
    "host-pid-cmdline": "print('ESC' + 'APED', open('/proc/HOSTPID/cmdline').read())",
    "host-pid-status": "import os\nos.stat('/proc/HOSTPID')\nprint('ESC' + 'APED', open('/proc/HOSTPID/status').read()[:200])",
    "scan-proc": (
        "import os\nme = os.getuid()\nforeign = []\n"
        "for p in os.listdir('/proc'):\n"
        "    if p.isdigit():\n"
        "        try:\n"
        "            status = open('/proc/%s/status' % p).read()\n"
        "            cmd = open('/proc/%s/cmdline' % p).read()\n"
        "        except OSError:\n"
        "            continue\n"
        "        uid = int(status.split('Uid:')[1].split()[0])\n"
        "        if uid != me or 'pytest' in cmd or 'sandbox.launcher' in cmd:\n"
        "            foreign.append((p, uid, cmd[:80]))\n"
        "if foreign:\n    print('ESC' + 'APED', foreign[:5])\n"
        "raise SystemExit('scanned %d' % len(os.listdir('/proc')))"
    ),
    "proc-net-tcp": (
        "rows = open('/proc/net/tcp').read() + open('/proc/net/tcp6').read()\n"
        "if (':%04X' % PORT) in rows:\n    print('ESC' + 'APED', 'the host listener is visible')\n"
        "raise SystemExit('read')"
    ),
    "proc-net-unix": (
        "rows = open('/proc/net/unix').read()\n"
        "if SOCKNAME in rows or HOSTDIR in rows:\n    print('ESC' + 'APED', 'a host Unix socket is visible')\n"
        "raise SystemExit('read')"
    ),
    "proc-self-mountinfo": (
        "allowed = ALLOWED\n"
        "bad = []\n"
        "for line in open('/proc/self/mountinfo'):\n"
        "    point = line.split()[4]\n"
        "    if not any(point == a or point.startswith(a.rstrip('/') + '/') for a in allowed if a != '/') and point != '/':\n"
        "        bad.append(point)\n"
        "if bad or 'SECRETDIR' in open('/proc/self/mountinfo').read():\n    print('ESC' + 'APED', bad[:10])\n"
        "raise SystemExit('read')"
    ),
    "stat-secret-dir": "import os\nprint('ESC' + 'APED', os.stat(SECRETDIR))",
    "stat-secret": "import os\nprint('ESC' + 'APED', os.stat(SECRET))",
    "stat-host-dir": "import os\nprint('ESC' + 'APED', os.stat(HOSTDIR))",
    "listdir-secret-dir": "import os\nprint('ESC' + 'APED', os.listdir(SECRETDIR))",
    "proc-1-root-escape": "import os\nprint('ESC' + 'APED', os.listdir('/proc/1/root' + SECRETDIR))",
    "proc-parent-cwd": "import os\nprint('ESC' + 'APED', os.listdir('/proc/%d/cwd' % os.getppid()))",
}


@pytest.fixture()
def host_unix_socket(tmp_path):
    name = f"rlm-depth-visible-{secrets.token_hex(4)}"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / name))
    s.listen(1)
    yield name
    s.close()


@pytest.mark.parametrize("route", list(PROC_ROUTES))
def test_proc_shows_nothing_of_the_host(trusted_sb, host_secret, canary, listener, host_unix_socket, route):
    code = (PROC_ROUTES[route].replace("HOSTPID", str(os.getpid())).replace("PORT", str(listener.port))
            .replace("SOCKNAME", repr(host_unix_socket)).replace("HOSTDIR", repr(str(trusted_sb._host_dir)))
            .replace("ALLOWED", repr(_allowed_mount_points(trusted_sb)))
            .replace("SECRETDIR", repr(str(host_secret.parent))).replace("SECRET", repr(str(host_secret))))
    r = trusted_sb.execute(code, timeout=30)
    print(route, seen(r)[-300:])
    not_escaped(r)
    assert r.error is not None
    intact(trusted_sb, host_secret, canary, listener)


# ================================================================ 6. disk quota (trusted)
QUOTA = 1 * GiB
_WRITE_CAP = 1536 * MiB  # an attack stops here: well past the quota, still bounded

DISK_ROUTES = {
    "three-900MiB-files": """
import os
block = b'x' * (8 << 20)
total, names = 0, []
try:
    for k in range(3):
        name = 'big%d.bin' % k
        names.append(name)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for _ in range(900 // 8):
                total += os.write(fd, block)
                if total >= CAP:
                    break
        finally:
            os.close(fd)
except OSError as exc:
    print('stopped:', exc)
finally:
    for name in names:
        if os.path.exists(name):
            os.unlink(name)
""",
    "50000-small-files": """
import os, shutil
total, n = 0, 0
data = b'y' * 32768
os.makedirs('many', exist_ok=True)
try:
    while n < 50_000 and total < CAP:
        fd = os.open('many/%d' % n, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            total += os.write(fd, data)
        finally:
            os.close(fd)
        n += 1
except OSError as exc:
    print('stopped:', exc)
finally:
    shutil.rmtree('many', ignore_errors=True)
""",
    "unlinked-files-fallocate": """
import os
total, fds = 0, []
try:
    for k in range(3):
        fd = os.open('.', os.O_TMPFILE | os.O_RDWR, 0o600)
        fds.append(fd)
        os.posix_fallocate(fd, 0, 900 << 20)
        total += 900 << 20
except OSError as exc:
    print('stopped:', exc)
finally:
    for fd in fds:
        os.close(fd)
""",
    "spread-over-tmp-and-work-dir": """
import os
block = b'z' * (8 << 20)
total, names = 0, []
try:
    for k, where in enumerate(['tmp', '.', '.kernel', 'tmp']):
        name = os.path.join(where, 'part%d' % k)
        names.append(name)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for _ in range(480 // 8):
                total += os.write(fd, block)
                if total >= CAP:
                    break
        finally:
            os.close(fd)
        if total >= CAP:
            break
except OSError as exc:
    print('stopped:', exc)
finally:
    for name in names:
        if os.path.exists(name):
            os.unlink(name)
""",
}


@pytest.mark.parametrize("route", list(DISK_ROUTES))
def test_disk_quota_holds(trusted_sb, host_secret, canary, route):
    assert trusted_sb.config.disk_quota_bytes == QUOTA
    code = DISK_ROUTES[route].replace("CAP", str(_WRITE_CAP)) + (
        f"print('written', total)\nif total > {QUOTA}:\n    print('ESC' + 'APED', total / 2**20, 'MiB written')\n")
    r = trusted_sb.execute(code, timeout=60)
    print(route, seen(r)[-300:])
    not_escaped(r)
    assert "written" in r.stdout, r
    intact(trusted_sb, host_secret, canary)


# ================================================================ 7. host robustness
class Answerer:
    """The query tools' host handler: 'ok' for every prompt; records each request and the
    host's thread count when it arrived."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.max_threads = 0
        self.delay = 0.0
        self._lock = threading.Lock()

    def __call__(self, request: HostRequest) -> list[str]:
        with self._lock:
            self.max_threads = max(self.max_threads, threading.active_count())
            self.requests.append({"op": request.op, "prompts": len(request.args.get("prompts") or []),
                                  "fds": len(request.fds)})
        if self.delay:
            time.sleep(self.delay)
        return ["ok"] * len(request.args["prompts"])


def _tools_sandbox(policy: str):
    answerer = Answerer()
    cfg = SandboxConfig(policy=policy, cell_timeout_s=120, interrupt_grace_s=2, open_files=4096)
    with Sandbox(cfg) as sb:
        sb.load_context("the quick brown fox jumps over the lazy dog")
        sb.add_tools(query_tools(answerer))
        sb.add_tools(notes_tools(None))
        sb.answerer = answerer  # type: ignore[attr-defined]
        yield sb


@pytest.fixture(scope="module")
def tools_restricted():
    yield from _tools_sandbox("restricted")


@pytest.fixture(scope="module")
def tools_trusted():
    yield from _tools_sandbox("trusted")


@pytest.fixture(params=["restricted", "trusted"])
def tools_sb(request):
    return request.getfixturevalue(f"tools_{request.param}")


BIG_LIST = "big = [{'k': 'v' * 90}] * 2_000_000  # about 200 MB of JSON\n"
BIG_DICT = "big = {'key%d' % i: 'v' * 90 for i in range(1_000_000)}  # about 110 MB of JSON\n"
SUB_CONTEXT_ROUTES = {
    "rlm-query-list": BIG_LIST + "print(rlm_query('q', context=big))",
    "rlm-query-dict": BIG_DICT + "print(rlm_query('q', context=big))",
    "batched-same-list-8-times": BIG_LIST + "print(rlm_query_batched(['q'] * 8, [big] * 8))",
    "batched-list-and-dict": BIG_LIST + BIG_DICT.replace("big =", "big2 =")
    + "print(rlm_query_batched(['q'] * 4, [big, big2, big, big2]))",
}


@pytest.mark.parametrize("route", list(SUB_CONTEXT_ROUTES))
def test_huge_sub_contexts_do_not_grow_the_host(tools_sb, host_secret, canary, route):
    tools_sb.execute("print(1)")
    before = reset_peak_rss()
    r = tools_sb.execute(SUB_CONTEXT_ROUTES[route], timeout=120)
    growth = peak_rss() - before
    print(route, f"host peak RSS growth {growth / MiB:.0f} MiB;", seen(r)[-300:])
    assert growth < 1 * GiB, f"the host's RSS grew by {growth / MiB:.0f} MiB"
    assert "ok" in r.stdout or (r.error and "limit" in r.error), r
    intact(tools_sb, host_secret, canary)


def test_inline_frames_of_tiny_items_are_refused_before_decoding(tools_trusted, host_secret, canary):
    # the helpers would spill a big list to a file; a raw frame puts it inline, at the frame limit,
    # as millions of tiny items (each costs ~60 bytes of host memory once decoded)
    code = RT + (
        "import socket, struct, json\n"
        "out = []\n"
        "for body in [b'[' + b'0,' * 31_000_000 + b'0]', b'[' + b'[],' * 21_000_000 + b'[]]',\n"
        "             b'{\"op\": \"rlm_query\", \"args\": {\"prompts\": [\"q\"], \"contexts\": [[' + b'{},' * 21_000_000 + b'{}]]}}']:\n"
        "    if body[:1] == b'[':\n"
        "        body = b'{\"op\": \"rlm_query\", \"args\": {\"prompts\": [\"q\"], \"contexts\": [' + body + b']}}'\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    s.settimeout(60)\n"
        "    s.connect(rt.bridge_path)\n"
        "    s.sendall(struct.pack('>I', len(body)) + body)\n"
        "    del body\n"
        "    reply = b''\n"
        "    while True:\n"
        "        chunk = s.recv(65536)\n"
        "        if not chunk:\n"
        "            break\n"
        "        reply += chunk\n"
        "    s.close()\n"
        "    out.append(reply[4:200].decode(errors='replace'))\n"
        "print(out)\n"
    )
    tools_trusted.execute("print(1)")
    before = reset_peak_rss()
    r = tools_trusted.execute(code, timeout=120)
    growth = peak_rss() - before
    print(f"host peak RSS growth {growth / MiB:.0f} MiB;", seen(r)[-600:])
    assert r.error is None, r
    assert growth < 1 * GiB, f"the host's RSS grew by {growth / MiB:.0f} MiB"
    intact(tools_trusted, host_secret, canary)


ERROR_ROUTES = {
    "exception-300MB": "raise Exception('x' * 300_000_000)",
    "keyerror-repr-100MB": "d = {}\nd['k' * 100_000_000]",
    "many-lines-error": "raise ValueError('line\\n' * 30_000_000)",
}


@pytest.mark.parametrize("route", list(ERROR_ROUTES))
def test_enormous_error_texts_are_capped(tools_sb, host_secret, canary, route):
    before = reset_peak_rss()
    r = tools_sb.execute(ERROR_ROUTES[route], timeout=120)
    growth = peak_rss() - before
    assert r.error is not None
    print(route, f"error of {len(r.error):,} characters; host peak RSS growth {growth / MiB:.0f} MiB")
    assert len(r.error) <= 1_000_000, f"ExecResult.error is {len(r.error):,} characters"
    assert len(r.stdout) <= 1_000_000
    assert growth < 1 * GiB
    intact(tools_sb, host_secret, canary)


def test_trusted_custom_exception_str_is_capped(tools_trusted, host_secret, canary):
    code = ("class E(Exception):\n    def __str__(self):\n        return 'e' * 300_000_000\n"
            "raise E()")
    r = tools_trusted.execute(code, timeout=120)
    assert r.error is not None and len(r.error) <= 1_000_000, len(r.error or "")
    code = "raise SyntaxError('bad', ('f', 1, 1, 's' * 200_000_000))"
    r = tools_trusted.execute(code, timeout=120)
    assert r.error is not None and len(r.error) <= 1_000_000, len(r.error or "")
    intact(tools_trusted, host_secret, canary)


MALFORMED_FRAMES = RT + r"""
import os, socket, struct, json
path = rt.bridge_path
r, w = os.pipe()
memfd = os.memfd_create('m')
os.write(memfd, b'x' * 4096)
dirfd = os.open('.', os.O_RDONLY)
pair = socket.socketpair()
fd_sets = [[r, w], [memfd], [dirfd], [pair[0].fileno()], [r] * 60, [w] * 100, [memfd] * 64, [dirfd, memfd] * 20]
def frame(obj):
    body = json.dumps(obj).encode()
    return struct.pack('>I', len(body)) + body
bad = [
    struct.pack('>I', 2**31) + b'xx',               # over the size limit
    struct.pack('>I', 100) + b'{"op": "llm',        # cut short, then closed
    struct.pack('>I', 4) + b'\xff\xfe\xfd\xfc',      # not UTF-8
    frame([1, 2, 3]),                                 # not an object
    frame({'args': {}}),                              # no op
    frame({'op': 'shell', 'args': {'cmd': 'id'}}),    # unknown op
    frame({'op': 'context_fds', 'args': {'token': 'guessed'}}),
    frame({'op': 'llm_query', 'args': {'prompts': ['x'], 'model': None, 'batched': False}}),  # valid, fds unasked for
    frame({'op': 'rlm_query', 'args': {'prompts': ['x'], 'contexts': [{'__rlm_fd__': 99}], 'model': None, 'batched': False}}),
    frame({'op': 'rlm_query', 'args': {'prompts': ['x'], 'contexts': [{'__rlm_fd__': 0, 'kind': 'json'}], 'model': None, 'batched': False}}),
    frame({'op': 'remember', 'args': 'not a dict'}),
    b'\x00\x00',                                      # half a header
]
sent = 0
for i in range(400):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    try:
        s.connect(path)
        data = bad[i % len(bad)]
        fds = fd_sets[i % len(fd_sets)]
        if (i // len(bad)) % 2 == 0 or len(data) < 4:   # descriptors on the first byte
            socket.send_fds(s, [data[:1]], fds)
            s.sendall(data[1:])
        else:                                           # or on a later one
            s.sendall(data[:2])
            socket.send_fds(s, [data[2:3]], fds)
            s.sendall(data[3:])
        sent += 1
        s.shutdown(socket.SHUT_WR)
        s.recv(1000)
    except OSError:
        pass
    finally:
        s.close()
# connections left part-way, with descriptors, then dropped all at once
held = []
for i in range(100):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    socket.send_fds(s, [b'\x00'], [r, w, memfd])
    held.append(s)
for s in held:
    s.close()
for fd in (r, w, memfd, dirfd):
    os.close(fd)
pair[0].close()
pair[1].close()
print('sent', sent)
"""


def test_descriptors_with_malformed_frames_are_all_closed(tools_trusted, host_secret, canary):
    tools_trusted.execute("print(llm_query('warm'))")
    baseline = host_fds()
    r = tools_trusted.execute(MALFORMED_FRAMES, timeout=120)
    assert r.error is None and r.stdout.startswith("sent"), seen(r)[-1000:]
    assert wait_until(lambda: host_fds() <= baseline, 10), f"host descriptors: {host_fds()} (baseline {baseline})"
    intact(tools_trusted, host_secret, canary)
    assert host_fds() <= baseline


class ThreadSampler:
    """Samples the host's thread count every 5 ms while it runs."""

    def __init__(self) -> None:
        self.peak = threading.active_count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, threading.active_count(), host_status("Threads"))
            time.sleep(0.005)

    def __enter__(self) -> ThreadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


CONNECTION_ROUTES = {
    # 2,000 connections held open, sending nothing, from 16 kernel threads; one call in the middle
    "idle": RT + """
import socket, threading
socks, lock = [], threading.Lock()
def opener(n):
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(rt.bridge_path)
        except OSError:
            s.close()
            continue
        with lock:
            socks.append(s)
ts = [threading.Thread(target=opener, args=(125,)) for _ in range(16)]
for t in ts:
    t.start()
for t in ts:
    t.join()
during = llm_query('during')
for s in socks:
    s.close()
print(len(socks), during)
""",
    # 2,000 whole requests in flight at once (the host's handler is slow), replies read at the end
    "requests-in-flight": RT + """
import socket, threading, json, struct
body = json.dumps({'op': 'llm_query', 'args': {'prompts': ['p'], 'model': None, 'batched': False}}).encode()
frame = struct.pack('>I', len(body)) + body
socks, lock, replies = [], threading.Lock(), []
def caller(n):
    mine = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)  # blocking: a full backlog makes connect wait, not fail
        try:
            s.connect(rt.bridge_path)
            s.sendall(frame)
        except OSError:
            s.close()
            continue
        mine.append(s)
    got = 0
    for s in mine:
        s.settimeout(120)
        try:
            if b'["ok"]' in s.recv(1000):
                got += 1
        except OSError:
            pass
        s.close()
    with lock:
        replies.append(got)
ts = [threading.Thread(target=caller, args=(125,)) for _ in range(16)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sum(replies), llm_query('after'))
""",
}


@pytest.mark.parametrize("route", list(CONNECTION_ROUTES))
def test_thousands_of_bridge_connections_keep_host_threads_bounded(tools_trusted, host_secret, canary, route):
    answerer = tools_trusted.answerer
    tools_trusted.execute("print(llm_query('warm'))")
    baseline = threading.active_count()
    answerer.max_threads = 0
    answerer.delay = 0.02 if route == "requests-in-flight" else 0.0
    try:
        with ThreadSampler() as sampler:
            r = tools_trusted.execute(CONNECTION_ROUTES[route], timeout=120)
    finally:
        answerer.delay = 0.0
    print(route, f"baseline {baseline} threads, peak {sampler.peak}, in handler {answerer.max_threads};", seen(r)[-300:])
    assert r.error is None, r
    assert r.stdout.split()[-1] == "ok", r
    assert sampler.peak < 300 and answerer.max_threads < 300, f"host threads peaked at {sampler.peak}"
    assert wait_until(lambda: threading.active_count() <= baseline, 15), \
        f"host threads: {threading.active_count()} (baseline {baseline})"
    intact(tools_trusted, host_secret, canary)


ZMQ_ROUTES = {
    "iopub-flood": """
import threading
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
sess, iopub = app.session, app.kernel.iopub_socket
def flood():
    big = 'o' * 1_000_000
    for i in range(300):
        sess.send(iopub, 'stream', {'name': 'stdout', 'text': big})
        sess.send(iopub, 'execute_result', {'data': {'text/plain': 'spoof'}, 'metadata': {}, 'execution_count': i})
t = threading.Thread(target=flood)
t.start()
t.join(60)
print('flooded')
""",
    "shell-flood-from-thread": """
import threading, time, uuid
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
sess, sock = app.session, app.shell_socket
idents = list(app.kernel._parent_ident['shell'])
done = threading.Event()
def flood():
    try:
        for i in range(3000):
            kind = i % 4
            if kind == 0:    # well signed replies to requests nobody made, some of them bulky
                sess.send(sock, 'execute_reply', {'status': 'ok', 'rlm': {'stdout': 's' * 200_000}},
                          parent={'msg_id': uuid.uuid4().hex, 'msg_type': 'execute_request'}, ident=idents)
            elif kind == 1:  # a reply with a forged parent of the wrong type
                sess.send(sock, 'kernel_info_reply', {'status': 'ok'}, parent={'msg_id': 'x'}, ident=idents)
            elif kind == 2:  # bad signature
                sock.send_multipart(idents + [b'<IDS|MSG>', b'0' * 64, b'{}', b'{}', b'{}', b'{"rlm": {}}'])
            else:            # garbage frames
                sock.send_multipart(idents + [b'\\xff' * 1000])
    finally:
        done.set()
app.shell_channel_thread.io_loop.add_callback(flood)
done.wait(60)
time.sleep(2)
print('flooded')
""",
    "control-and-stdin-flood": """
import threading, time
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
sess = app.session
done = threading.Event()
left = [2]
def flood(sock):
    try:
        for i in range(300):
            try:
                sess.send(sock, 'input_request', {'prompt': 'p' * 100_000, 'password': False}, ident=[b'host'])
                sess.send(sock, 'interrupt_reply', {'status': 'ok'}, ident=[b'host'])
            except Exception:
                pass
    finally:
        left[0] -= 1
        if not left[0]:
            done.set()
app.control_thread.io_loop.add_callback(flood, app.control_socket)
app.shell_channel_thread.io_loop.add_callback(flood, app.stdin_socket)
done.wait(60)
print('flooded')
""",
}


@pytest.mark.parametrize("route", list(ZMQ_ROUTES))
def test_unsolicited_zmq_messages_do_not_break_the_host(tools_trusted, host_secret, canary, route):
    tools_trusted.execute("print(1)")
    before = reset_peak_rss()
    r = tools_trusted.execute(ZMQ_ROUTES[route], timeout=120)
    growth = peak_rss() - before
    print(route, f"host peak RSS growth {growth / MiB:.0f} MiB;", seen(r)[-300:])
    r2 = tools_trusted.execute("print(1+1)", timeout=60)
    assert (r2.error, r2.stdout) == (None, "2\n"), r2
    assert growth < 500 * MiB, f"the host's RSS grew by {growth / MiB:.0f} MiB"
    intact(tools_trusted, host_secret, canary)


# ================================================================ containment of the kernel's processes
def test_the_kernel_dies_with_its_launcher(host_secret, canary):
    sb = Sandbox(SandboxConfig(policy="trusted")).start()
    try:
        uid = sb._uid
        if uid is None:
            pytest.skip("not root: no per-sandbox uid")
        assert sandbox_pids(uid), "no kernel process found"
        launcher = sb._km.provisioner.process.pid
        os.kill(launcher, signal.SIGKILL)
        gone = wait_until(lambda: not sandbox_pids(uid), 3)
        assert gone, f"the sandbox's processes outlived their launcher: {sandbox_pids(uid)}"
    finally:
        sb.close()
    canary.check()
