"""Entry point of the kernel process, exec'd by the launcher once isolation is in place.

Reads the runtime options, starts ipykernel's app with `SandboxKernel`, removes the
connection file (it holds the HMAC key) before any model code can run, and points the
process's own stdout/stderr at /dev/null so output cannot bypass the capped channel.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys


def main(argv: list[str]) -> None:
    conn_file, options_file = argv[1], argv[2]
    with open(options_file, encoding="utf-8") as f:
        options = json.load(f)
    from ipykernel.kernelapp import IPKernelApp

    from sandbox.kernel.kernel import SandboxKernel
    from sandbox.kernel.runtime import Runtime

    SandboxKernel.runtime = Runtime(options)
    app = IPKernelApp.instance(kernel_class=SandboxKernel)
    app.initialize(["-f", conn_file, "--IPKernelApp.capture_fd_output=False"])
    with contextlib.suppress(OSError):
        os.unlink(conn_file)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    app.start()


if __name__ == "__main__":
    main(sys.argv)
