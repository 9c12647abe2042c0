"""Code that runs INSIDE the sandboxed kernel process, behind the isolation boundary.

Everything in this package is loaded by the kernel (`boot` is its entry point) and must not
import host modules of `sandbox` or anything of `rlm`. Two modules are also imported by the
host and so use the standard library only: `wire` (the bridge's framing) and `caps` (text caps).
"""
