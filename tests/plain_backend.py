"""A toy sandbox backend, written the way a newcomer adds one: the kernel runs as a plain
subprocess of the host, with no OS isolation layer at all (for tests, and as the example of
`sandbox.backend`; never for model code you do not trust).

Registered with one line: `register_backend("plain", "tests.plain_backend:PlainSandbox")`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sandbox.host import Sandbox


class PlainSandbox(Sandbox):
    backend = "plain"

    def launch_argv(self, launch_spec: Path) -> list[str]:
        return [sys.executable, "-s", "-P", __file__, str(launch_spec)]


def main(launch_spec: str) -> None:
    from sandbox.launcher import exec_kernel, kernel_inputs, open_report

    cfg = json.loads(Path(launch_spec).read_text())
    report = open_report(cfg)
    exec_kernel(cfg, kernel_inputs(cfg), report,
                [{"layer": "OS isolation", "active": False, "detail": "plain subprocess: no layer applied"}])


if __name__ == "__main__":
    main(sys.argv[1])
