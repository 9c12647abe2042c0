"""The container backend (Podman): a real container from the project's own image runs the
kernel; the OS-layer attacks of tests/test_attacks.py run against it with plain Python (the
policy layer assumed bypassed); contexts arrive as open files; interrupts, deaths, memory
raised in place, an image of the user's own, and the container gone after close and after
the host's death. Skips, saying why, where Podman cannot run a container here."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
from conftest import cli_env
from scripted_server import Call, ScriptedServer
from test_attacks import OS_CASES, run_os_case

from sandbox import SandboxConfig, open_sandbox
from sandbox.container import container_setup, engine_path, runtime_options, unavailable
from sandbox.errors import IsolationWarning, SandboxError

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"container backend: {unavailable()}")
REPO = Path(__file__).resolve().parents[1]


def _container_exists(name: str) -> bool:
    out = subprocess.run([engine_path() or "podman", "ps", "-a", "--filter", f"name=^{name}$", "--format",
                          "{{.Names}}"], capture_output=True, text=True, check=False)
    return name in out.stdout.split()


@pytest.fixture(scope="module")
def box():
    sb = open_sandbox(SandboxConfig(backend="container", policy="trusted", cell_timeout_s=20,
                                    interrupt_grace_s=2)).start()
    sb.load_context("the quick brown fox jumps over the lazy dog")
    yield sb
    sb.close()


def test_the_kernel_runs_in_a_container_with_every_layer(box):
    report = box.isolation()
    assert report.backend == "container"
    active = {layer.layer for layer in report.layers if layer.active}
    for layer in ("container", "pid namespace", "network namespace", "ipc namespace", "minimal root", "cgroup",
                  "unprivileged user", "landlock", "seccomp", "resource limits", "scrubbed environment"):
        assert layer in active, f"{layer} not active: {report.layers}"
    r = box.execute("import os\nst = open('/proc/self/status').read()\n"
                    "print([l.split()[1] for l in st.splitlines() if l.startswith(('CapEff', 'NoNewPrivs'))])\n"
                    "print(os.uname().nodename, len(context))")
    assert r.stdout.split("\n")[:2] == ["['0000000000000000', '1']", "sandbox 43"], r.stdout + str(r.error)


@pytest.mark.parametrize("case_id,code,expect", OS_CASES, ids=[c[0] for c in OS_CASES])
def test_os_layer_attack_on_the_container(box, host_secret, listener, case_id, code, expect):
    run_os_case(box, host_secret, listener, case_id, code, expect)




gvisor = pytest.mark.skipif(shutil.which("runsc", path="/usr/bin:/bin:/usr/local/bin") is None,
                            reason="gVisor (runsc) is not installed (Debian: apt install runsc)")


@pytest.fixture(scope="module")
def gvisor_box():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IsolationWarning)  # gVisor has no Landlock
        sb = open_sandbox(SandboxConfig(backend="container", container_runtime="runsc", policy="trusted",
                                        cell_timeout_s=20, interrupt_grace_s=2)).start()
    sb.load_context("the quick brown fox jumps over the lazy dog")
    yield sb
    sb.close()


@gvisor
def test_gvisor_runs_the_kernel_on_a_kernel_of_its_own(gvisor_box):
    layers = {layer.layer: layer for layer in gvisor_box.isolation().layers}
    assert "gVisor" in layers["container"].detail
    assert not layers["landlock"].active and "4.4.0" in layers["landlock"].detail  # gVisor's kernel lacks it
    for layer in ("seccomp", "minimal root", "network namespace", "cgroup", "unprivileged user"):
        assert layers[layer].active, layers[layer]
    r = gvisor_box.execute("import os\nprint(os.uname().release, len(context))")
    assert r.stdout.split() == ["4.4.0", "43"], r.error  # gVisor's kernel answers, not this machine's
    assert gvisor_box._kernel_pid() is None  # the host sees gVisor, never the kernel (nor changes its limits)


# where gVisor's kernel answers otherwise, and holds all the same: a process may read its
# parent's environment (the container's init, which has only the engine's few variables), and
# the data-segment limit is not applied (the container's memory limit kills the kernel instead,
# which is restarted; the host is untouched)
_GVISOR_OUTCOMES = {
    "proc-parent-environ": ("import os\nenv = open(f'/proc/{os.getppid()}/environ').read()\n"
                            "assert 'OPENAI' not in env and 'RLM_TEST' not in env and 'sk-' not in env, env\n"
                            "raise SystemExit('clean')", ["PermissionError", "FileNotFoundError", "clean"]),
    "memory-bomb-os": ("x = bytearray(20 * 2**30)", ["MemoryError", "the kernel died with SIGKILL"]),
}
# the fork bomb is stopped by the process limit; once, on a loaded machine (the real-model bench
# beside the test suite), gVisor's kernel exited instead (status 2) once the children held every
# process slot: it was restarted, the host untouched
_FORKS = dict((case_id, code) for case_id, code, _ in OS_CASES)["process-limit"]
# under load gVisor's sentry may be killed at its memory limit mid-bomb: contained too (seen in CI)
_GVISOR_OUTCOMES["process-limit"] = (_FORKS, ["stopped after", "KernelDied: the kernel exited",
                                              "KernelDied: the kernel died with SIGKILL"])
GVISOR_CASES = [(case_id, *_GVISOR_OUTCOMES.get(case_id, (code, expect))) for case_id, code, expect in OS_CASES]


@gvisor
@pytest.mark.parametrize("case_id,code,expect", GVISOR_CASES, ids=[c[0] for c in GVISOR_CASES])
def test_os_layer_attack_under_gvisor(gvisor_box, host_secret, listener, case_id, code, expect):
    run_os_case(gvisor_box, host_secret, listener, case_id, code, expect)


def test_a_file_context_arrives_as_an_open_file_and_is_cited_back(tmp_path):
    corpus = tmp_path / "big.log"
    corpus.write_text("".join(f"line {i} ok\n" for i in range(200_000)) + "the needle is 7431\n")
    with open_sandbox(SandboxConfig(backend="container", max_str_bytes=1_000_000)) as sb:
        info = sb.load_context(corpus)
        assert info.type == "Corpus"
        r = sb.execute("m = re.search(r'needle is (\\d+)', context)\nprint(m.group(1))")
        assert r.stdout == "7431\n", r.error
        reader = sb.context_reader()
        assert reader is not None


def test_interrupt_death_and_restart_keep_the_context():
    with open_sandbox(SandboxConfig(backend="container", policy="trusted", interrupt_grace_s=2)) as sb:
        sb.load_context("abc")
        r = sb.execute("import time\ntime.sleep(60)", timeout=1)
        assert r.timed_out and "KeyboardInterrupt" in (r.error or "")
        r = sb.execute("import ctypes\nctypes.string_at(0)", timeout=20)
        assert r.restarted and "SIGSEGV" in r.error, r.error
        assert sb.execute("print(context)").stdout == "abc\n"


def test_a_larger_context_raises_the_containers_memory_limit(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 120 * 2**20)
    config = SandboxConfig(backend="container", min_memory_bytes=256 * 2**20, disk_quota_bytes=64 * 2**20)
    with open_sandbox(config) as sb:
        sb.load_context("small")
        engine, name = sb._container

        def memory() -> int:
            out = subprocess.run([engine, "inspect", "--format", "{{.HostConfig.Memory}}", name],
                                 capture_output=True, text=True, check=True)
            return int(out.stdout)

        before = memory()
        sb.load_context(big, name="big")
        # raised in place where this host lets the kernel's rlimit be raised, else by a restart
        # with the larger limit (the contexts reloaded): either way the container holds it
        assert memory() > before + 2 * 100 * 2**20
        r = sb.execute("print(context, len(big))")
        assert r.stdout == f"small {120 * 2**20}\n", r.error


def test_close_removes_the_container():
    sb = open_sandbox(SandboxConfig(backend="container")).start()
    name = sb._container[1]
    assert _container_exists(name)
    sb.close()
    assert not _container_exists(name)


def test_the_container_goes_when_the_host_dies(tmp_path):
    host = textwrap.dedent("""
        import os, signal, sys, warnings
        warnings.simplefilter("ignore")
        from sandbox import SandboxConfig, open_sandbox
        sb = open_sandbox(SandboxConfig(backend="container")).start()
        print(sb._container[1], sb.work_dir, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", host], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    name, work_dir = proc.stdout.split()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_container_exists(name) or Path(work_dir).exists()):
        time.sleep(0.5)
    assert not _container_exists(name)
    assert not Path(work_dir).exists()


def test_an_image_of_the_users_own_with_a_package_of_theirs(tmp_path):
    base = container_setup(SandboxConfig())["image"]
    site = next(p for p in sys.path if p.endswith("site-packages"))
    (tmp_path / "ownpkg").mkdir()
    (tmp_path / "ownpkg" / "__init__.py").write_text("ANSWER = 'from the image'\n")
    (tmp_path / "Containerfile").write_text(f"FROM {base}\nCOPY ownpkg {site}/ownpkg\n")
    tag = "localhost/rlm-test-own:1"
    subprocess.run([engine_path() or "podman", "build", "--pull=never", "-t", tag, str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    try:
        with open_sandbox(SandboxConfig(backend="container", container_image=tag, policy="trusted")) as sb:
            r = sb.execute("import ownpkg\nprint(ownpkg.ANSWER)")
            assert r.stdout == "from the image\n", r.error
            assert f"image {tag}" in next(x.detail for x in sb.isolation().layers if x.layer == "container")
    finally:
        subprocess.run([engine_path() or "podman", "rmi", "-f", tag], capture_output=True, check=False)


def test_a_runtime_that_does_not_exist_is_a_clear_error():
    with pytest.raises(SandboxError, match="no-such-runtime"):
        open_sandbox(SandboxConfig(backend="container", container_runtime="no-such-runtime")).start()


def test_rlm_sandbox_check_shows_the_container_backend():
    out = subprocess.run([sys.executable, str(REPO / "cli.py"), "sandbox", "check", "--sandbox", "container",
                          "--json"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout)
    assert found["smoke_ok"] is True
    assert found["isolation"]["backend"] == "container"


def test_rlm_query_runs_its_kernel_in_a_container(tmp_path):
    corpus = tmp_path / "a.txt"
    corpus.write_text("hello world\n")

    def root(call: Call) -> str:
        return ["```repl\nsize = str(len(context))\nprint(size)\n```", "FINAL_VAR(size)"][min(call.turn, 1)]

    with ScriptedServer({"root": root}) as server:
        r = subprocess.run([sys.executable, "-m", "cli", "query", str(corpus), "-q", "how long?", "--model", "root",
                            "--base-url", server.url, "--json", "--no-notes", "--sandbox", "container"],
                           cwd=REPO, env=cli_env(tmp_path / "home", key="k"), capture_output=True, text=True,
                           timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["answer"] == "12"
    with open(result["trajectory_path"]) as f:
        start = json.loads(f.readline())
    assert start["event"] == "run_start" and start["config"]["sandbox"]["backend"] == "container"


def test_a_container_whose_host_is_gone_is_removed_and_a_live_ones_kept():
    from sandbox.container_engine import LABEL, remove_orphans

    engine = engine_path() or "podman"
    setup = container_setup(SandboxConfig())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {"rlm-test-orphan": dead.pid, "rlm-test-kept": os.getpid()}
    for name, owner in names.items():
        subprocess.run([engine, *runtime_options(setup["runtime"]), "run", "-d", "--rm", "--name", name, "--label", f"{LABEL}={owner}", "--network", "none",
                        "--ulimit", "nofile=64:64", "--ulimit", "nproc=64:64", "--", setup["image"], setup["python"],
                        "-c", "import time; time.sleep(120)"], check=True, capture_output=True, timeout=120)
    try:
        assert remove_orphans(engine) >= 1
        assert not _container_exists("rlm-test-orphan")
        assert _container_exists("rlm-test-kept")
    finally:
        for name in names:
            subprocess.run([engine, "rm", "-f", "-t", "0", name], capture_output=True, check=False)
