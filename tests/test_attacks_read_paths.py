"""Attacks on what the kernel can read of the host, after the read paths were narrowed to the
`sandbox` package (the directory above it, in an editable install the whole checkout, can be
neither read nor listed: the kernel loads the package by its path).

Hostile model code tries to read or list anything outside its own work directory and the Python
installation: the checkout (README, .git, tests, pyproject), modules beside the package (`rlm`,
`evals`, `cli`) through imports, the editable finder's mapping, `..` and directory descriptors,
/proc magic links, inherited descriptors, the sandbox's own host directory (the connection file
with the HMAC key), another sandbox's work directory, host Unix sockets, links planted in the
work directory, the environment. Most routes run in the trusted policy, where only the OS
layers stand; a few are repeated in the restricted policy, and both policies must still work.

Kernel code prints `MARK` (spelled 'ESC' + 'APED' there, so that an echoed source line never
contains it) only when a route got through, else `blocked <exception>`. Each case names the
exceptions that may stop it, so that a route broken by a typo of its own does not pass for a
stopped one. After every case the host is checked and the sandbox must still answer.

Three routes got through when this file was written and were fixed: a `sandbox` package planted
in the work directory was imported by the next launch, as root, before any layer (the launcher
ran `python -m` with the work directory as its current directory), and by the restarted kernel;
without the minimal root, Landlock let the whole checkout tree be listed.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from conftest import PLANTED_KEY, landlock_kernel, seen
from conftest import host_intact as intact

import sandbox
from sandbox import Sandbox, SandboxConfig

MARK = "ESCAPED"
REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(sandbox.__file__).resolve().parent
EDITABLE = PACKAGE.parent == REPO  # the sandbox package is imported from this checkout
NOT_THERE = ("FileNotFoundError", "PermissionError", "NotADirectoryError")


def attempt(expr: str, setup: str = "") -> str:
    """Kernel code: evaluate `expr`; print the mark and what was read if it worked."""
    body = "\n".join("    " + line for line in (setup + "\n" + f"data = {expr}").strip().splitlines())
    return (f"import os, sys\ntry:\n{body}\nexcept Exception as e:\n    print('blocked', type(e).__name__)\n"
            "else:\n    print('ESC' + 'APED', repr(data)[:300])\n")


def stopped(r, guards: tuple[str, ...]) -> None:
    text = seen(r)
    assert MARK not in text, f"the route got through: {text[:1500]}"
    assert PLANTED_KEY not in text and "top secret" not in text, f"a secret leaked: {text[:1500]}"
    assert r.error is None, f"the route's own code failed: {text[-1200:]}"
    assert r.stdout.startswith("blocked"), f"unexpected output: {text[-1200:]}"
    assert any(g in r.stdout for g in guards), f"stopped by something else than {guards}: {text[-1200:]}"


@pytest.fixture(scope="module")
def other_sb():
    """A second sandbox (trusted, no context) whose directories the first one tries to read."""
    sb = Sandbox(SandboxConfig(policy="trusted", cell_timeout_s=20, interrupt_grace_s=2)).start()
    secret = sb.work_dir / "other-secret.txt"
    secret.write_text(f"top secret of the other sandbox {PLANTED_KEY}\n")
    os.chmod(secret, 0o644)
    yield sb
    sb.close()


@pytest.fixture(scope="module")
def host_sockets(tmp_path_factory):
    """A Unix socket on the host's file system (world-connectable) and an abstract one."""
    d = tmp_path_factory.mktemp("host-sockets")
    os.chmod(d, 0o755)
    path = d / "host.sock"
    fs = socket.socket(socket.AF_UNIX)
    fs.bind(str(path))
    os.chmod(path, 0o777)
    fs.listen(4)
    fs.settimeout(0.2)
    name = f"rlm-read-paths-{os.getpid()}"
    ab = socket.socket(socket.AF_UNIX)
    ab.bind("\0" + name)
    ab.listen(4)
    ab.settimeout(0.2)
    yield {"fs": (fs, str(path)), "abstract": (ab, "\\0" + name)}
    fs.close()
    ab.close()


