"""The container engine (Podman) as the host calls it: where its executable is (the system's
directories only), the few variables of the host's environment it needs, and removing a
container. Standard library only: the launch command's watchdog and the sweep of dead
sandboxes use it too."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

SYSTEM_PATH = "/usr/bin:/bin:/usr/local/bin:/usr/sbin:/sbin"
# what the engine itself needs of the host's environment (rootless Podman finds its storage and
# runtime directory through them); nothing else of the host's reaches the launch command
ENGINE_ENV = ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "CONTAINER_HOST")


def engine_env() -> dict[str, str]:
    """The engine's environment: those variables and the system's PATH."""
    env = {k: os.environ[k] for k in ENGINE_ENV if k in os.environ}
    env["PATH"] = SYSTEM_PATH
    return env


def engine_path() -> str | None:
    """Podman's executable, from the system's directories only (never a PATH entry of the
    user's or a project's)."""
    return shutil.which("podman", path=SYSTEM_PATH)


def remove_container(engine: str, name: str) -> None:
    """Stop and remove the container at once (nothing when it is gone already)."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run([engine, "rm", "--force", "--time", "0", name], capture_output=True, check=False,
                       timeout=60, env=engine_env())


LABEL = "rlm-sandbox"  # every sandbox container carries it, with its host's pid as the value


def remove_orphans(engine: str) -> int:
    """Remove the sandbox containers whose host process is gone (killed with its watchdog and
    the engine's client at once, they run on under the engine's monitor); returns how many."""
    from sandbox.scratch import pid_running

    try:
        listed = subprocess.run([engine, "ps", "--all", "--filter", f"label={LABEL}", "--format",
                                 f'{{{{.Names}}}} {{{{index .Labels "{LABEL}"}}}}'], capture_output=True, text=True,
                                timeout=60, check=False, env=engine_env())
    except (OSError, subprocess.TimeoutExpired):
        return 0
    removed = 0
    for line in listed.stdout.splitlines():
        name, _, owner = line.partition(" ")
        if owner.isdigit() and not pid_running(int(owner)):
            remove_container(engine, name)
            removed += 1
    return removed
