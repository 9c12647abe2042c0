"""The sandbox starts, with every OS layer, however its dependencies were installed: here a
virtual environment without them, the package and its dependencies reached through
PYTHONPATH (as `pip install --target DIR` or a zipapp-style deployment leaves them). The kernel
runs with -s -P and no PYTHONPATH, so the host hands it where the dependencies are."""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = """
from sandbox import Sandbox
with Sandbox() as sb:
    layers = {l.layer: l.active for l in sb.isolation().layers}
    r = sb.execute("import re, json\\nprint(re.findall('a', 'banana'), json.dumps([1]))")
print(r.stdout.strip(), r.error, sorted(n for n, on in layers.items() if not on))
"""


def test_dependencies_on_pythonpath_reach_the_kernel_and_the_launcher(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "PYTHONPATH": os.pathsep.join([str(REPO), *site.getsitepackages()])}
    out = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE], capture_output=True, text=True,
                         timeout=180, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("['a', 'a', 'a'] [1] None []"), out.stdout + out.stderr[-2000:]