# ================================================================ A. reading the checkout (trusted)
CHECKOUT_FILES = ["README.md", ".git/config", ".git/HEAD", "pyproject.toml", "tests/conftest.py", "cli.py",
                  "rlm/__init__.py", "evals/__init__.py"]
PKG = "import sandbox\npkg = sandbox.__path__[0]"


def _checkout_routes() -> list:
    routes = []
    for f in CHECKOUT_FILES:
        routes.append(pytest.param(attempt(f"open({str(REPO / f)!r}, 'rb').read(200)"), NOT_THERE,
                                   id=f"absolute-{f}"))
        routes.append(pytest.param(attempt(f"open(os.path.join(pkg, '..', {f!r}), 'rb').read(200)", PKG), NOT_THERE,
                                   id=f"package-dotdot-{f}"))
    more = {
        "dirfd-of-package-dotdot": ("os.read(os.open('../README.md', os.O_RDONLY, dir_fd=os.open(pkg, os.O_RDONLY)), 99)",
                                    PKG),
        "dirfd-of-checkout": ("os.read(os.open('README.md', os.O_RDONLY, "
                              "dir_fd=os.open(os.path.dirname(pkg), os.O_RDONLY | os.O_DIRECTORY)), 99)", PKG),
        "o-path-checkout-dotdot": ("os.listdir(os.open('..', os.O_RDONLY | os.O_DIRECTORY, "
                                   "dir_fd=os.open(os.path.dirname(pkg), os.O_PATH | os.O_DIRECTORY)))", PKG),
        "proc-root-magic-link": (f"open('/proc/1/root' + {str(REPO / 'README.md')!r}).read(99)", ""),
        "proc-self-root-dotdot": (f"open('/proc/self/root/../../..' + {str(REPO / 'README.md')!r}).read(99)", ""),
        "stat-checkout-file": (f"os.stat({str(REPO / 'README.md')!r}).st_size", ""),
        "list-git": (f"os.listdir({str(REPO / '.git')!r})", ""),
        "list-tests": (f"os.listdir({str(REPO / 'tests')!r})", ""),
        "list-rlm": (f"os.listdir({str(REPO / 'rlm')!r})", ""),
        "list-above-checkout": (f"os.listdir({str(REPO.parent)!r})", ""),
        "linecache-of-checkout": (f"__import__('linecache').getlines({str(REPO / 'README.md')!r}) "
                                  f"or open({str(REPO / 'README.md')!r}).read(1)", ""),
    }
    for name, (expr, setup) in more.items():
        routes.append(pytest.param(attempt(expr, setup), NOT_THERE, id=name))
    return routes


@pytest.mark.skipif(not EDITABLE, reason="the sandbox package is not imported from this checkout")
@pytest.mark.parametrize("code, guards", _checkout_routes())
def test_trusted_checkout_routes(trusted_sb, host_secret, listener, code, guards):
    r = trusted_sb.execute(code, timeout=20)
    stopped(r, guards)
    intact(trusted_sb, host_secret, listener)


# ================================================================ B. importing beside the package (trusted)
IMPORTS = {
    "import-rlm": "__import__('rlm')",
    "import-rlm-tools": "__import__('rlm.tools')",
    "import-evals": "__import__('evals')",
    "import-cli": "__import__('cli')",
    "import-tests": "__import__('tests')",
    "import-conftest": "__import__('conftest')",
    "find-spec-rlm": "__import__('importlib.util').util.find_spec('rlm') or 1 / 0",
    "source-loader": (f"__import__('importlib.machinery').machinery.SourceFileLoader("
                      f"'x', {str(REPO / 'rlm' / '__init__.py')!r}).get_data({str(REPO / 'rlm' / '__init__.py')!r})"),
}


@pytest.mark.skipif(not EDITABLE, reason="the sandbox package is not imported from this checkout")
@pytest.mark.parametrize("route", list(IMPORTS))
def test_trusted_modules_beside_the_package_do_not_import(trusted_sb, host_secret, listener, route):
    r = trusted_sb.execute(attempt(IMPORTS[route]), timeout=20)
    stopped(r, ("ModuleNotFoundError", "ZeroDivisionError", *NOT_THERE))
    intact(trusted_sb, host_secret, listener)


