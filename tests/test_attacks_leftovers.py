"""A cell cannot leave work behind, nor make the host hold what it made: whatever it forks (a busy child after setsid() and a double
fork, a subprocess, a multiprocessing worker, a fork loop) is ended when the cell returns.
Before, forked processes kept both cores busy after the cell's time was over."""

from __future__ import annotations

import pytest

ROUTES = {
    "setsid and a double fork": (
        "import os\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        while True:\n            pass\n    os._exit(0)\nos.waitpid(pid, 0)\nprint('left')"),
    "a subprocess": "import subprocess\np = subprocess.Popen(['sleep', '600'])\nprint('left')",
    "a multiprocessing worker": (
        "import multiprocessing, time\nctx = multiprocessing.get_context('fork')\n"
        "p = ctx.Process(target=time.sleep, args=(600,))\np.start()\nprint('left')"),
    # the children wait before they loop: once they fill the process limit, a fork of the cell's
    # own failed with EAGAIN (a CI run under load), and the cell never said "left"
    "a fork loop": (
        "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        time.sleep(0.3)\n        while True:\n"
        "            try:\n                os.fork()\n            except OSError:\n                time.sleep(0.01)\n"
        "time.sleep(0.5)\nprint('left')"),
}


def descendants_of_kernel(sb) -> list[int]:
    """The kernel's descendants, seen from the host (/proc/PID/task/*/children)."""
    from sandbox.kernel.leftovers import descendants

    pid = sb._kernel_pid()
    assert pid is not None
    return descendants(pid)


@pytest.mark.parametrize("name", list(ROUTES))
def test_processes_a_cell_started_end_with_it(trusted_sb, name):
    r = trusted_sb.execute(ROUTES[name])
    assert r.stdout.strip() == "left", r.error
    assert descendants_of_kernel(trusted_sb) == []
    assert trusted_sb.execute("print(1 + 1)").stdout == "2\n"


def test_the_restricted_policy_cannot_start_a_process(restricted_sb):
    for module in ("os", "subprocess", "multiprocessing"):
        r = restricted_sb.execute(f"import {module}")
        assert r.error and module in r.error
    assert descendants_of_kernel(restricted_sb) == []


def test_a_million_variables_are_listed_by_the_first_thousand_and_a_count(fresh_sb):
    """The listing runs every turn: two million variables cost the host 856 MiB and 19 s a
    listing before. Now the kernel describes the first 1,000 and counts the rest."""
    from rlm.prompts import now_block

    r = fresh_sb.execute("g = globals()\nfor i in range(300_000):\n    g['v' + str(i)] = i")
    assert r.error is None, r.error
    listed = fresh_sb.variables()
    assert len(listed) == 1000 and listed.total >= 300_000
    block = now_block(1, 5, "no limit", listed)
    assert f"and {listed.total - 30:,} more" in block and len(block) < 5000


_KILLED_SANDBOX = """
import sys, time
from sandbox import Sandbox, SandboxConfig
sb = Sandbox(SandboxConfig(work_root=sys.argv[1])).start()
sb.execute("x = 1")
print("ready", flush=True)
time.sleep(600)
"""


def _cgroups_named(name: str) -> list:
    """The groups of that name beside this process's own, in every hierarchy it is in."""
    from pathlib import Path

    from sandbox.cgroup import ROOT, _own_path

    found = []
    for controller in (None, "memory", "pids"):
        own = _own_path(controller)
        if own is not None:
            d = (ROOT if controller is None else ROOT / controller) / own.lstrip("/") / name
            found += [d] if d.is_dir() else []
    return [Path(d) for d in found]


def test_a_killed_controllers_sandbox_directories_are_removed_at_the_next_start(tmp_path):
    """A SIGKILL of the controller and its launcher left their host and work directories behind,
    the work directory's tmpfs mounted (memory held until reboot)."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys

    from sandbox import Sandbox, SandboxConfig

    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SANDBOX, str(work)], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
    finally:  # everything at once, as the OOM killer or `kill -9` of the tree would: the launcher too
        from sandbox.kernel.leftovers import descendants

        for pid in [proc.pid, *descendants(proc.pid)]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    stale = sorted(p.name for p in work.iterdir())
    assert any(n.startswith("rlm-host-") for n in stale) and any(n.startswith("rlm-sandbox-") for n in stale)
    groups = [g for n in stale if n.startswith("rlm-sandbox-") for g in _cgroups_named(n)]  # where cgroups are usable
    with Sandbox(SandboxConfig(work_root=work)) as live:
        assert not any(g.exists() for g in groups), groups  # its empty cgroups had stayed for good
        assert live.execute("print(2)").stdout == "2\n"
        left = sorted(p.name for p in work.iterdir())
        assert left == sorted([live._host_dir.name, live.work_dir.name])
        with Sandbox(SandboxConfig(work_root=work)) as second:  # a live sandbox's pair is kept
            assert live.work_dir.exists() and second.work_dir.exists()
    assert list(work.iterdir()) == []
    from pathlib import Path

    assert str(work) not in Path("/proc/self/mounts").read_text()


def test_a_live_processs_scratch_directory_is_kept_even_when_its_lock_is_free(tmp_path):
    # the sweep took any directory whose lock was free for stale: a process that lost its lock
    # (a descriptor closed twice elsewhere) had its live sandbox's directories removed
    import os

    from sandbox.scratch import OWNER, sweep_stale

    live = tmp_path / f"rlm-host-{os.getpid()}-abc123"
    live.mkdir()
    (live / OWNER).write_text("")  # the owner file, unlocked
    assert sweep_stale("rlm-host-", tmp_path) == [] and live.exists()
