"""Attacks on the container backend (Podman) beyond the OS-layer table of tests/test_container.py:
what the kernel can make the engine write on this machine, a container outliving its host's
processes (a signal to all of them, SIGKILL), the isolation report and the next kernel's key
over the container's pipes, and options slipped into the engine's command line by the
configuration. Real containers, no mocks; skips, saying why, where Podman cannot run one."""

from __future__ import annotations

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

from sandbox import SandboxConfig, open_sandbox
from sandbox.container import container_setup, engine_path, unavailable
from sandbox.errors import IsolationWarning, SandboxError

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"container backend: {unavailable()}")
REPO = Path(__file__).resolve().parents[1]
HAS_GVISOR = shutil.which("runsc", path="/usr/bin:/bin:/usr/local/bin") is not None


def _container_exists(name: str) -> bool:
    out = subprocess.run([engine_path() or "podman", "ps", "-a", "--filter", f"name=^{name}$", "--format",
                          "{{.Names}}"], capture_output=True, text=True, check=False)
    return name in out.stdout.split()


def _open(runtime: str = "auto", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IsolationWarning)  # gVisor has no Landlock; landlock=False
        return open_sandbox(SandboxConfig(backend="container", policy="trusted", container_runtime=runtime,
                                          cell_timeout_s=60, **kw)).start()


# where the kernel reaches the container's stderr (its init's, under gVisor, which has no
# Landlock; or under runc with Landlock turned off), the engine's client copies it into the
# host's kernel.log, outside the work directory's quota: it must be capped
_FLOOD = ("import os, time\nfd = os.open('/proc/1/fd/2', os.O_WRONLY)\nb = b'A' * (1 << 20)\n"
          "end = time.monotonic() + 6\nfor _ in range(256):\n    os.write(fd, b)\n"
          "    if time.monotonic() > end:\n        break\n    time.sleep(0.01)\nprint('flooded')")
_RUNTIMES = [pytest.param("auto", {"landlock": False}, id="runc-no-landlock"),
             pytest.param("runsc", {}, id="gvisor",
                          marks=pytest.mark.skipif(not HAS_GVISOR, reason="gVisor (runsc) is not installed"))]


@pytest.mark.parametrize("runtime,kw", _RUNTIMES)
def test_the_kernel_cannot_fill_the_hosts_disk_through_the_containers_stderr(runtime, kw):
    sb = _open(runtime, **kw)
    try:
        r = sb.execute(_FLOOD)
        log = sb._host_dir / "kernel.log"
        time.sleep(3)  # the engine's client copies it at its own pace
        assert log.stat().st_size < 4 << 20, f"kernel.log grew to {log.stat().st_size} bytes ({r.stdout}{r.error})"
        assert sb.execute("print(1 + 1)").stdout == "2\n"  # the container still runs (its stderr drained)
    finally:
        sb.close()


def test_the_kernel_cannot_reach_the_containers_stderr_under_landlock():
    sb = _open()
    try:
        r = sb.execute(_FLOOD)
        assert "PermissionError" in (r.error or ""), r.stdout + str(r.error)
    finally:
        sb.close()


_HOST = textwrap.dedent("""
    import sys, time, warnings
    warnings.simplefilter("ignore")
    from sandbox import SandboxConfig, open_sandbox
    sb = open_sandbox(SandboxConfig(backend="container", policy="trusted")).start()
    sb.execute("import threading, time\\nthreading.Thread(target=lambda: time.sleep(10**6)).start()")
    print(sb._container[1], sb._channel.km.provisioner.process.pid, sb.work_dir, flush=True)
    time.sleep(600)
""")