def test_trusted_editable_finder_paths_are_unreachable(trusted_sb, host_secret, listener):
    """The editable finder in site-packages (readable: it is the Python installation) names the
    checkout's packages; none of them, other than `sandbox`, can be listed or read."""
    code = """
import os, sys
finders = [m for n, m in list(sys.modules.items()) if n.startswith('__editable__') and hasattr(m, 'MAPPING')]
got = []
for m in finders:
    paths = [p for n, p in m.MAPPING.items() if n != 'sandbox']
    paths += [p for ps in getattr(m, 'NAMESPACES', {}).values() for p in ps]
    for p in paths:
        for probe in (lambda: os.listdir(p), lambda: open(p + '/__init__.py').read(9), lambda: open(p + '.py').read(9)):
            try:
                got.append(repr(probe())[:100])
            except OSError:
                pass
if got:
    print('ESC' + 'APED', got)
else:
    print('blocked FileNotFoundError', len(finders))
"""
    r = trusted_sb.execute(code, timeout=20)
    stopped(r, NOT_THERE)
    intact(trusted_sb, host_secret, listener)


# ================================================================ C. other host paths (trusted)
def _host_routes(host_secret: Path) -> dict[str, tuple[str, str]]:
    prefix_parent = os.path.dirname(sys.prefix.rstrip("/"))
    return {
        "host-secret": (f"open({str(host_secret)!r}).read()", ""),
        "host-secret-dir": (f"os.listdir({str(host_secret.parent)!r})", ""),
        "etc-shadow": ("open('/etc/shadow').read()", ""),
        "etc-hostname": ("open('/etc/hostname').read()", ""),
        "etc-resolv": ("open('/etc/resolv.conf').read()", ""),
        "etc-listing": ("os.listdir('/etc')", ""),
        "root-home": ("os.listdir('/root')", ""),
        "root-listing": ("os.listdir('/')", ""),
        "tmp-listing": ("os.listdir('/tmp')", ""),
        "dev-listing": ("os.listdir('/dev')", ""),
        "above-python-prefix": (f"os.listdir({prefix_parent!r})", ""),
        "python-prefix-dotdot": (f"os.listdir({sys.prefix!r} + '/..')", ""),
        "sys-dotdot": ("os.listdir('/sys/devices/system/cpu/..')", ""),
        "sys-link-out-of-bind": ("os.listdir('/sys/devices/system/cpu/cpu0/subsystem')", ""),
        "sys-fs-cgroup": ("os.listdir('/sys/fs/cgroup')", ""),
        "proc-cwd-dotdot": ("os.listdir('/proc/self/cwd/..')", ""),
        "proc-root-listing": ("os.listdir('/proc/1/root')", ""),
        "reopen-stdin-pipe": ("open('/proc/self/fd/0', 'rb').read(1)", ""),
        "map-files": ("open('/proc/self/map_files/' + os.listdir('/proc/self/map_files')[0], 'rb').read(9)", ""),
        "planted-symlink": (f"(os.symlink({str(host_secret)!r}, 'planted-link'), open('planted-link').read())[1]", ""),
        "planted-hardlink": (f"os.link({str(host_secret)!r}, 'planted-hardlink')", ""),
        "symlink-to-checkout": (f"(os.symlink({str(REPO)!r}, 'repo-link'), os.listdir('repo-link/.git'))[1]", ""),
    }


@pytest.mark.parametrize("route", list(_host_routes(Path("/x"))))
def test_trusted_host_paths(trusted_sb, host_secret, listener, route):
    expr, setup = _host_routes(host_secret)[route]
    cleanup = "import os\nfor n in ('planted-link', 'planted-hardlink', 'repo-link'):\n" \
              "    if os.path.lexists(n):\n        os.unlink(n)\n"
    trusted_sb.execute(cleanup, timeout=20)
    r = trusted_sb.execute(attempt(expr, setup), timeout=20)
    stopped(r, NOT_THERE)
    intact(trusted_sb, host_secret, listener)


@pytest.mark.parametrize("name", ["connection.json", "launch.json", "options.json", "kernel.log", "isolation.json",
                                  ""])
