"""The `rlm` command: thin wrappers over the controller (rlm/) and the sandbox.

Exit codes: 0 answered; 1 an error (one clear line on stderr); 2 a usage error (typer);
3 a budget ended the run (the partial answer, if any, is still printed); 130 interrupted.
Set RLM_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

app = typer.Typer(
    help="Recursive language models over huge contexts, in an isolated Python kernel.\n\n"
    "Examples:\n\n"
    "  rlm query logs/ -q \"Which service failed first, and why?\" --model gpt-5-mini\n\n"
    "  rlm sandbox check",
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
    # one line whatever the width, and the message's own brackets are not rich markup
    err_console.print(Text("error: ", style="red") + Text(message), soft_wrap=True, highlight=False)
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


EXIT_BUDGET = 3
EXIT_INTERRUPTED = 130


@app.command("query")
def query(
    paths: list[str] = typer.Argument(..., metavar="PATH...", show_default=False,
                                      help="Files, directories or globs ('**' recurses) to ask about; - reads stdin."),
    question: str = typer.Option(..., "--question", "-q", show_default=False, help="The question to answer."),
    model: str = typer.Option(None, "--model", "-m", help="Root model (default: $RLM_MODEL, then rlm.toml)."),
    sub_model: str = typer.Option(None, "--sub-model",
                                  help="Model for llm_query and sub-runs (default: $RLM_SUB_MODEL, else the root model)."),
    base_url: str = typer.Option(None, "--base-url",
                                 help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL, else OpenAI). "
                                      "The key comes from $OPENAI_API_KEY."),
    sub_base_url: str = typer.Option(None, "--sub-base-url",
                                     help="Endpoint for sub-calls, e.g. a local vLLM (default: $RLM_SUB_BASE_URL, "
                                          "else --base-url)."),
    max_iterations: int = typer.Option(None, "--max-iterations", min=1, help="Model turns per run (default 30)."),
    max_depth: int = typer.Option(None, "--max-depth", min=1,
                                  help="Levels of recursive runs; 1 = rlm_query is a plain sub-call (default 1)."),
    max_cost: float = typer.Option(None, "--max-cost", min=0.0, help="Budget in USD for the whole run."),
    max_tokens: int = typer.Option(None, "--max-tokens", min=1, help="Budget in tokens for the whole run."),
    max_wall: float = typer.Option(None, "--max-wall", min=0.0, help="Budget in seconds of wall time."),
    runs_dir: str = typer.Option(None, "--runs-dir", help="Where trajectories go (default: ~/.rlm/runs, or $RLM_HOME/runs)."),
    config_file: str = typer.Option(None, "--config", help="An rlm.toml to read instead of ./rlm.toml or ~/.rlm/rlm.toml."),
    as_json: bool = typer.Option(False, "--json", help="Print answer, status, usage, cost, run id and trajectory path as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each turn's code and output (on stderr)."),
) -> None:
    """Answer a question about files far larger than the model's window.

    The model explores the files with code in a sandboxed Python kernel and asks sub-models about the parts that matter. The answer goes to stdout; progress to stderr.

    Examples:

      rlm query report.txt -q "List every date mentioned, in order." --model gpt-5-mini

      rlm query 'src/**/*.py' -q "Where is the retry logic?" --json

      cat big.log | rlm query - -q "What failed first?" --base-url http://localhost:8000/v1 --model qwen3
    """
    from pathlib import Path

    from rlm import RLM, RLMError
    from rlm.display import RunDisplay, summary_line
    from rlm.inputs import expand_paths

    try:
        context = expand_paths(paths)
        rlm = RLM(model=model, sub_model=sub_model, base_url=base_url, sub_base_url=sub_base_url,
                  max_iterations=max_iterations, max_depth=max_depth, max_cost_usd=max_cost,
                  max_tokens=max_tokens, max_wall_s=max_wall, runs_dir=runs_dir,
                  config_file=Path(config_file) if config_file else None)
    except (RLMError, ValueError) as exc:
        _fail(str(exc), exc)
        return
    display = RunDisplay(err_console, verbose=verbose)
    try:
        with display:
            result = rlm.completion(context, question, on_event=display.on_event)
    except KeyboardInterrupt:
        where = ""
        if display.root_run_id and rlm.config.trajectory:
            where = f"; trajectory {rlm.config.effective_runs_dir / (display.root_run_id + '.jsonl')}"
        _fail(f"interrupted{where}", code=EXIT_INTERRUPTED)
        return
    except (RLMError, ValueError) as exc:
        _fail(str(exc), exc)
        return
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    elif result.answer is not None:
        print(result.answer)
    err_console.print(summary_line(result), style="dim", highlight=False, soft_wrap=True)
    if result.status in ("model_error", "sandbox_error"):
        _fail(f"{result.status}: {result.error}")
    if result.status == "cancelled":
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.status != "ok":
        partial = "partial answer above" if result.answer is not None else "no answer"
        _fail(f"stopped by the {result.status} budget ({partial})", code=EXIT_BUDGET)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
