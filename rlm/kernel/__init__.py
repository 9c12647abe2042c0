"""Kernel-side halves of the controller's tools: code that runs INSIDE the sandboxed kernel.

The sandbox runs each module here in the kernel (its source sent from the host; not as part
of the `rlm` package; the host imports them only for shared constants), then calls `install(kernel, data)`,
which returns the names the module adds to the model's namespace. Standard library only;
everything these helpers need from the host goes through `kernel.call(op, args)`, answered by
the host handlers that `rlm/tools.py` registers for the same op names.
"""