def test_trusted_own_host_dir_is_unreachable(trusted_sb, host_secret, listener, name):
    """The sandbox's private directory on the host: the connection file (HMAC key), the launch
    configuration, the kernel's log."""
    path = str(trusted_sb._host_dir / name) if name else str(trusted_sb._host_dir)
    expr = f"os.listdir({path!r})" if not name else f"open({path!r}).read()"
    r = trusted_sb.execute(attempt(expr), timeout=20)
    stopped(r, NOT_THERE)
    intact(trusted_sb, host_secret, listener)


@pytest.mark.parametrize("target", ["work-file", "work-dir", "host-dir", "connection", "bridge-socket"])
def test_trusted_other_sandbox_is_unreachable(trusted_sb, other_sb, host_secret, listener, target):
    paths = {
        "work-file": ("read", other_sb.work_dir / "other-secret.txt"),
        "work-dir": ("list", other_sb.work_dir),
        "host-dir": ("list", other_sb._host_dir),
        "connection": ("read", other_sb._host_dir / "connection.json"),
        "bridge-socket": ("connect", other_sb.work_dir / "bridge.sock"),
    }
    how, path = paths[target]
    expr = {"read": f"open({str(path)!r}).read()", "list": f"os.listdir({str(path)!r})",
            "connect": f"__import__('socket').socket(__import__('socket').AF_UNIX).connect({str(path)!r})"}[how]
    r = trusted_sb.execute(attempt(expr), timeout=20)
    stopped(r, NOT_THERE)
    intact(trusted_sb, host_secret, listener)
    assert other_sb.execute("print(1)", timeout=20).stdout == "1\n"


@pytest.mark.parametrize("kind", ["fs", "abstract"])
def test_trusted_host_unix_sockets_are_unreachable(trusted_sb, host_secret, listener, host_sockets, kind):
    server, address = host_sockets[kind]
    expr = f"__import__('socket').socket(__import__('socket').AF_UNIX).connect('{address}')"
    r = trusted_sb.execute(attempt(expr), timeout=20)
    stopped(r, (*NOT_THERE, "ConnectionRefusedError"))
    with pytest.raises(TimeoutError):
        server.accept()
    intact(trusted_sb, host_secret, listener)


def test_trusted_environment_holds_no_host_secret(trusted_sb, host_secret, listener):
    code = """
import os
texts = list(os.environ.values()) + [open(p, 'rb').read().decode('utf-8', 'replace')
                                     for p in ('/proc/self/environ', '/proc/1/environ')]
hits = [t for t in texts if 'sk-' in t or 'OPENAI' in t or 'RLM_' in t]
print('ESC' + 'APED' if hits else 'blocked FileNotFoundError', sorted(os.environ))
"""
    r = trusted_sb.execute(code, timeout=20)
    stopped(r, NOT_THERE)
    assert "OPENAI_API_KEY" not in r.stdout and "RLM_TEST_SECRET_ENV" not in r.stdout
    intact(trusted_sb, host_secret, listener)


def test_trusted_mounts_are_only_the_allow_list(trusted_sb, host_secret, listener):
    """Every mount the kernel sees is one the host meant to give it: the allow-list (read
    only), the work directory, /dev's few devices, /proc, the root itself."""
    from sandbox.host import _SYSTEM_READ_PATHS, _python_read_paths

    r = trusted_sb.execute("print('\\n'.join(l.split()[4] for l in open('/proc/self/mountinfo')))", timeout=20)
    assert r.error is None, seen(r)
    allowed = {"/", "/proc", str(trusted_sb.work_dir), *_SYSTEM_READ_PATHS, *_python_read_paths(),
               *(f"/dev/{d}" for d in ("null", "zero", "full", "random", "urandom"))}
    points = r.stdout.split()
    assert points and set(points) <= allowed, sorted(set(points) - allowed)
    assert str(REPO) not in points or str(REPO) == str(PACKAGE), "the checkout itself is mounted"
    intact(trusted_sb, host_secret, listener)


