"""A cell cannot leave work behind: whatever it forks (a busy child after setsid() and a double
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
    "a fork loop": (
        "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        while True:\n"
        "            try:\n                os.fork()\n            except OSError:\n                time.sleep(0.01)\n"
        "time.sleep(0.2)\nprint('left')"),
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
