"""Entry point of the kernel process, exec'd by the launcher once isolation is in place.

The launcher passes two inherited descriptors of sealed in-memory files: the connection
file (it holds the HMAC key) and the runtime options. Boot reads the options, starts
ipykernel's app with `SandboxKernel` on the connection file, closes both descriptors before
any model code can run (nothing of them is left on disk), and points the process's own
stdout/stderr at /dev/null so output cannot bypass the capped channel.
"""

from __future__ import annotations

import json
import os
import sys


def load_package() -> None:
    """Make `sandbox` importable from the directory above this file, found by path rather than
    through sys.path: the kernel may not list the directory that holds the package (in an
    editable install, the source checkout), and nothing on sys.path is the kernel's to write.
    The package's own __init__ (host code) is not run: the kernel needs only `sandbox.kernel`."""
    import types

    if "sandbox" in sys.modules:
        return
    package = types.ModuleType("sandbox", "the sandbox package, as the kernel sees it: its kernel code only")
    package.__path__ = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    sys.modules["sandbox"] = package


def main(argv: list[str]) -> None:
    conn_fd, options_fd = int(argv[1]), int(argv[2])
    with os.fdopen(options_fd, encoding="utf-8") as f:
        options = json.load(f)
    # where the host found the kernel's dependencies outside site-packages (read-only here)
    sys.path.extend(p for p in options.get("import_paths", []) if p not in sys.path)
    load_package()
    from ipykernel.kernelapp import IPKernelApp

    from sandbox.kernel.kernel import SandboxKernel
    from sandbox.kernel.runtime import Runtime

    SandboxKernel.runtime = Runtime(options)
    app = IPKernelApp.instance(kernel_class=SandboxKernel)
    # the app reads the file and, finding every port in it, writes nothing back
    # ignore_cwd: IPython would put '' (the work directory, the kernel's to write) on sys.path
    # ahead of site-packages, and a restarted kernel would import what model code planted there
    app.initialize(["-f", f"/proc/self/fd/{conn_fd}", "--IPKernelApp.capture_fd_output=False",
                    "--IPKernelApp.ignore_cwd=True"])
    os.close(conn_fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    from sandbox.kernel.leftovers import become_subreaper

    become_subreaper()  # what a cell forks stays below the kernel, to be ended with the cell
    app.start()


if __name__ == "__main__":
    main(sys.argv)
