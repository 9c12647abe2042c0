"""`rlm sandbox check`: the isolation report of a fresh sandbox plus a short smoke test."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from sandbox.backend import open_sandbox
from sandbox.config import SandboxConfig
from sandbox.errors import IsolationWarning
from sandbox.results import IsolationReport

# (what is checked, code, what the output must contain: a string or a tuple of alternatives)
COMMON_CELLS: list[tuple[str, str, Any]] = [
    ("runs code", "print(6 * 7)", "42"),
    ("holds the context", "print(len(context), context.count('needle'))", "33 2"),
    ("regex over the context", "import re\nprint(re.findall(r'needle (\\d+)', context))", "['1', '2']"),
]
POLICY_CELLS: dict[str, list[tuple[str, str, Any]]] = {
    "restricted": [
        ("refuses forbidden imports", "import os", "ImportError"),
        ("refuses private attributes", "().__class__", "PolicyError"),
    ],
    "trusted": [
        ("no network", "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2)", "OSError"),
        ("no writes outside the work directory", "open('/tmp/rlm-check-probe', 'w')",
         ("PermissionError", "Read-only file system")),
        ("no other processes", "import os\nprint(sorted(p for p in os.listdir('/proc') if p.isdigit()) == ['1'])",
         ("True", "PermissionError")),
        ("no host environment", "import os\nprint(sorted(k for k in os.environ if 'KEY' in k or 'TOKEN' in k))", "[]"),
    ],
}


@dataclass
class CheckResult:
    report: IsolationReport
    smoke: list[dict[str, Any]] = field(default_factory=list)

    @property
    def smoke_ok(self) -> bool:
        return all(item["ok"] for item in self.smoke)

    def as_dict(self) -> dict[str, Any]:
        return {"isolation": self.report.as_dict(), "smoke": self.smoke, "smoke_ok": self.smoke_ok}


def run_check(config: SandboxConfig | None = None) -> CheckResult:
    """Start a sandbox, read its isolation report, and run the smoke cells."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IsolationWarning)
        with open_sandbox(config) as sb:
            sb.load_context("a needle 1 in a haystack needle 2")
            result = CheckResult(sb.isolation())
            for name, code, expected in COMMON_CELLS + POLICY_CELLS[sb.config.policy]:
                r = sb.execute(code, timeout=30)
                seen = (r.stdout + (r.error or "")).strip()
                alternatives = expected if isinstance(expected, tuple) else (expected,)
                ok = any(e in seen for e in alternatives)
                result.smoke.append({"check": name, "ok": ok, "output": seen[-300:]})
    return result
