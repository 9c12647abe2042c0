"""Kernel-side modules of the eval baselines (standard library only; their source is sent to
the sandboxed kernel, never imported on the host)."""
