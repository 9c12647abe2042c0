"""Shared fixtures: real sandboxes (one kernel per policy per module) and host-side probes."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from rlm.tools import notes_tools, query_tools
from sandbox import Sandbox, SandboxConfig
from sandbox.kernel.corpus import Corpus

PLANTED_KEY = "sk-planted-test-key-DO-NOT-LEAK-1234567890"
REPO = Path(__file__).resolve().parent.parent


def cli_env(home: Path, key: str = "k", **extra: str) -> dict[str, str]:
    """The environment of an `rlm` command under test: the host's, minus its RLM_* settings,
    with a test key, RLM_HOME in `home` and this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLM_")}
    env.update({"OPENAI_API_KEY": key, "RLM_HOME": str(home), "PYTHONPATH": str(REPO), **extra})
    return env


@pytest.fixture(scope="session", autouse=True)
def planted_api_key():
    """An API key in the host's environment that must never reach a kernel."""
    old = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = PLANTED_KEY
    os.environ["RLM_TEST_SECRET_ENV"] = PLANTED_KEY
    yield PLANTED_KEY
    if old is None:
        os.environ.pop("OPENAI_API_KEY", None)
    else:
        os.environ["OPENAI_API_KEY"] = old


@pytest.fixture(autouse=True)
def own_rlm_home(tmp_path_factory, monkeypatch):
    """Each test its own user directory (runs, the call cache): no test answers from another's
    cache, or from the developer's."""
    monkeypatch.setenv("RLM_HOME", str(tmp_path_factory.mktemp("rlm-home")))


@pytest.fixture(scope="session")
def host_secret(tmp_path_factory) -> Path:
    """A world-readable file outside any work directory (only Landlock stands in the way)."""
    d = tmp_path_factory.mktemp("host-secret")
    os.chmod(d, 0o755)
    f = d / "secret.txt"
    f.write_text(f"top secret {PLANTED_KEY}\n")
    os.chmod(f, 0o644)
    return f


class Listener:
    """A TCP listener on 127.0.0.1 that records whether anything connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


@pytest.fixture(scope="session")
def listener():
    lst = Listener()
    yield lst
    lst.close()


def _loaded(policy: str):
    """A started sandbox with the 43-character test sentence as its context."""
    sb = Sandbox(SandboxConfig(policy=policy, cell_timeout_s=20, interrupt_grace_s=2)).start()
    sb.load_context("the quick brown fox jumps over the lazy dog")
    sb.add_tools(query_tools(None))  # the controller's helpers are part of what attacks can reach
    sb.add_tools(notes_tools(None))
    yield sb
    sb.close()


@pytest.fixture(scope="module")
def restricted_sb():
    yield from _loaded("restricted")


@pytest.fixture(scope="module")
def trusted_sb():
    yield from _loaded("trusted")


@pytest.fixture()
def fresh_sb():
    yield from _loaded("trusted")


def corpus_of(tmp_path: Path, text: str, name: str = "c.txt") -> Corpus:
    """A Corpus (as the kernel maps a large context) over `text`, on the host, for direct checks."""
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    fd = os.open(path, os.O_RDONLY)
    try:
        return Corpus(fd)
    finally:
        os.close(fd)


REPO = Path(__file__).resolve().parent.parent
_LANDLOCK_HOST = """
import json, os, sys
from sandbox.host import _SYSTEM_READ_PATHS, _kernel_import_paths, _python_read_paths
from sandbox.launcher import Report, apply_landlock
report = Report()
read = [p for p in _SYSTEM_READ_PATHS if os.path.exists(p)] + _python_read_paths()
apply_landlock(read, [WORK], report)
if not any(layer["layer"] == "landlock" and layer["active"] for layer in report.layers):
    print(json.dumps({"landlock": False})); sys.exit(0)
prelude = (f"import sys\\nsys.path.extend({_kernel_import_paths()!r})\\n"
           f"import importlib.util\\nspec = importlib.util.spec_from_file_location('boot', {BOOT!r})\\n"
           "boot = importlib.util.module_from_spec(spec)\\nspec.loader.exec_module(boot)\\nboot.load_package()\\n")
os.chdir(WORK)
os.execve(sys.executable, [sys.executable, "-s", "-P", "-c", prelude + CODE], {"PATH": "/usr/bin:/bin"})
"""


def landlock_kernel(work: Path, code: str) -> dict:
    """Run `code` as the kernel would start without the minimal root (a host without root):
    under the launcher's Landlock rule set (the host's read paths), exec'd with -s -P and an
    empty environment, `sandbox` loaded by boot. `code` prints one JSON object, returned here
    ({"landlock": False} where Landlock is unavailable)."""
    import json
    import subprocess
    import sys

    host = (_LANDLOCK_HOST.replace("WORK", repr(str(work))).replace("BOOT", repr(str(REPO / "sandbox/kernel/boot.py")))
            .replace("CODE", repr(code)))
    out = subprocess.run([sys.executable, "-s", "-c", host], capture_output=True, text=True, timeout=60,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def seen(r) -> str:
    """What a cell showed: its output and its error."""
    return (r.stdout or "") + (r.error or "")


def host_intact(sb: Sandbox, host_secret: Path, listener=None) -> None:
    """After an attack: the host is untouched and the sandbox still answers."""
    assert host_secret.read_text().startswith("top secret"), "the host secret changed"
    assert os.environ.get("OPENAI_API_KEY") == PLANTED_KEY, "the host's environment changed"
    if listener is not None:
        assert listener.connections == 0, "something reached the host's TCP listener"
    if sb.config.policy == "trusted":
        r = sb.execute("import os\nprint(os.environ.get('OPENAI_API_KEY'))", timeout=30)
        assert (r.error, r.stdout) == (None, "None\n"), f"the kernel sees the host's key or is broken: {r}"
    r = sb.execute("print(1+1)", timeout=30)
    assert (r.error, r.stdout) == (None, "2\n"), f"the sandbox no longer answers: {r}"


def pytest_collection_modifyitems(config, items):
    """The real-model test runs last: `.ci/run` prepares the model beside the other tests."""
    items.sort(key=lambda item: item.get_closest_marker("real_model") is not None)