def test_trusted_descriptors_name_no_host_path(trusted_sb, host_secret, listener):
    """No descriptor the kernel holds names a host file (inherited or left open by the launcher)."""
    code = """
import os
out = []
for fd in os.listdir('/proc/self/fd'):
    try:
        out.append(os.readlink('/proc/self/fd/' + fd))
    except OSError:
        pass
print('\\n'.join(out))
"""
    r = trusted_sb.execute(code, timeout=20)
    assert r.error is None, seen(r)
    from sandbox.host import _SYSTEM_READ_PATHS, _python_read_paths

    # earlier routes may have left descriptors of allowed directories open; nothing else may show
    allowed = [str(trusted_sb.work_dir), *_SYSTEM_READ_PATHS, *_python_read_paths()]
    paths = {t for t in r.stdout.split() if t.startswith("/")}
    outside = {p for p in paths - {"/dev/null", str(PACKAGE.parent)}
               if not any(p == a or p.startswith(a.rstrip("/") + "/") for a in allowed)}
    assert not outside, outside
    intact(trusted_sb, host_secret, listener)


def test_trusted_kernel_imports_nothing_from_its_work_directory(trusted_sb, host_secret, listener):
    """Neither '' nor the work directory is on the kernel's sys.path (IPython put '' there,
    ahead of site-packages: a module planted in the work directory shadowed any later import)."""
    r = trusted_sb.execute("import os, sys\nprint([p for p in sys.path if p in ('', '.') or "
                           "os.path.abspath(p or '.') == os.getcwd()])", timeout=20)
    assert (r.error, r.stdout.strip()) == (None, "[]"), seen(r)
    intact(trusted_sb, host_secret, listener)


def test_trusted_kernel_still_works(trusted_sb, host_secret, listener):
    code = ("import sandbox.kernel.corpus, sandbox.kernel.policy, ipykernel, json, os, re, sys, sandbox\n"
            "print(re.findall('a', 'aaa'), sorted(m for m in sys.modules if m.startswith('sandbox.') "
            "and not m.startswith('sandbox.kernel')), sandbox.__path__[0])")
    r = trusted_sb.execute(code, timeout=30)
    assert r.error is None, seen(r)[-1500:]
    assert r.stdout.startswith("['a', 'a', 'a']"), r.stdout
    # the package by its path, and none of its host modules (sandbox.host, bridge...) loaded
    assert r.stdout.strip().endswith(f"[] {PACKAGE}"), r.stdout
    intact(trusted_sb, host_secret, listener)


# ================================================================ D. restricted policy
RESTRICTED = {
    "open-readme": (f"print(open({str(REPO / 'README.md')!r}).read())", "NameError"),
    "import-os": ("import os", "not allowed"),
    "import-rlm": ("import rlm", "not allowed"),
    "import-sandbox": ("import sandbox", "not allowed"),
    "import-importlib": ("import importlib", "not allowed"),
    "import-pathlib": ("import pathlib", "not allowed"),
    "import-io": ("import io", "not allowed"),
    "import-linecache": ("import linecache", "not allowed"),
    "json-codecs-open": (f"import json\nprint(json.codecs.open({str(REPO / 'README.md')!r}).read())", "not allowed"),
    "dunder-import": ("__import__('os')", "invalid"),
    "editable-finder": ("import __editable___rlm_sandbox_0_1_0_finder", "invalid"),
    "plant-a-package": ("open('sandbox/__init__.py', 'w').write('x')", "NameError"),
}


@pytest.mark.parametrize("route", list(RESTRICTED))
def test_restricted_read_routes(restricted_sb, host_secret, listener, route):
    code, guard = RESTRICTED[route]
    r = restricted_sb.execute(code, timeout=20)
    text = seen(r)
    assert r.error is not None, f"the route ran: {text[:800]}"
    assert guard in text, f"stopped by something else than {guard!r}: {text[-800:]}"
    assert "# rlm-sandbox" not in text and PLANTED_KEY not in text, text[:800]
    intact(restricted_sb, host_secret, listener)


def test_restricted_policy_still_works(restricted_sb, host_secret, listener):
    r = restricted_sb.execute("import re\nprint(re.findall('a', 'aaa'))", timeout=20)
    assert (r.error, r.stdout) == (None, "['a', 'a', 'a']\n"), seen(r)
    r = restricted_sb.execute("import json, collections\nprint(json.dumps(collections.Counter('abca')))", timeout=20)
    assert (r.error, r.stdout) == (None, '{"a": 2, "b": 1, "c": 1}\n'), seen(r)
    intact(restricted_sb, host_secret, listener)


