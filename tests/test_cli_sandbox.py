"""`rlm sandbox check` end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys


def rlm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=120)


def test_sandbox_check_json():
    r = rlm("sandbox", "check", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["smoke_ok"] is True
    layers = {layer["layer"]: layer for layer in data["isolation"]["layers"]}
    assert {"landlock", "seccomp", "network namespace", "resource limits"} <= set(layers)
    assert all(isinstance(layer["active"], bool) and layer["detail"] for layer in layers.values())


def test_sandbox_check_table_and_trusted_policy():
    r = rlm("sandbox", "check", "--policy", "trusted")
    assert r.returncode == 0, r.stderr
    assert "policy: trusted" in r.stdout and "runs code" in r.stdout


def test_bad_policy_is_a_one_line_error():
    r = rlm("sandbox", "check", "--policy", "yolo")
    assert r.returncode == 1
    assert "policy must be" in r.stderr and "Traceback" not in r.stderr


def test_help_has_examples():
    r = rlm("sandbox", "check", "--help")
    assert r.returncode == 0 and "rlm sandbox check --json" in r.stdout
