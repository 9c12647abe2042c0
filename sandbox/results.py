"""Result types the sandbox returns: ExecResult, VariableInfo, ContextInfo, IsolationReport."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.attachments import Attachment


@dataclass
class ExecResult:
    """What one `execute` call did.

    stdout: the cell's output (prints and the last expression's value), capped.
    error: traceback text of the model's exception (capped), or a description of a timeout,
        a kernel crash or a lost connection to the kernel; None when the cell ran cleanly.
    timed_out: the cell ran past its time limit and was interrupted.
    restarted: the kernel was killed and restarted (contexts reloaded, other variables lost).
    truncated: stdout was cut (head and tail kept, with a marker saying how much was cut).
    duration_s: wall time of the call on the host.
    final: the final answer, when model code set `answer["ready"]` or called FINAL_VAR (cut
        at `sandbox.kernel.caps.FINAL_MAX_CHARS`).
    cell: the cell's number in the kernel (its full output is kept in `Out[cell]`).
    restored: reserved names that the cell overwrote and that were put back.
    output_chars: how many characters the cell printed in all, before any cut.
    """

    stdout: str = ""
    error: str | None = None
    timed_out: bool = False
    restarted: bool = False
    truncated: bool = False
    duration_s: float = 0.0
    final: str | None = None
    cell: int = 0
    restored: list[str] = field(default_factory=list)
    output_chars: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class VariableInfo:
    """A user variable in the kernel: its name, type name and size (len, or bytes)."""

    name: str
    type: str
    size: int


class Variables(list[VariableInfo]):
    """The first user variables of the kernel (at most the listing's limit); `total` is how
    many there are in all."""

    total: int = 0


@dataclass
class ContextInfo:
    """A context loaded into the kernel, described for the controller's prompt."""

    name: str
    type: str
    size: int
    description: str
    docs: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)  # files left out, by reason
    decoded: dict[str, str] = field(default_factory=dict)  # files not plain UTF-8: how they were read
    # documents read as text: files, formats, time, from the cache, what was cut or failed
    extraction: dict[str, Any] = field(default_factory=dict)


@dataclass
class IsolationLayer:
    """One OS isolation layer: whether it is active, and the details or the reason it is not."""

    layer: str
    active: bool
    detail: str


@dataclass
class IsolationReport:
    """Every isolation layer of a running sandbox, plus the policy in force and the backend
    that applied the layers."""

    policy: str
    layers: list[IsolationLayer]
    backend: str = "launcher"

    @property
    def complete(self) -> bool:
        return all(layer.active for layer in self.layers)

    def inactive(self) -> list[IsolationLayer]:
        return [layer for layer in self.layers if not layer.active]

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "backend": self.backend,
            "complete": self.complete,
            "layers": [vars(layer) for layer in self.layers],
        }

    def __str__(self) -> str:
        lines = [f"backend: {self.backend}", f"policy: {self.policy}"]
        for layer in self.layers:
            mark = "active     " if layer.active else "UNAVAILABLE"
            lines.append(f"{mark}  {layer.layer}: {layer.detail}")
        return "\n".join(lines)


@dataclass
class HostRequest:
    """A request from a tool helper in the kernel to its host handler (see `sandbox.tools`).

    `op` names the handler; `args` is what the helper sent (JSON); `cell` is the kernel cell
    that made the request; `fds` are files the helper sent with it (SCM_RIGHTS): open until
    the handler returns, then closed by the sandbox (read them by offset, do not keep them).
    """

    op: str
    args: dict[str, Any]
    cell: int
    fds: list[int] = field(default_factory=list)  # files sent with the request, open until it returns

    @property
    def attachments(self) -> list[Attachment]:
        """The files sent with the request, to size and copy (see `sandbox.attachments`)."""
        return [Attachment(fd) for fd in self.fds]
