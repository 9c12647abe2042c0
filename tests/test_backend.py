"""The sandbox backend seam: a backend is one module plus one registration line, and the
controller, the eval baselines and the CLI all get their sandbox from the one factory."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
from conftest import cli_env
from scripted_server import Call, ScriptedServer

from rlm import RLM, read_trajectory
from sandbox import (
    IsolationWarning,
    Sandbox,
    SandboxBackend,
    SandboxConfig,
    SandboxError,
    backend_names,
    open_sandbox,
    register_backend,
)
from sandbox.backend import _registered

PID = "import os\nprint('pid', os.getpid())"


@pytest.fixture
def plain():
    # the one registration line a newcomer writes for the module tests/plain_backend.py
    register_backend("plain", "plain_backend:PlainSandbox")
    yield
    _registered.pop("plain", None)


def test_a_backend_is_one_module_and_one_registration_line(plain):
    assert "plain" in backend_names()
    with pytest.warns(IsolationWarning, match="plain subprocess"), \
            open_sandbox(SandboxConfig(backend="plain", policy="trusted")) as sb:
        assert type(sb).__name__ == "PlainSandbox" and isinstance(sb, SandboxBackend)
        info = sb.load_context("a needle in a haystack")
        assert info.size == 22
        r = sb.execute(PID + "\nprint(context.count('needle'))")
        pid = int(r.stdout.split()[1])
        assert r.ok and r.stdout.split()[2] == "1"
        assert pid > 1  # a plain process of the host, not PID 1 of a namespace of its own
        report = sb.isolation()
        assert report.backend == "plain" and not report.complete
        assert [(layer.layer, layer.active) for layer in report.layers] == [("OS isolation", False)]
        assert "context" in [v.name for v in sb.variables()]
        assert sb.read_variable("context") == "a needle in a haystack"


def test_the_default_backend_is_the_launcher_and_its_kernel_is_pid_1():
    with open_sandbox(SandboxConfig(policy="trusted")) as sb:
        assert type(sb) is Sandbox and sb.isolation().backend == "launcher" and sb.isolation().complete
        assert sb.execute(PID).stdout.split() == ["pid", "1"]


def test_a_backend_without_isolation_is_refused_when_isolation_is_required(plain):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IsolationWarning)
        sb = open_sandbox(SandboxConfig(backend="plain", require_isolation=True))
        with pytest.raises(SandboxError, match="OS isolation: plain subprocess"):
            sb.start()


def test_names_that_are_not_backends_are_refused_clearly():
    with pytest.raises(SandboxError, match="no sandbox backend named 'nope'; there are: .*launcher"):
        open_sandbox(SandboxConfig(backend="nope"))
    with pytest.raises(ValueError, match="backend must be"):
        SandboxConfig(backend="../x")
    with pytest.raises(ValueError):
        register_backend("two words", Sandbox)
    with pytest.raises(TypeError):
        register_backend("x", 42)  # type: ignore[arg-type]
    register_backend("broken", "no_such_module_here:Thing")
    register_backend("not-a-sandbox", lambda config: object())
    try:
        with pytest.raises(SandboxError, match="cannot load sandbox backend"):
            open_sandbox(SandboxConfig(backend="broken"))
        with pytest.raises(SandboxError, match="lacks operations"):
            open_sandbox(SandboxConfig(backend="not-a-sandbox"))
    finally:
        _registered.pop("broken", None)
        _registered.pop("not-a-sandbox", None)


def _pid_run(tmp_path, config: SandboxConfig) -> int:
    def root(call: Call) -> str:
        return ["```repl\n" + PID + "\n```", "FINAL(done)"][min(call.turn, 1)]

    with ScriptedServer({"root": root}) as server, warnings.catch_warnings():
        warnings.simplefilter("ignore", IsolationWarning)
        rlm = RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
                  cache=False, sandbox=config, answer_check=False)
        result = rlm.completion("some text", "what pid?")
    cells = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "cell"]
    return int(cells[0]["stdout"].split()[1])


def test_the_controller_gets_its_sandbox_from_the_factory(plain, tmp_path):
    assert _pid_run(tmp_path / "a", SandboxConfig(policy="trusted", backend="plain")) > 1
    assert _pid_run(tmp_path / "b", SandboxConfig(policy="trusted")) == 1


def test_the_cli_names_its_backend(tmp_path):
    env = cli_env(tmp_path / "home", key="k")
    (tmp_path / "a.txt").write_text("hello\n")
    r = subprocess.run([sys.executable, "-m", "cli", "query", "a.txt", "-q", "q?", "-m", "root", "--sandbox", "nope"],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 2 and "no sandbox backend named 'nope'" in r.stderr and "launcher" in r.stderr
    r = subprocess.run([sys.executable, "-m", "cli", "sandbox", "check", "--all", "--json"],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=180, check=False)
    assert r.returncode == 0, r.stderr
    checked = json.loads(r.stdout)["backends"]
    assert [c["isolation"]["backend"] for c in checked] == backend_names()
    assert all(c["smoke_ok"] for c in checked)
