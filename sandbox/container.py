"""The container backend: the kernel in a Podman container (rootful, or rootless), from the project's own
image (built once from this Python: `sandbox/container_image.py`) or an image the user names,
for users who want their own packages in the kernel or a runtime such as gVisor
(`container_runtime="runsc"`: a kernel of its own between the sandbox and this machine's).
The container gets no network, a read-only root, no capability, no
new privileges, private PID, IPC and UTS namespaces, memory and process limits in its own
cgroup, and lowered resource limits; inside it, the Landlock allow-list and seccomp filter of
the other backends (`sandbox/inner_stage.py`). The work directory is bound at its own path, so
the kernel's sockets and the contexts handed over them as open files work as with the other
backends: the engine must run on this machine's kernel (Linux; not a Podman machine's VM,
whose mounts carry no sockets). Docker is not offered as an engine: no daemon runs where this
was built to test one against.

How it launches: `sandbox/container_launch.py` (outside: a watchdog that removes the
container if the host dies and passes the inner stage its settings over a pipe, then
`podman run`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from sandbox.config import SandboxConfig, container_names_problem
from sandbox.container_engine import ENGINE_ENV, SYSTEM_PATH, engine_env, engine_path, remove_container, remove_orphans
from sandbox.errors import SandboxError
from sandbox.host import Sandbox


class ContainerSandbox(Sandbox):
    """A sandbox whose kernel runs in a container (see the module's docstring)."""

    backend: ClassVar[str] = "container"
    own_uid: ClassVar[bool] = True  # as root the kernel runs as a uid of its own (--user)

    def __init__(self, config: SandboxConfig | None = None) -> None:
        super().__init__(config)
        self._container: tuple[str, str] | None = None  # (engine, container name) once launched
        self._channel.signal_in_status = True
        self._gvisor = False

    def launch_argv(self, launch_spec: Path) -> list[str]:
        setup = container_setup(self.config)
        _orphans_removed(setup["engine"])
        name = "rlm-" + self._host_dir.name.removeprefix("rlm-host-")
        box = dict(setup, name=name, owner=os.getpid(),
                   engine_env={k: os.environ[k] for k in ENGINE_ENV if k in os.environ})
        box_path = self._host_dir / "container.json"
        box_path.write_text(json.dumps(box))
        self._container = (setup["engine"], name)
        self._gvisor = Path(setup["runtime"] or "-").name == "runsc"
        return [sys.executable, "-s", "-P", "-m", "sandbox.container_launch", str(launch_spec), str(box_path)]

    def _kernel_pid(self) -> int | None:
        """The kernel's pid on the host: the child of the container's init (None under gVisor,
        whose kernel runs the sandbox's processes inside its own: what the host sees there is
        gVisor, whose limits are not the kernel's to change)."""
        if self._container is None or self._gvisor:
            return None
        engine, name = self._container
        probe = subprocess.run([engine, "inspect", "--format", "{{.State.Pid}}", name], capture_output=True,
                               text=True, check=False, env=engine_env())
        init = probe.stdout.strip()
        if probe.returncode != 0 or not init.isdigit() or init == "0":
            return None
        try:
            children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def _raise_memory(self, needed: int) -> None:
        super()._raise_memory(needed)
        if self._container is None:
            raise PermissionError("no container")
        engine, name = self._container
        done = subprocess.run([engine, "update", "--memory", str(needed), "--memory-swap", str(needed), name],
                              capture_output=True, check=False, env=engine_env())
        if done.returncode != 0:
            raise OSError(f"{engine} update: {done.stderr.decode(errors='replace').strip()[:300]}")

    def _shutdown_kernel(self) -> None:
        if self._container is not None:
            remove_container(*self._container)
        super()._shutdown_kernel()


@functools.lru_cache(maxsize=4)
def _orphans_removed(engine: str) -> int:
    """Once a process: the containers of dead hosts removed (see `remove_orphans`)."""
    return remove_orphans(engine)


def container_setup(config: SandboxConfig) -> dict[str, Any]:
    """The engine, runtime, image and Python a container of `config` runs with; SandboxError
    saying why when there is none that works here."""
    # checked again here: a configuration is a dataclass, its fields may be set after its own
    # check ran
    problem = container_names_problem(config)
    if problem:
        raise SandboxError(problem)
    return dict(_setup(config.container_image, config.container_python, config.container_runtime))


@functools.lru_cache(maxsize=8)
def _setup(image: str | None, python: str | None, runtime: str) -> tuple[tuple[str, Any], ...]:
    engine = engine_path()
    if engine is None:
        raise SandboxError("the container backend needs Podman (Debian: apt install podman runc)")
    if image is None:
        from sandbox.container_image import ensure_image

        image = ensure_image(engine)
    python = python or sys.executable
    if runtime == "auto":
        candidates = ["", *(r for r in ("runc", "crun") if shutil.which(r, path=SYSTEM_PATH))]
    else:
        candidates = [runtime]
    errors = []
    for candidate in candidates:
        why = _probe(engine, candidate, image, python)
        if why is None:
            return (("engine", engine), ("runtime", candidate), ("image", image), ("python", python),
                    ("cgroup_controllers", _controllers(engine)))
        errors.append(f"{candidate or 'the default runtime'}: {why}")
    raise SandboxError(f"{Path(engine).name} cannot run the sandbox's container here: " + "; ".join(errors))


def runtime_options(runtime: str, network_isolation: bool = True) -> list[str]:
    """The engine's options that pick `runtime` ("" the engine's default). gVisor's runsc is
    told to make no network of its own (it refuses to run otherwise in a host's network
    namespace) and to let the kernel use the Unix sockets of its mounts (its own ipc sockets
    and the host's in the work directory, the only read-write mount)."""
    if not runtime:
        return []
    options = [f"--runtime={runtime}"]  # one word: a value never read as an option of its own
    if Path(runtime).name == "runsc":
        options += ["--runtime-flag", f"network={'none' if network_isolation else 'host'}",
                    "--runtime-flag", "host-uds=all"]
    return options


def _controllers(engine: str) -> list[str]:
    """The cgroup controllers the engine can use for this user (rootless Podman on cgroup v1,
    or without a delegated v2 group, has none: its --memory and --pids-limit do nothing)."""
    try:
        out = subprocess.run([engine, "info", "--format", "{{json .Host.CgroupControllers}}"], capture_output=True,
                             text=True, timeout=60, check=False, env=engine_env())
        found = json.loads(out.stdout) if out.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    return [c for c in found if isinstance(c, str)] if isinstance(found, list) else []


def _probe(engine: str, runtime: str, image: str, python: str) -> str | None:
    """Why a container of `image` cannot run `python` with `runtime` here (None: it can)."""
    argv = [engine, *runtime_options(runtime), "run", "--rm", "--pull", "never",
            "--network", "none", "--log-driver", "none", *lowered_ulimits({}), "--", image, python, "-c", "pass"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=120, check=False, env=engine_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else f"exit status {done.returncode}"


def lowered_ulimits(limits: dict[str, int]) -> list[str]:
    """`--ulimit` options: the configuration's limits (the process and open-file limits, which
    an engine would otherwise raise, 1024 where not given: raising needs a capability a host
    may not give), each no higher than this process's own hard limit."""
    import resource

    wanted = {"core": (resource.RLIMIT_CORE, 0)}
    for key, name, rlim in (("cpu_seconds", "cpu", resource.RLIMIT_CPU),
                            ("memory_bytes", "data", resource.RLIMIT_DATA),
                            ("file_bytes", "fsize", resource.RLIMIT_FSIZE),
                            ("open_files", "nofile", resource.RLIMIT_NOFILE),
                            ("processes", "nproc", resource.RLIMIT_NPROC)):
        value = limits.get(key)
        if value:
            wanted[name] = (rlim, value)
        elif name in ("nofile", "nproc"):
            wanted[name] = (rlim, 1024)
    out = []
    for name, (rlim, value) in wanted.items():
        ceiling = resource.getrlimit(rlim)[1]
        top = value + 5 if name == "cpu" else value  # SIGXCPU first, then the kill (as the launcher)
        if ceiling != resource.RLIM_INFINITY:
            value, top = min(value, ceiling), min(top, ceiling)
        out += ["--ulimit", f"{name}={value}:{top}"]
    return out


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why the container backend cannot run a kernel here with the default settings (None: it can)."""
    try:
        container_setup(SandboxConfig())
    except SandboxError as exc:
        return str(exc)
    return None