# ================================================================ E. planted in the work directory, run on restart
def _plant(proof: Path, secret: Path) -> str:
    """Trusted kernel code: a `sandbox` package in the work directory (the current directory of
    the next launch), which records who imported it (and a host file root could read) in
    `proof`, then hands over to the real package so that everything still works."""
    init = (
        "import os, sys\n"
        "if os.getuid() == 0:\n"
        "    try:\n"
        f"        s = open({str(secret)!r}).read()\n"
        "    except OSError as e:\n"
        "        s = repr(e)\n"
        f"    with open({str(proof)!r}, 'a') as f:\n"
        "        f.write(f'uid={os.getuid()} argv={sys.argv} read={s!r}\\n')\n"
        f"__path__[:] = [{str(PACKAGE)!r}]\n"
        f"exec(compile(open({str(PACKAGE / '__init__.py')!r}).read(), __file__, 'exec'))\n"
    )
    return f"import os\nos.makedirs('sandbox', exist_ok=True)\nopen('sandbox/__init__.py', 'w').write({init!r})\nprint('planted')"


@pytest.fixture()
def plain_trusted():
    sb = Sandbox(SandboxConfig(policy="trusted", cell_timeout_s=20, interrupt_grace_s=2)).start()
    yield sb
    sb.close()


def test_trusted_planted_package_does_not_run_as_root_on_restart(plain_trusted, host_secret, listener, tmp_path):
    proof = tmp_path / "proof.txt"
    r = plain_trusted.execute(_plant(proof, host_secret), timeout=20)
    assert (r.error, r.stdout) == (None, "planted\n"), seen(r)
    r = plain_trusted.execute("import os\nos._exit(3)", timeout=20)
    assert r.restarted or "restarted" in (r.error or ""), seen(r)
    intact(plain_trusted, host_secret, listener)
    got = proof.read_text() if proof.exists() else ""
    assert "uid=0" not in got, f"planted code ran as root on the host: {got[:500]}"
    assert "top secret" not in got, f"planted code read a host file: {got[:500]}"


def test_trusted_restarted_kernel_runs_the_real_package(plain_trusted, host_secret, listener, tmp_path):
    r = plain_trusted.execute(_plant(tmp_path / "unused.txt", tmp_path / "none"), timeout=20)
    assert (r.error, r.stdout) == (None, "planted\n"), seen(r)
    plain_trusted.execute("import os\nos._exit(3)", timeout=20)
    r = plain_trusted.execute("import sandbox\nprint(getattr(sandbox, '__file__', None) or sandbox.__path__[0])",
                              timeout=20)
    assert r.error is None, seen(r)
    assert r.stdout.strip() == str(PACKAGE), f"the kernel imported {r.stdout.strip()}"
    intact(plain_trusted, host_secret, listener)


# ================================================================ F. Landlock alone (no root: no minimal root)
@pytest.mark.skipif(not EDITABLE, reason="the sandbox package is not imported from this checkout")
def test_landlock_alone_lists_nothing_of_the_checkout(tmp_path):
    got = landlock_kernel(tmp_path, f"""
import json, os
import sandbox.kernel.policy
seen = {{}}
for sub in ('.git', 'tests', ''):
    try:
        seen[sub] = sorted(os.listdir(os.path.join({str(REPO)!r}, sub)))[:5]
    except OSError as e:
        seen[sub] = type(e).__name__
try:
    open(os.path.join({str(REPO)!r}, '.git', 'HEAD')).read()
    seen['read'] = 'read'
except OSError as e:
    seen['read'] = type(e).__name__
print(json.dumps(seen))
""")
    if got.get("landlock") is False:
        pytest.skip("Landlock is not available on this machine")
    assert got[""] == "PermissionError", f"listed the checkout: {got}"
    assert got["read"] == "PermissionError", got  # contents: never
    assert got[".git"] == "PermissionError" and got["tests"] == "PermissionError", f"listed: {got}"
