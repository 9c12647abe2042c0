"""Building the container image (sandbox/container_image.py) through an engine that fails: the
engine's own words come back in the error, and nothing of the build is left open (its stderr
went to a pipe never closed: a ResourceWarning at a later test's setup in CI)."""

from __future__ import annotations

import gc
import sys

import pytest

from sandbox.container_image import ensure_image
from sandbox.errors import SandboxError


def test_a_failed_build_says_why_and_leaves_nothing_open(tmp_path, monkeypatch):
    engine = tmp_path / "engine"
    # reads the whole tar, then says a lot on stderr (more than a pipe holds) and fails
    engine.write_text("#!/bin/sh\nif [ \"$1\" = import ]; then cat > /dev/null\n"
                      "  head -c 300000 /dev/zero | tr '\\0' e >&2; echo ' import failed: bad layer' >&2; exit 1; fi\n"
                      "exit 1\n")
    engine.chmod(0o755)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(SandboxError, match="import failed: bad layer"):
        ensure_image(str(engine))
    gc.collect()
    assert not [u for u in unraisable if isinstance(getattr(u, "exc_value", None), ResourceWarning)]
