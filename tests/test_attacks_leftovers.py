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
