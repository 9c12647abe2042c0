"""The seam between the controller and a sandbox: `SandboxBackend`, the operations the
controller, the eval baselines and `rlm sandbox check` use on a sandbox, and the registry
that builds one by name (`SandboxConfig(backend=...)`, `rlm query --sandbox NAME`).

Adding a backend is one module plus one registration line:

    # my_backend.py
    from sandbox.host import Sandbox

    class MySandbox(Sandbox):          # the kernel on this machine, isolated my way
        backend = "mine"
        def launch_argv(self, launch_spec):
            return ["my-isolator", "--", sys.executable, "-m", "my_launch", str(launch_spec)]

    # one line, anywhere before the sandbox is opened
    register_backend("mine", "my_backend:MySandbox")

A backend that runs the kernel elsewhere implements `SandboxBackend` whole. Contexts and tool
requests travel over a Unix socket in the work directory as open files (see
`sandbox.host_requests`); a backend must carry that socket to its kernel.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from sandbox.config import SandboxConfig
from sandbox.context_reader import ContextReader
from sandbox.errors import SandboxError
from sandbox.results import ContextInfo, ExecResult, IsolationReport, Variables
from sandbox.tools import Tools


@runtime_checkable
class SandboxBackend(Protocol):
    """What the controller needs of a sandbox. Every method may be called from a worker
    thread; `interrupt` and `cancel` from any thread while a cell runs."""

    config: SandboxConfig

    def start(self) -> SandboxBackend:
        """Make the sandbox and start its kernel (load_context and add_tools start it too)."""

    def close(self) -> None:
        """Stop the kernel and everything it started; remove what the sandbox made. Idempotent."""

    def __enter__(self) -> SandboxBackend: ...

    def __exit__(self, *exc: object) -> None: ...

    def execute(self, code: str, timeout: float | None = None) -> ExecResult:
        """Run model code; every fault (timeout, crash, lost kernel) comes back in the result."""

    def interrupt(self) -> None:
        """Stop the running cell as its time limit would, without waiting."""

    def cancel(self) -> None:
        """Stop the running cell and refuse new ones (reading and close still work)."""

    def load_context(self, value: Any, name: str = "context", *, errors: str = "strict",
                     label: str | None = None,
                     progress: Callable[[int, int, str], None] | None = None) -> ContextInfo:
        """Load text, bytes, JSON-able data, a file, a folder or a list of files as `name`."""

    def picture(self, document: str, page: int | None = None) -> tuple[str, bytes]:
        """A picture or a PDF page of a loaded context, as (media type, bytes)."""

    def add_tools(self, tools: Tools) -> list[str]:
        """Install a tool set; returns the names it added to the model's namespace."""

    def variables(self) -> Variables:
        """The kernel's user variables: name, type, size."""

    def read_variable(self, name: str) -> str | None:
        """A variable's text (str() of non-strings), or None when there is none."""

    def preview(self, name: str = "context", chars: int = 1000) -> str | None:
        """The head of loaded context `name`, or None when no context has that name."""

    def answer_draft(self) -> str | None:
        """`answer["content"]` as model code left it, ready or not."""

    def answer_items(self, key: str) -> list[str] | None:
        """The items of the list in `answer[key]` as text (e.g. the answer's evidence), or None."""

    def reset_answer(self) -> None:
        """Clear `answer` (content None, ready False)."""

    def isolation(self) -> IsolationReport:
        """Which isolation layers are active, and why any is not."""

    def context_reader(self, name: str = "context") -> ContextReader | None:
        """Loaded text context `name` read on the host, as the kernel reads it (citations are
        checked against it); None when no text context has that name."""


BackendFactory = Callable[[SandboxConfig], SandboxBackend]

# name -> "module:attribute" of a factory, imported when first opened
_BUILTIN: dict[str, str] = {
    "launcher": "sandbox.host:Sandbox",
    "bubblewrap": "sandbox.bubblewrap:BubblewrapSandbox",
    "container": "sandbox.container:ContainerSandbox",
}
_registered: dict[str, BackendFactory | str] = {}


def register_backend(name: str, factory: BackendFactory | str) -> None:
    """Make `name` a backend: `factory` builds one from a SandboxConfig (a class or a
    callable), or names one as "module:attribute", imported when first used."""
    if not name.replace("-", "_").isidentifier():
        raise ValueError(f"a backend's name is a word (letters, digits, - and _), not {name!r}")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise TypeError("factory must be callable or a 'module:attribute' string")
    _registered[name] = factory


def backend_names() -> list[str]:
    """Every backend that can be named, built in and registered."""
    return sorted({*_BUILTIN, *_registered})


def default_backend() -> str:
    """What "auto" means on this host: the launcher as root (it drops to a uid of its own and
    sets cgroups), bubblewrap for a user without root when it works here (a minimal root and
    namespaces, which the launcher cannot make without root), else the launcher."""
    from sandbox.bubblewrap import usable_without_root

    return "bubblewrap" if usable_without_root() else "launcher"


def backend_name(config: SandboxConfig) -> str:
    """The backend `config` asks for, "auto" resolved; SandboxError for an unknown name."""
    name = default_backend() if config.backend == "auto" else config.backend
    if name not in _BUILTIN and name not in _registered:
        raise SandboxError(f"no sandbox backend named {name!r}; there are: {', '.join(backend_names())}")
    return name


def open_sandbox(config: SandboxConfig | None = None) -> SandboxBackend:
    """A sandbox of the backend `config.backend` names (not started: call `start()` or use
    it as a context manager; `load_context` starts it too)."""
    config = config or SandboxConfig()
    name = backend_name(config)
    factory = _registered.get(name) or _BUILTIN[name]
    if isinstance(factory, str):
        factory = _imported(factory)
    sandbox = factory(config)
    if not isinstance(sandbox, SandboxBackend):
        raise SandboxError(f"sandbox backend {name!r} built a {type(sandbox).__name__}, which lacks "
                           "operations of sandbox.backend.SandboxBackend")
    return sandbox


def _imported(target: str) -> BackendFactory:
    module, _, attribute = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise SandboxError(f"cannot load sandbox backend {target!r}: {exc}") from None
    if not callable(found):
        raise SandboxError(f"sandbox backend {target!r} is not callable")
    return found

