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
    """Import `sandbox` from the directory above this file, found by path rather than through
    sys.path: the kernel may not list the directory that holds the package (in an editable
    install, the source checkout), and nothing on sys.path is the kernel's to write."""
    import importlib.util

    if "sandbox" in sys.modules:
        return
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        "sandbox", os.path.join(package, "__init__.py"), submodule_search_locations=[package])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sandbox"] = module
    spec.loader.exec_module(module)


def main(argv: list[str]) -> None:
    conn_fd, options_fd = int(argv[1]), int(argv[2])
    with os.fdopen(options_fd, encoding="utf-8") as f:
        options = json.load(f)
    from ipykernel.kernelapp import IPKernelApp

    load_package()
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
    app.start()


if __name__ == "__main__":
    main(sys.argv)
