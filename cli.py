"""The `rlm` command: thin wrappers over the sandbox (and, later, the controller and evals).

User errors exit 1 with one clear line; usage errors exit 2 (typer). Set RLM_DEBUG=1 to
see tracebacks.
"""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Recursive language models over huge contexts, in an isolated Python kernel.\n\n"
    "Example:\n\n  rlm sandbox check",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(help="Inspect the sandbox that runs model-written code.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

console = Console()
err_console = Console(stderr=True)


def _fail(message: str, exc: BaseException | None = None, code: int = 1) -> None:
    """Exit with one clear line; with RLM_DEBUG=1 set, re-raise the cause with its traceback."""
    if exc is not None and os.environ.get("RLM_DEBUG"):
        raise exc
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@sandbox_app.command("check")
def sandbox_check(
    policy: str = typer.Option("restricted", help="Policy to check: restricted or trusted."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any isolation layer is unavailable."),
) -> None:
    """Start a sandbox, print its isolation report and run a smoke test.

    Example:

      rlm sandbox check --json
    """
    from sandbox import SandboxConfig, SandboxError
    from sandbox.check import run_check

    try:
        result = run_check(SandboxConfig(policy=policy))  # type: ignore[arg-type]
    except (SandboxError, ValueError) as exc:
        _fail(str(exc), exc)
        return
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        table = Table(title=f"sandbox isolation (policy: {result.report.policy})")
        table.add_column("layer")
        table.add_column("state")
        table.add_column("detail", overflow="fold")
        for layer in result.report.layers:
            state = "[green]active[/green]" if layer.active else "[yellow]unavailable[/yellow]"
            table.add_row(layer.layer, state, layer.detail)
        console.print(table)
        for item in result.smoke:
            mark = "[green]ok[/green]  " if item["ok"] else "[red]FAIL[/red]"
            console.print(f"{mark} {item['check']}")
    if not result.smoke_ok:
        _fail("the smoke test failed")
    if strict and not result.report.complete:
        _fail("some isolation layers are unavailable")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