def _host_with_a_container() -> tuple[subprocess.Popen, str, list[int], str]:
    """A host process with a container sandbox: it, its launch command (the watchdog) and the
    engine's client, and the container's name and the work directory."""
    proc = subprocess.Popen([sys.executable, "-c", _HOST], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert len(line) == 3, "the host did not start its sandbox"
    name, watchdog, work_dir = line[0], int(line[1]), line[2]
    client = subprocess.run(["pgrep", "-P", str(watchdog)], capture_output=True, text=True).stdout.split()
    return proc, name, [proc.pid, watchdog, *map(int, client)], work_dir


def _gone_within(name: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _container_exists(name):
            return True
        time.sleep(0.5)
    return False


def test_the_container_goes_when_every_host_process_is_terminated():
    """A service stopped (SIGTERM to every process of the host's, as systemd or a terminal
    does): the engine's client dies, but the container lives on under conmon unless the
    watchdog removes it."""
    proc, name, pids, work_dir = _host_with_a_container()
    try:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        proc.wait(timeout=30)
        assert _gone_within(name, 30), f"container {name} outlived its host's processes"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        subprocess.run([engine_path() or "podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)


def test_a_container_left_by_a_killed_host_goes_at_the_next_sandbox():
    """SIGKILL to the host, its watchdog and the engine's client at once (a cgroup killed):
    nothing of ours is left to remove the container then; the next sandbox's sweep of what
    killed sandboxes left must remove it with their directories."""
    proc, name, pids, work_dir = _host_with_a_container()
    try:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(1)
        with open_sandbox(SandboxConfig(backend="container", policy="trusted")) as sb:
            assert sb.execute("print(3)").stdout == "3\n"
        assert _gone_within(name, 10), f"container {name} of a killed host was not swept"
        assert not Path(work_dir).exists()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        subprocess.run([engine_path() or "podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)


@pytest.mark.skipif(not HAS_GVISOR, reason="gVisor (runsc) is not installed")
def test_a_forged_report_on_the_containers_stdout_is_never_read():
    """Under gVisor the kernel can open its init's stdout (the pipe the report comes on): what
    it writes there, before and across a restart, is never taken for the isolation report,
    and the restarted kernel's settings (its key among them) never come through it."""
    sb = _open("runsc")
    try:
        forged = ('[{"layer": "landlock", "active": true, "detail": "FORGED"}]')
        code = ("import os\nfd = os.open('/proc/1/fd/1', os.O_WRONLY)\n"
                f"os.write(fd, {forged!r}.encode() * 4)\n"
                "r = os.open('/proc/1/fd/0', os.O_RDONLY | os.O_NONBLOCK)\n"
                "try:\n    print(repr(os.read(r, 1 << 16)))\nexcept BlockingIOError:\n    print('nothing')\n"
                "os._exit(1)")
        r = sb.execute(code)
        assert r.restarted, r.error
        assert "key" not in (r.stdout or "")
        layers = {layer.layer: layer for layer in sb.isolation().layers}
        assert "FORGED" not in str(sb.isolation().layers)
        assert not layers["landlock"].active
        assert sb.execute("print(4)").stdout == "4\n"
    finally:
        sb.close()


@pytest.mark.parametrize("field,value", [("container_image", "--privileged"),
                                         ("container_image", "--entrypoint=/bin/sh"),
                                         ("container_runtime", "--privileged"),
                                         ("container_python", "-c")])
def test_engine_options_in_the_configuration_are_refused_even_when_set_late(field, value):
    with pytest.raises(ValueError):
        SandboxConfig(backend="container", **{field: value})
    config = SandboxConfig(backend="container")
    setattr(config, field, value)  # a dataclass: set after its check ran
    with pytest.raises((SandboxError, ValueError)):
        container_setup(config)


def test_an_image_option_never_reaches_the_engine_as_an_option():
    """The image and the runtime are never read as the engine's options, whatever the check
    above lets through: `--` ends the options before the image, the runtime is `--runtime=`."""
    from sandbox.container_launch import container_argv

    cfg = {"limits": {"memory_bytes": 1 << 30, "processes": 64}, "work_dir": "/tmp/w", "uid": 5, "gid": 5}
    box = {"engine": "/usr/bin/podman", "runtime": "--privileged", "name": "rlm-x", "owner": 1, "image": "--privileged",
           "python": "/usr/bin/python3"}
    argv = container_argv(cfg, box)
    assert argv[argv.index("--privileged") - 1] == "--"
    assert "--runtime=--privileged" in argv


_HELD = """
import os
out = []
for path in (PACKAGE + '/x', '/x', '/tmp/x', '/run/x', '/dev/x', '/dev/shm/x', '/etc/x'):
    try:
        open(path, 'w').close()
        out.append('WROTE ' + path)
    except OSError:
        pass
for path in (SECRET, '/run/podman/podman.sock', '/var/run/docker.sock', '/proc/1/root/etc/hostname'):
    try:
        out.append('READ ' + path + ' ' + open(path, 'rb').read(64).decode(errors='replace'))
    except OSError:
        pass
import socket
for path in ('/run/podman/podman.sock', '/run/containerd/containerd.sock', '/run/systemd/private'):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        out.append('CONNECTED ' + path)
    except OSError:
        pass
    s.close()
print(out)
"""


@pytest.mark.parametrize("runtime", ["auto", pytest.param("runsc", marks=pytest.mark.skipif(
    not HAS_GVISOR, reason="gVisor (runsc) is not installed"))])
def test_the_containers_root_package_and_host_sockets_are_out_of_reach(runtime, tmp_path):
    secret = Path("/root" if os.getuid() == 0 else tmp_path) / f"rlm-container-secret-{os.getpid()}"
    secret.write_text("TOPSECRET")
    try:
        sb = _open(runtime)
        try:
            package = str(Path(__file__).resolve().parents[1] / "sandbox")
            r = sb.execute(_HELD.replace("PACKAGE", repr(package)).replace("SECRET", repr(str(secret))))
            assert r.stdout == "[]\n", r.stdout + str(r.error)
        finally:
            sb.close()
    finally:
        secret.unlink()
