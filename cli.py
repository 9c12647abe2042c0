"""The `rlm` command: thin wrappers over the controller (rlm/) and the sandbox.

Exit codes: 0 answered; 1 an error (one clear line on stderr); 2 a usage error (typer);
3 a budget ended the run (the partial answer, if any, is still printed); 130 interrupted.
Set RLM_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from rlm.terminal_text import SafeConsole, ascii_json, say

app = typer.Typer(
    help="Recursive language models over huge contexts, in an isolated Python kernel.\n\n"
    "Examples:\n\n"
    "  rlm query logs/ -q \"Which service failed first, and why?\" --model gpt-5-mini\n\n"
    "  rlm eval generate sniah --length 32k --n 20 -o tasks/\n\n"
    "  rlm sandbox check",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(help="Inspect the sandbox that runs model-written code.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

# every line for people goes through these (or `say`): model and corpus text cannot reach the
# terminal with its control characters (rlm/terminal_text.py)
console = SafeConsole()
err_console = SafeConsole(stderr=True)


def _print_json(value: object) -> None:
    """The one serializer behind every --json."""
    _print_json_text(json.dumps(value, indent=2, ensure_ascii=True, default=str))


def _print_json_text(text: str) -> None:
    """A JSON text on stdout, exact, with no byte a terminal acts on (non-ASCII as \\u escapes)."""
    print(ascii_json(text))


# set by a command run with --json: its errors are also printed on stdout as a JSON object, so
# that a script reading stdout always gets one
_json_errors = False


def _positive(param: typer.CallbackParam, value: float | None) -> float | None:
    """Option callback: a number that is not positive and finite (-5, 0, nan, inf) is a usage
    error (exit 2, one line), never a budget or a size that means something else."""
    if value is not None and not 0 < value < math.inf:
        _fail(f"{param.opts[0]} must be a positive number, not {value}", code=2)
    return value


def _fail(message: str, exc: BaseException | None = None, code: int = 1) -> NoReturn:
    """Exit with one clear line; with RLM_DEBUG=1 set, re-raise the cause with its traceback."""
    if exc is not None and os.environ.get("RLM_DEBUG"):
        raise exc
    message = getattr(exc, "cli_message", None) or message
    _say_error(message, code)
    raise typer.Exit(code)


def _say_error(message: str, code: int) -> None:
    if _json_errors:
        _print_json_text(json.dumps({"status": "error", "error": message, "exit_code": code}))
    # one line whatever the width, and the message's own brackets are not rich markup
    err_console.print(Text("error: ", style="red") + Text(message), soft_wrap=True, highlight=False)


def _file_system_words(exc: OSError) -> str:
    """An OSError no command expected (a place to write that is a file, a full or read-only
    disk) in one line: what the system said, and of which path."""
    from rlm.writable import why_not_a_directory

    if exc.filename is None:
        return exc.strerror or str(exc) or type(exc).__name__
    name = os.fsdecode(exc.filename)
    if isinstance(exc, IsADirectoryError):
        return f"{name} is a directory, not a file"
    reason = why_not_a_directory(Path(name), exc)
    return f"{reason}: {name}" if " is a file" not in reason else reason


@sandbox_app.command("check")
def sandbox_check(
    policy: str = typer.Option("restricted", help="Policy to check: restricted or trusted."),
    sandbox: str = typer.Option("auto", "--sandbox", help="The sandbox backend to check (auto: this host's best)."),
    check_all: bool = typer.Option(False, "--all", help="Check every sandbox backend, one after the other."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any isolation layer is unavailable."),
) -> None:
    """Start a sandbox, print its isolation report and run a smoke test.

    Examples:

      rlm sandbox check --json

      rlm sandbox check --all              # every backend: what each one isolates here
    """
    from sandbox import SandboxConfig, SandboxError, backend_names
    from sandbox.check import CheckResult, run_check

    names = backend_names() if check_all else [sandbox]
    results: list[CheckResult | None] = []
    for name in names:
        try:
            results.append(run_check(SandboxConfig(policy=policy, backend=name)))  # type: ignore[arg-type]
        except (SandboxError, ValueError) as exc:
            if not check_all:
                _fail(str(exc), exc)
                return
            results.append(None)
            if not as_json:
                err_console.print(Text(f"backend {name}: ", style="red") + Text(str(exc)), soft_wrap=True)
    if as_json:
        dicts = [r.as_dict() if r is not None else {"backend": n, "error": "could not start"}
                 for n, r in zip(names, results, strict=True)]
        _print_json({"backends": dicts} if check_all else dicts[0])
    for result in results:
        if result is None or as_json:
            continue
        table = Table(title=f"sandbox isolation (backend: {result.report.backend}, policy: {result.report.policy})")
        table.add_column("layer")
        table.add_column("state")
        table.add_column("detail", overflow="fold")
        for layer in result.report.layers:
            state = "[green]active[/green]" if layer.active else "[yellow]unavailable[/yellow]"
            table.add_row(layer.layer, state, Text(layer.detail))
        console.print(table)
        for item in result.smoke:
            mark = "[green]ok[/green]  " if item["ok"] else "[red]FAIL[/red]"
            console.print(f"{mark} {item['check']}")
    if any(r is None or not r.smoke_ok for r in results):
        _fail("the smoke test failed" if all(r is not None for r in results) else "a backend could not start")
    if strict and not all(r is not None and r.report.complete for r in results):
        _fail("some isolation layers are unavailable")


EXIT_BUDGET = 3
EXIT_INTERRUPTED = 130


@app.command("query")
def query(
    paths: list[str] = typer.Argument(..., metavar="PATH...", show_default=False,
                                      help="Files, directories or globs ('**' recurses) to ask about; - reads stdin."),
    question: str = typer.Option(..., "--question", "-q", show_default=False, help="The question to answer."),
    model: str = typer.Option(None, "--model", "-m",
                              help="Root model (default: $RLM_MODEL, then rlm.toml). `local` runs a small model on "
                                   "this machine, fetched on first use (no key, no server; weak)."),
    sub_model: str = typer.Option(None, "--sub-model",
                                  help="Model for llm_query and sub-runs "
                                       "(default: $RLM_SUB_MODEL, else the root model)."),
    base_url: str = typer.Option(None, "--base-url",
                                 help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL, else OpenAI). "
                                      "The key comes from $OPENAI_API_KEY."),
    sub_base_url: str = typer.Option(None, "--sub-base-url",
                                     help="Endpoint for sub-calls, e.g. a local vLLM (default: $RLM_SUB_BASE_URL, "
                                          "else --base-url)."),
    allow_model: list[str] = typer.Option(None, "--allow-model", metavar="NAME[=MODEL]",
        help="Another model that llm_query(..., model=NAME) may call (repeatable); NAME=MODEL names one "
             "(`--allow-model judge=o3`: code says judge, the endpoint gets o3, usage is counted as judge). "
             "Model code may name only these, --model and --sub-model."),
    max_iterations: int = typer.Option(None, "--max-iterations", min=1, help="Model turns per run (default 30)."),
    max_depth: int = typer.Option(None, "--max-depth", min=1,
                                  help="Levels of recursive runs; 1 = rlm_query is a plain sub-call (default 1)."),
    max_cost: float = typer.Option(None, "--max-cost", callback=_positive, help="Budget in USD for the whole run."),
    max_tokens: int = typer.Option(None, "--max-tokens", min=1, help="Budget in tokens for the whole run."),
    max_wall: float = typer.Option(None, "--max-wall", callback=_positive, help="Budget in seconds of wall time."),
    max_sub_calls: int = typer.Option(None, "--max-sub-calls", min=1,
        help="Budget of sub-calls (llm_query prompts and sub-runs)."),
    runs_dir: str = typer.Option(None, "--runs-dir",
        help="Where trajectories go (default: ~/.rlm/runs, or $RLM_HOME/runs)."),
    config_file: str = typer.Option(None, "--config",
        help="An rlm.toml to read instead of ./rlm.toml or ~/.rlm/rlm.toml."),
    notes: str = typer.Option(None, "--notes", help="Notes store directory (default: one per corpus in "
                                                   "~/.rlm/notes, found again by the same files)."),
    no_notes: bool = typer.Option(False, "--no-notes", help="Neither read nor write notes; leave no trace."),
    no_notes_turn: bool = typer.Option(False, "--no-notes-turn",
                                       help="Read notes, but skip the extra turn that writes new ones."),
    hidden: bool = typer.Option(False, "--hidden", help="Read hidden files and directories too (names with a '.')."),
    no_ignore: bool = typer.Option(False, "--no-ignore", help="Read what .gitignore / .ignore files exclude too."),
    sandbox: str = typer.Option(None, "--sandbox", metavar="NAME",
        help="The sandbox backend that runs the model's code (default: auto, this host's best; "
             "`rlm sandbox check --all` shows what each one isolates)."),
    no_extract: bool = typer.Option(False, "--no-extract",
        help="Do not read documents (PDF, Word, PowerPoint, Excel, OpenDocument, EPUB, HTML, e-mail, "
             ".gz/.bz2/.xz/.zst, zip and tar) as text: binary ones are left out, HTML and mail read as they are."),
    no_cache: bool = typer.Option(False, "--no-cache",
        help="Send every request to the endpoint, even one made before (see `rlm cache`)."),
    session: str = typer.Option(None, "--session", metavar="NAME",
        help="Ask in the session NAME over the same files: the variables and answers of its earlier asks "
             "are kept (see `rlm chat`); a new name starts one."),
    mcp: list[str] = typer.Option(None, "--mcp", metavar="CMD",
        help="An MCP server to start (a command line, run over stdio; repeatable): its tools become functions "
             "the model's code can call. They run with your rights, outside the sandbox."),
    schema_file: str = typer.Option(None, "--schema", metavar="FILE",
        help="A JSON Schema the answer must fit: the model is told it, an answer that does not fit is "
             "refused, and the checked answer is printed as JSON."),
    as_json: bool = typer.Option(False, "--json",
        help="Print answer, status, usage, cost, run id and trajectory path as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each turn's code and output (on stderr)."),
) -> None:
    """Answer a question about files far larger than the model's window.

    The model explores the files with code in a sandboxed Python kernel and asks sub-models
    about the parts that matter. The answer goes to stdout; progress to stderr.

    Examples:

      rlm query report.txt -q "List every date mentioned, in order." --model gpt-5-mini

      rlm query app.log -q "How many ERROR lines?" --model local

      rlm query 'src/**/*.py' -q "Where is the retry logic?" --json

      rlm query ~/papers/ -q "Which paper reports the lowest error rate, and on what page?"

      cat big.log | rlm query - -q "What failed first?" --base-url http://localhost:8000/v1 --model qwen3

      rlm query logs/ -q "Which services log errors?" --session incident   # then ask on:

      rlm query logs/ -q "Of those, which failed first?" --session incident

      rlm query orders.csv -q "Totals per region" --schema totals.schema.json
    """
    from rlm.inputs import Context

    global _json_errors
    _json_errors = as_json
    schema = _schema_from(schema_file) if schema_file else None
    rlm, context = _open_rlm(
        paths, notes=notes, no_notes=no_notes, hidden=hidden, no_ignore=no_ignore, no_extract=no_extract,
        sandbox=sandbox, config_file=config_file, runs_dir=runs_dir,
        settings=dict(model=model, sub_model=sub_model, base_url=base_url, sub_base_url=sub_base_url,
                      models=_models_option(allow_model), max_iterations=max_iterations, max_depth=max_depth,
                      max_cost_usd=max_cost, max_tokens=max_tokens, max_wall_s=max_wall, max_sub_calls=max_sub_calls,
                      notes_turn=False if no_notes_turn else None, cache=False if no_cache else None),
        mcp_servers=mcp or None)
    kept = context.value if isinstance(context, Context) and context.spooled else None
    if session is not None:
        def ask(on_event):  # noqa: ANN001, ANN202
            with rlm.session(context, name=session) as opened:
                return opened.ask(question, on_event=on_event, schema=schema)

        _run_and_report(rlm, ask, as_json, verbose, kept=kept)
        return
    _run_and_report(rlm, lambda on_event: rlm.completion(context, question, on_event=on_event, schema=schema),
                    as_json, verbose, kept=kept)


def _schema_from(path: str) -> dict:
    """The JSON Schema in file `path` (a usage error when it cannot be read or checked)."""
    from rlm import ConfigError
    from rlm.typed_answers import AnswerSchema

    try:
        with open(path, "rb") as f:
            data = f.read(8 << 20)
        schema = json.loads(data)
    except OSError as exc:
        _fail(f"cannot read the schema {path}: {_file_system_words(exc)}", code=2)
    except ValueError as exc:
        _fail(f"{path} is not JSON: {exc}", code=2)
    if not isinstance(schema, dict):
        _fail(f"{path} holds no JSON Schema (a JSON object)", code=2)
    try:
        AnswerSchema(schema)
    except ConfigError as exc:
        _fail(f"{path}: {exc}", code=2)
    return schema


def _models_option(values: list[str] | None) -> list[str] | dict[str, dict[str, str]] | None:
    """`--allow-model` values: plain names as a list; with any NAME=MODEL, named models (on the
    sub-model's endpoint; endpoints and keys of their own come only from rlm.toml or the API)."""
    if not values:
        return None
    if not any("=" in v for v in values):
        return list(values)
    named: dict[str, dict[str, str]] = {}
    for value in values:
        name, _, model = value.partition("=")
        if not name.strip() or ("=" in value and not model.strip()):
            _fail(f"--allow-model takes NAME or NAME=MODEL, not {value!r}", code=2)
        named[name.strip()] = {"model": model.strip()} if model.strip() else {}
    return named


def _open_rlm(paths: list[str], *, notes: str | None, no_notes: bool, hidden: bool, no_ignore: bool,
              no_extract: bool, sandbox: str | None, config_file: str | None, runs_dir: str | None,
              settings: dict, mcp_servers: list[str] | None = None):  # noqa: ANN202 - (RLM, the context)
    """The RLM and the context that `rlm query` and `rlm chat` build from their options (a
    usage error or a refused setting ends the command with its one line)."""
    import dataclasses
    import warnings
    from pathlib import Path

    from rlm import RLM, RLMError
    from rlm.config import resolve
    from rlm.inputs import expand_paths
    from sandbox.context import WalkOptions

    if notes and no_notes:
        _fail("give --notes DIR or --no-notes, not both", code=2)
    if "-" in paths and sys.stdin.isatty():
        _fail("'-' reads the text to ask about from standard input, which is this terminal: pipe it in "
              "(cat big.log | rlm query - -q ...) or give files", code=2)
    try:
        walk = WalkOptions(hidden=hidden, ignore_files=not no_ignore, documents=not no_extract)
        with warnings.catch_warnings():  # what rlm.toml could not set is said once, by RLM() below
            warnings.simplefilter("ignore")
            config_path = Path(config_file) if config_file else None
            runs = resolve({"runs_dir": runs_dir}, config_path).effective_runs_dir
        # standard input and a FIFO are kept next to the runs, so that a run over them can resume
        context = expand_paths(paths, walk=walk, spool_dir=runs) if paths else None
        # not named: the library's one rule (rlm.notes.default_notes_dir) picks the corpus's store
        notes_setting = False if no_notes else Path(notes).expanduser() if notes else None
        rlm = RLM(**settings, runs_dir=runs_dir, notes=notes_setting, config_file=config_path, mcp_servers=mcp_servers)
    except KeyboardInterrupt:
        _fail("interrupted while reading the input", code=EXIT_INTERRUPTED)
    except RLMError as exc:
        _fail(str(exc), exc)
    if hidden or no_ignore or no_extract:
        rlm.config.sandbox = dataclasses.replace(rlm.config.sandbox, hidden_files=hidden, ignore_files=not no_ignore,
                                                 extract_documents=not no_extract)
    if sandbox is not None:
        from sandbox import SandboxError
        from sandbox.backend import backend_name

        try:
            rlm.config.sandbox = dataclasses.replace(rlm.config.sandbox, backend=sandbox)
            backend_name(rlm.config.sandbox)
        except (SandboxError, ValueError) as exc:
            _fail(str(exc), code=2)
    return rlm, context


@app.command("chat")
def chat(
    paths: list[str] = typer.Argument(None, metavar="[PATH...]", show_default=False,
                                      help="Files, directories or globs to ask about (left out: those of --session)."),
    session: str = typer.Option(None, "--session", "-s", metavar="NAME",
        help="The session's name: an existing one is continued (its variables replayed), a new one started."),
    model: str = typer.Option(None, "--model", "-m", help="Root model (default: $RLM_MODEL, then rlm.toml)."),
    sub_model: str = typer.Option(None, "--sub-model", help="Model for llm_query and sub-runs."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (key: $OPENAI_API_KEY)."),
    max_iterations: int = typer.Option(None, "--max-iterations", min=1, help="Model turns per question."),
    max_cost: float = typer.Option(None, "--max-cost", callback=_positive, help="Budget in USD per question."),
    max_wall: float = typer.Option(None, "--max-wall", callback=_positive, help="Budget in seconds per question."),
    runs_dir: str = typer.Option(None, "--runs-dir", help="Where trajectories and sessions go."),
    config_file: str = typer.Option(None, "--config", help="An rlm.toml to read instead of the usual."),
    no_notes: bool = typer.Option(False, "--no-notes", help="Neither read nor write notes."),
    sandbox: str = typer.Option(None, "--sandbox", metavar="NAME", help="The sandbox backend (default: auto)."),
    mcp: list[str] = typer.Option(None, "--mcp", metavar="CMD",
        help="An MCP server whose tools the model's code may call (repeatable; runs with your rights)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Send every request to the endpoint."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each turn's code and output."),
) -> None:
    """Ask question after question about the same files in one session: loaded once, the
    kernel's variables and the earlier answers kept between questions.

    Type a question per line; /cost, /vars, /history, /save FILE, /help, /quit.

    Examples:

      rlm chat logs/ --session incident --model gpt-5-mini

      rlm chat --session incident          # continue it later, the same files

      printf 'How many ERROR lines?\\nWhich came first?\\n' | rlm chat app.log --model local
    """
    from rlm import RLMError
    from rlm.frontends.chat import Chat

    if not paths and not session:
        _fail("give the files to ask about, or --session NAME to continue a session", code=2)
    settings = dict(model=model, sub_model=sub_model, base_url=base_url, max_iterations=max_iterations,
                    max_cost_usd=max_cost, max_wall_s=max_wall, cache=False if no_cache else None)
    if paths and "-" in paths:
        _fail("rlm chat reads its questions from standard input: give files to ask about, not -", code=2)
    rlm, context = _open_rlm(paths or [], notes=None, no_notes=no_notes, hidden=False, no_ignore=False,
                             no_extract=False, sandbox=sandbox, config_file=config_file, runs_dir=runs_dir,
                             settings=settings, mcp_servers=mcp or None)
    try:
        opened = rlm.session(context, name=session)
    except RLMError as exc:
        _fail(str(exc), exc)
    with opened:
        code = Chat(opened, err_console, verbose=verbose).run()
    raise typer.Exit(code)


def _run_and_report(rlm, run, as_json: bool, verbose: bool, kept: Path | None = None) -> None:  # noqa: ANN001
    """Run `run(on_event)` (`rlm`: an RLM) under the live status line; print the answer (or the
    result as JSON) and the summary; exit with the run's status (what `rlm query` and `rlm runs
    resume` share). `kept`: standard input's spool file, said where it stays for a resume."""
    global _json_errors
    from rlm import RLMError
    from rlm.events import Status
    from rlm.frontends.display import RunDisplay, summary_line

    display = RunDisplay(err_console, verbose=verbose)
    try:
        with display:
            result = run(display.on_event)
    except KeyboardInterrupt:
        where = ""
        if display.root_run_id and rlm.config.trajectory:
            where = f"; trajectory {rlm.config.effective_runs_dir / (display.root_run_id + '.jsonl')}"
        _say_kept(kept)
        _fail(f"interrupted{where}", code=EXIT_INTERRUPTED)
    except RLMError as exc:
        _fail(str(exc), exc)
    if as_json:
        _print_json(result.as_dict())
        _json_errors = False  # the result object above says how it ended
    elif result.answer is not None:
        say(result.answer)
        _say_sources(result)
    err_console.print(summary_line(result), style="dim", highlight=False, soft_wrap=True)
    _say_kept(kept)
    if result.status in (Status.MODEL_ERROR, Status.SANDBOX_ERROR):
        _fail(f"{result.status}: {result.error}")
    if result.status == Status.CANCELLED:
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.status != Status.OK:
        partial = "partial answer above" if result.answer is not None else "no answer"
        _fail(f"stopped by the {result.status} budget ({partial})", code=EXIT_BUDGET)


def _say_sources(result) -> None:  # noqa: ANN001 - an rlm.RunResult
    """The answer's evidence under it: each passage it rests on, where it is and its quote, as
    the host checked it. After a typed answer (JSON to pipe on), on standard error."""
    from rlm.evidence import evidence_lines

    if not result.evidence:
        return
    out = sys.stderr if result.value_json is not None else None
    say("", file=out)
    say(f"Sources (each checked against the context, byte for byte): {len(result.evidence)}", file=out)
    for line in evidence_lines(result.evidence):
        say(f"  {line}", file=out)


def _say_kept(spool: Path | None) -> None:
    """Where piped input stays while its run can be resumed (it may be large)."""
    if spool is not None and spool.exists():
        size = spool.stat().st_size
        err_console.print(Text(f"the piped input is kept for `rlm runs resume`: {spool} ({size / 2**20:,.1f} MiB); "
                               "it goes when the run answers; delete it to give up the resume"),
                          style="dim", highlight=False, soft_wrap=True)


runs_app = typer.Typer(
    help="Look at earlier runs through their trajectories (~/.rlm/runs by default).\n\n"
    "Example:\n\n  rlm runs list && rlm runs show 20261122T021000-ab12cd34",
    no_args_is_help=True,
)
app.add_typer(runs_app, name="runs")
RunsDirOption = typer.Option(None, "--runs-dir",
    help="Where trajectories are (default: ~/.rlm/runs or $RLM_HOME/runs).")


def _runs_dir(runs_dir: str | None):  # noqa: ANN202 - a Path
    from pathlib import Path

    from rlm import user_dir

    path = Path(runs_dir).expanduser() if runs_dir else user_dir() / "runs"
    if path.exists() and not path.is_dir():
        _fail(f"{path} is a file, not a directory of runs" + ("" if runs_dir else " (see RLM_HOME)"))
    return path


@runs_app.command("list")
def runs_list(runs_dir: str = RunsDirOption,
              n: int = typer.Option(20, "-n", min=1, help="How many runs, newest first."),
              children: bool = typer.Option(False, "--children", help="Include child runs of rlm_query."),
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List recent runs: id, status, turns, tokens, cost and question.

    Example:

      rlm runs list -n 5
    """
    from rlm.pricing import cost_text
    from rlm.trajectory import list_runs

    runs = list_runs(_runs_dir(runs_dir), n, include_children=children)
    if as_json:
        _print_json(runs)
        return
    if not runs:
        err_console.print(f"no runs in {_runs_dir(runs_dir)}")
        return
    # one line per run at any width: the figures never wrap, the question takes what is left
    # and ends in an ellipsis (--json has it whole)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=True, padding=(0, 1),
                  collapse_padding=True)
    table.add_column("run id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for col in ("turns", "tokens", "cost"):
        table.add_column(col, no_wrap=True, justify="right")
    table.add_column("question", no_wrap=True, overflow="ellipsis", ratio=1)
    for r in runs:
        question = " ".join(str(r.get("query") or "").split())
        table.add_row(r["run_id"], str(r["status"]), str(r["iterations"]), _compact(int(r["tokens"])),
                      cost_text(r["cost_usd"]), Text(question))
    console.print(table)


def _compact(n: int) -> str:
    """1234 -> 1,234; 1234567 -> 1.23M: a figure that fits a narrow column."""
    return f"{n:,}" if n < 100_000 else f"{n / 1e6:.2f}M" if n < 1e9 else f"{n / 1e9:.2f}G"


@runs_app.command("resume")
def runs_resume(
    run_id: str = typer.Argument(..., metavar="RUN_ID", help="The run (a unique prefix or suffix will do)."),
    max_iterations: int = typer.Option(None, "--max-iterations", callback=_positive,
                                       help="Raise the turn budget the run stopped at."),
    max_cost: float = typer.Option(None, "--max-cost", callback=_positive, help="A new cost budget in USD."),
    max_tokens: int = typer.Option(None, "--max-tokens", callback=_positive, help="A new token budget."),
    max_wall: float = typer.Option(None, "--max-wall", callback=_positive, help="A new wall-time budget in seconds."),
    max_sub_calls: int = typer.Option(None, "--max-sub-calls", callback=_positive, help="A new sub-call budget."),
    base_url: str = typer.Option(None, "--base-url", help="The endpoint the run used (default: $OPENAI_BASE_URL, "
                                 "else OpenAI); a run made against another one is refused, never sent your key."),
    sub_base_url: str = typer.Option(None, "--sub-base-url", help="The run's endpoint for sub-calls, if it had one."),
    runs_dir: str = RunsDirOption,
    config_file: str = typer.Option(None, "--config", help="An rlm.toml to read instead of the usual ones."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as `rlm query --json` does."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each turn's code and output (on stderr)."),
) -> None:
    """Continue a run that was interrupted (Ctrl-C, a crash) or stopped by a budget.

    The turns it completed are replayed with their recorded replies (no model is asked again), then
    it goes on live. Its files must be as they were. Its settings are the run's own (models,
    budgets, notes store), wherever the resume runs; a budget given here replaces the run's.
    Keys and endpoints come from you (options, the environment, rlm.toml), never from the run's
    record: a run made against an endpoint you do not name is refused.

    Examples:

      rlm runs resume 20261122T021000-ab12cd34

      rlm runs resume ab12cd34 --max-iterations 60 --json

      rlm runs resume ab12cd34 --base-url http://localhost:8000/v1
    """
    from pathlib import Path

    from rlm import RLM, RLMError
    from rlm.config import resolve
    from rlm.resume import recorded_settings

    global _json_errors
    _json_errors = as_json
    config_path = Path(config_file) if config_file else None
    try:  # the run's own model settings, found before the RLM is made (they are not optional)
        recorded = recorded_settings(resolve({"runs_dir": runs_dir}, config_path).effective_runs_dir, run_id)
        rlm = RLM(max_iterations=max_iterations, max_cost_usd=max_cost, max_tokens=max_tokens, max_wall_s=max_wall,
                  max_sub_calls=max_sub_calls, base_url=base_url, sub_base_url=sub_base_url, runs_dir=runs_dir,
                  config_file=config_path, **recorded)
    except RLMError as exc:
        _fail(str(exc), exc)
    _run_and_report(rlm, lambda on_event: rlm.resume(run_id, on_event=on_event), as_json, verbose)


@runs_app.command("show")
def runs_show(run_id: str = typer.Argument(..., metavar="RUN_ID", help="The run (a unique prefix or suffix will do)."),
              runs_dir: str = RunsDirOption,
              as_json: bool = typer.Option(False, "--json", help="Print the raw events as JSON lines.")) -> None:
    """Replay a run: each model reply, cell and sub-run, then the answer and totals.

    Example:

      rlm runs show 20261122T021000-ab12cd34
      rlm runs show ab12cd34            # the end (or the start) of an id is enough
    """
    from rlm import read_trajectory
    from rlm.evidence import evidence_from_dicts, evidence_lines
    from rlm.frontends.display import RunDisplay
    from rlm.pricing import cost_text
    from rlm.trajectory import summarise_run

    path = _run_path(run_id, runs_dir)
    if as_json:
        for event in read_trajectory(path):
            _print_json_text(json.dumps(event))
        return
    replay = RunDisplay(console, verbose=True, live=False)
    for event in read_trajectory(path):
        replay.on_event(event, replay.status)
    info = summarise_run(path)
    console.print(Text(f"status {info['status']} · {info['iterations']} turns · {info['tokens']:,} tokens · "
                       f"{cost_text(info['cost_usd'])}", style="bold"))
    if info.get("answer") is not None:
        console.print(Text(str(info["answer"])))
        for line in evidence_lines(evidence_from_dicts(info.get("evidence"))):
            console.print(Text(f"  {line}"))


def _run_path(run_id: str, runs_dir: str | None):  # noqa: ANN202 - a Path
    """The trajectory of RUN_ID (a unique prefix or suffix will do), or exit 1 with one line."""
    from rlm import RLMError
    from rlm.frontends.viewer import find_run_path

    try:
        return find_run_path(_runs_dir(runs_dir), run_id)
    except RLMError as exc:
        _fail(f"{exc} (rlm runs list shows them)", exc)


@runs_app.command("view")
def runs_view(run_id: str = typer.Argument(..., metavar="RUN_ID", help="The run (a unique prefix or suffix will do)."),
              runs_dir: str = RunsDirOption,
              output: str = typer.Option(None, "-o", "--output",
                  help="Write the page to this file, or as RUN_ID.html in this directory (default: RUN_ID.html "
                       "in the runs directory, then opened in a browser where there is one).")) -> None:
    """Write a run as one self-contained HTML page (no server, no network) and open it.

    The page shows the question, settings, answer and status; each turn's reply, code, output,
    errors and duration; every sub-call (collapsed, searchable, with tokens, latency and cost);
    child runs nested; notes loaded and written; and budget use over time. Secrets are redacted.

    Examples:

      rlm runs view 20261122T021000-ab12cd34

      rlm runs view ab12cd34 -o run.html
    """
    from pathlib import Path

    from rlm.frontends.viewer import write_run_html

    path = _run_path(run_id, runs_dir)
    out = Path(output) if output else path.with_suffix(".html")
    if out.is_dir():  # -o DIR: the page goes in it, under the run's name
        out = out / path.with_suffix(".html").name
    try:
        write_run_html(path, out)
    except OSError as exc:
        _fail(f"cannot write {out}: {_file_system_words(exc)}", exc)
    say(out)
    if output is None and _can_open_browser():
        import webbrowser

        webbrowser.open(out.resolve().as_uri())


def _can_open_browser() -> bool:
    """A graphical browser can open a page (not a text one that would take over the terminal)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("BROWSER"))


@runs_app.command("export")
def runs_export(run_id: str = typer.Argument(..., metavar="RUN_ID",
                                             help="The run (a unique prefix or suffix will do)."),
                runs_dir: str = RunsDirOption,
                fmt: str = typer.Option("official", "--format",
                    help="official: the JSONL log the official RLM implementation writes and its visualizer "
                         "reads; jsonl: this run's own events, then its sub-runs'."),
                output: str = typer.Option(None, "-o", "--output",
                                           help="Write to this file (default: stdout).")) -> None:
    """Export a run (and its sub-runs) in another format, secrets redacted.

    Examples:

      rlm runs export 20261122T021000-ab12cd34 --format official -o rlm_run.jsonl

      rlm runs export ab12cd34 --format jsonl | jq .event
    """
    from pathlib import Path

    from rlm.frontends.export import FORMATS, export_run

    if fmt not in FORMATS:
        _fail(f"--format is one of {', '.join(FORMATS)}", code=2)
    path = _run_path(run_id, runs_dir)
    lines = export_run(path, fmt)
    if output is None:
        for line in lines:
            _print_json_text(line)
        return
    try:
        with open(Path(output), "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
    except OSError as exc:
        _fail(f"cannot write {output}: {_file_system_words(exc)}", exc)
    err_console.print(f"wrote {output}")


notes_app = typer.Typer(
    help="Read and edit the notes that runs leave for later runs (memories and documents).\n\n"
    "Example:\n\n  rlm notes list --notes logs/.rlm",
    no_args_is_help=True,
)
app.add_typer(notes_app, name="notes")

NotesDirOption = typer.Option(None, "--notes", help="A file or directory you queried (its notes), or a store's "
                                                   "directory (default: ./.rlm if it exists).")


def _store(directory: str | None, *, must_exist: bool = True):
    from pathlib import Path

    from rlm.config import user_dir
    from rlm.notes import DEFAULT_DIR_NAME, NotesError, NotesStore, notes_dir_for

    if directory:
        path = Path(directory).expanduser()
        if not (path / "notes.db").exists() and path.exists():
            queried = notes_dir_for(path)  # a corpus: the store `rlm query` keeps for it
            if (queried / "notes.db").exists() or not must_exist:
                path = queried
    else:
        path = Path.cwd() / DEFAULT_DIR_NAME
        if must_exist and not (path / "notes.db").exists():
            stores = sorted((user_dir() / "notes").glob("*/notes.db"))
            listed = "; ".join(f"{_corpus_of(s.parent)} (--notes {s.parent})" for s in stores[:8])
            _fail("which notes? give --notes with a file or directory you queried, or a store"
                  + (f"; stores: {listed}" if stores else "; none yet (rlm query makes them)"))
    if must_exist and not (path / "notes.db").exists():
        _fail(f"no notes store at {path} (runs create one; or give --notes DIR)")
    try:
        return NotesStore(path)
    except NotesError as exc:
        _fail(str(exc), exc)


def _corpus_of(store) -> str:  # noqa: ANN001 - a Path
    """What a store under the user's notes directory is the notes of (its corpus.json)."""
    try:
        return ", ".join(json.loads((store / "corpus.json").read_text(encoding="utf-8"))["paths"][:2])
    except (OSError, ValueError, KeyError, TypeError):
        return store.name


def _entry_row(e) -> dict:
    return {"id": e.id, "kind": e.kind, "status": e.status, "title": e.title, "text": e.text,
            "created": e.created, "updated": e.updated, "source_run": e.source_run,
            "source_query": e.source_query, "supersedes": e.supersedes, "superseded_by": e.superseded_by,
            "provenance": e.provenance, "tags": e.tags}


def _print_entries(entries: list, as_json: bool) -> None:
    if as_json:
        _print_json([_entry_row(e) for e in entries])
        return
    if not entries:
        err_console.print("(no notes)")
        return
    table = Table(show_lines=False)
    for col in ("id", "kind", "status", "created", "text"):
        table.add_column(col, overflow="fold")
    for e in entries:
        text = (e.title + ": " if e.title else "") + " ".join(e.text.split())
        table.add_row(str(e.id), e.kind, e.status, e.created[:16], Text(text[:300]))
    console.print(table)


def _notes_call(fn, *args, **kwargs):
    from rlm.notes import NotesError

    try:
        return fn(*args, **kwargs)
    except NotesError as exc:
        _fail(str(exc), exc)


@notes_app.command("list")
def notes_list(
    notes: str = NotesDirOption,
    kind: str = typer.Option(None, "--kind", help="memory or doc."),
    all_: bool = typer.Option(False, "--all", help="Include superseded and forgotten notes."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List live notes (memories and documents).

    Example:

      rlm notes list --kind memory
    """
    if kind not in (None, "memory", "doc"):
        _fail("--kind is memory or doc", code=2)
    with _store(notes) as store:
        _print_entries(store.entries(kind, include_dead=all_), as_json)


@notes_app.command("show")
def notes_show(entry_id: int = typer.Argument(..., metavar="ID"), notes: str = NotesDirOption,
               as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show one note in full.

    Example:

      rlm notes show 12
    """
    with _store(notes) as store:
        e = _notes_call(store.get, entry_id)
        if as_json:
            _print_json(_entry_row(e))
            return
        console.print(Text(f"#{e.id} {e.kind} ({e.status}) created {e.created}, updated {e.updated}", style="bold"))
        console.print(Text(f"source: run {e.source_run}, question {e.source_query!r}; provenance {e.provenance}"))
        if e.supersedes or e.superseded_by:
            console.print(Text(f"supersedes {e.supersedes}; superseded by {e.superseded_by}"))
        if e.title:
            console.print(Text(e.title, style="bold"))
        console.print(Text(e.text))


@notes_app.command("search")
def notes_search(query_text: str = typer.Argument(..., metavar="QUERY"), notes: str = NotesDirOption,
                 k: int = typer.Option(10, "-k", min=1, help="How many results."),
                 as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Full-text search (BM25) over live notes.

    Example:

      rlm notes search "date format"
    """
    with _store(notes) as store:
        _print_entries([e for e, _ in store.search(query_text, k)], as_json)


@notes_app.command("edit")
def notes_edit(entry_id: int = typer.Argument(..., metavar="ID"), notes: str = NotesDirOption,
               text: str = typer.Option(None, "--text", help="The new text (default: open $EDITOR)."),
               reason: str = typer.Option("edited by the user", "--reason", help="Why (kept in the history).")) -> None:
    """Replace a note's text (the old version is kept and can be restored).

    Example:

      rlm notes edit 12 --text "Dates are day-first (DD/MM/YYYY)."
    """
    with _store(notes) as store:
        old = _notes_call(store.get, entry_id)
        if text is None:
            import click

            editor = _editor()
            try:
                edited = click.edit(old.text + "\n", editor=editor, require_save=True)
            except click.ClickException as e:  # the editor could not be started
                _fail(f"{e.format_message()} (set $VISUAL or $EDITOR, or pass --text)")
            text = (edited or "").strip()
            if not text or text == old.text.strip():
                _fail("no change made")
        new = _notes_call(store.edit, entry_id, text, reason)
        err_console.print(f"note {entry_id} replaced by {new.id}")


def _editor() -> str:
    """The editor `rlm notes edit` opens: $VISUAL or $EDITOR as the user set it (a script
    will do), else the system's on a terminal only, or exit with one line: the system's editor
    with no terminal to type in would wait for ever (vim on a pipe does)."""
    import shutil

    for name in (os.environ.get("VISUAL"), os.environ.get("EDITOR")):
        if name and name.strip():
            return name  # the user's choice, arguments and all (click runs it through the shell)
    if not sys.stdin.isatty():
        _fail("no --text given, no $EDITOR set, and standard input is not a terminal to edit in: pass --text TEXT",
              code=2)
    for name in ("sensible-editor", "editor", "nano", "vim", "vi"):
        if shutil.which(name):
            return name
    _fail("no editor found: set $VISUAL or $EDITOR, or pass --text TEXT")


@notes_app.command("rm")
def notes_rm(entry_id: int = typer.Argument(..., metavar="ID"), notes: str = NotesDirOption,
             reason: str = typer.Option("removed by the user", "--reason", help="Why (kept in the history).")) -> None:
    """Forget a note (kept in the history; `rlm notes undo` restores it).

    Example:

      rlm notes rm 12 --reason "no longer true"
    """
    with _store(notes) as store:
        _notes_call(store.forget, entry_id, reason, run_id="user")
        err_console.print(f"note {entry_id} forgotten")


@notes_app.command("history")
def notes_history(entry_id: int = typer.Argument(None, metavar="[ID]"), notes: str = NotesDirOption,
                  as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every change to a note (and the notes it replaced), or to the whole store.

    Example:

      rlm notes history 12
    """
    with _store(notes) as store:
        changes = _notes_call(store.history, entry_id)
        if as_json:
            _print_json([vars(c) for c in changes])
            return
        table = Table()
        for col in ("change", "note", "action", "at", "run", "reason"):
            table.add_column(col, overflow="fold")
        for c in changes:
            table.add_row(str(c.id), str(c.entry_id), c.action, c.at, c.run_id or "", Text(c.reason or ""))
        console.print(table)


@notes_app.command("undo")
def notes_undo(change_id: int = typer.Argument(..., metavar="CHANGE"), notes: str = NotesDirOption) -> None:
    """Reverse one change listed by `rlm notes history` (an add, a forget or a replacement).

    Example:

      rlm notes undo 31
    """
    with _store(notes) as store:
        _notes_call(store.undo, change_id, run_id="user")
        err_console.print(f"change {change_id} undone")


@notes_app.command("export")
def notes_export(notes: str = NotesDirOption,
                 output: str = typer.Option(None, "-o", "--output",
                     help="Write to this file (default: stdout).")) -> None:
    """Export every note and the history as JSON.

    Example:

      rlm notes export -o notes.json
    """
    from pathlib import Path

    with _store(notes) as store:
        data = json.dumps(store.export(), indent=2, ensure_ascii=False)
    if output:
        Path(output).write_text(data + "\n", encoding="utf-8")
    else:
        _print_json_text(data)


@notes_app.command("import")
def notes_import(source: str = typer.Argument(..., metavar="FILE", help="An export (- for stdin)."),
                 notes: str = NotesDirOption) -> None:
    """Add the live notes of an export to this store (duplicates are skipped).

    Example:

      rlm notes import notes.json --notes other-project/.rlm
    """
    from pathlib import Path

    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = json.loads(raw)
    except OSError as exc:
        _fail(f"cannot read {source}: {_file_system_words(exc)}", exc)
    except ValueError as exc:
        _fail(f"cannot read {source}: {exc}", exc)
        return
    with _store(notes, must_exist=False) as store:
        added, skipped = _notes_call(store.import_, data)
    err_console.print(f"imported {added} notes; skipped {skipped} (duplicates or over budget)")


config_app = typer.Typer(
    help="Which rlm.toml files a run reads, and trusting a project's own.\n\n"
    "A run reads ~/.rlm/rlm.toml (or $RLM_HOME/rlm.toml), then ./rlm.toml. A ./rlm.toml is a "
    "project's file, often one you did not write (a cloned repository): until you trust it, it may "
    "only lower budgets and sizes; endpoints, keys, models, prices, paths and the sandbox table are ignored, "
    "and the run says so in one line.\n\n"
    "Example:\n\n  rlm config show && rlm config trust ./rlm.toml",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


def _project_toml(path: str | None) -> Path:
    target = Path(path).expanduser() if path else Path.cwd() / "rlm.toml"
    if target.is_dir():
        target = target / "rlm.toml"
    return target


@config_app.command("trust")
def config_trust(path: str = typer.Argument(None, help="The rlm.toml to trust (default: ./rlm.toml).")) -> None:
    """Trust a project's rlm.toml as it is now: it may then set every setting (endpoints, keys,
    models, prices, paths, the sandbox table). Any later edit of the file ends the trust.

    Example: rlm config trust ./rlm.toml
    """
    from rlm import RLMError
    from rlm.config import read_toml_raw, user_dir
    from rlm.trust import trust

    target = _project_toml(path)
    try:
        if not target.is_file():
            _fail(f"{ascii(str(target))[1:-1]} does not exist", code=2)
        data, digest = read_toml_raw(target)
        names = sorted(data)
        trust(target, digest, user_dir())
    except RLMError as exc:
        _fail(str(exc), exc)
    print(f"trusted {ascii(str(target.resolve()))[1:-1]} (sha256 {digest[:16]}...): it may set "
          f"{', '.join(names) or 'nothing yet'}")


@config_app.command("untrust")
def config_untrust(path: str = typer.Argument(None, help="The rlm.toml (default: ./rlm.toml).")) -> None:
    """Take back the trust of a project's rlm.toml.

    Example: rlm config untrust ./rlm.toml
    """
    from rlm import RLMError
    from rlm.config import user_dir
    from rlm.trust import untrust

    target = _project_toml(path)
    try:
        found = untrust(target, user_dir())
    except RLMError as exc:
        _fail(str(exc), exc)
    print(f"{ascii(str(target))[1:-1]}: {'no longer trusted' if found else 'was not trusted'}")


@config_app.command("show")
def config_show(config_file: str = typer.Option(None, "--config", help="An rlm.toml to read instead of the usual."),
                as_json: bool = typer.Option(False, "--json", help="Print the settings as JSON.")) -> None:
    """The settings a run here would use (secrets hidden), the rlm.toml files read, whether each
    is trusted, and what an untrusted one could not set.

    Example: rlm config show --json
    """
    import warnings

    from rlm import RLMError
    from rlm.config import config_files, read_files, read_toml_raw, resolve, user_dir
    from rlm.trust import trust_state

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = resolve({}, config_file)
        _, refused = read_files(config_file)
        files = []
        for path, own in config_files(config_file):
            trusted = own or trust_state(path, read_toml_raw(path)[1], user_dir())[0]
            files.append({"path": str(path), "trusted": trusted, "whose": "yours" if own else "project"})
    except RLMError as exc:
        _fail(str(exc), exc)
    ignored = [{"path": str(i.path), "needs_trust": i.needs_trust, "not_lowered": i.not_lowered} for i in refused]
    if as_json:
        _print_json({"files": files, "ignored": ignored, "settings": config.public_dict()})
        return
    for f in files:
        state = "trusted" if f["trusted"] else "NOT trusted"
        print(f"file: {ascii(f['path'])[1:-1]} ({f['whose']}, {state})")
    if not files:
        print("file: none (settings come from options, the environment and the defaults)")
    for i in refused:
        print(f"ignored: {i.message()}".encode("ascii", "backslashreplace").decode())
    for name, value in config.public_dict().items():
        print(f"{name} = {ascii(value)}" if isinstance(value, str) else f"{name} = {value!r}")


cache_app = typer.Typer(
    help="The call cache: model replies kept by request, so that asking again costs nothing.",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")


def _open_cache(config_file: str | None):  # noqa: ANN202 - a CallCache
    from rlm import RLMError
    from rlm.cache import CallCache
    from rlm.config import resolve

    try:
        config = resolve({}, config_file)
        path = config.cache_path
        if path is None:
            _fail("the call cache is off in the settings (cache = false)")
        return CallCache(path, config.cache_max_bytes)
    except RLMError as exc:
        _fail(str(exc), exc)
    except Exception as exc:  # noqa: BLE001 - sqlite3 or the file system: one line
        _fail(f"cannot open the call cache: {exc}")


CacheConfigOption = typer.Option(None, "--config", help="An rlm.toml to read instead of ./rlm.toml or ~/.rlm/rlm.toml.")


@cache_app.command("stats")
def cache_stats(config_file: str = CacheConfigOption,
                as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON.")) -> None:
    """Where the cache is, how many replies it holds, its size and bound, and its hits.

    Example: rlm cache stats
    """
    stats = _open_cache(config_file).stats()
    if as_json:
        _print_json(stats.as_dict())
        return
    say(f"{stats.path}: {stats.entries:,} replies, {stats.bytes / 2**20:,.1f} MiB of "
          f"{stats.max_bytes / 2**20:,.0f} MiB, {stats.hits:,} hits")


@cache_app.command("clear")
def cache_clear(config_file: str = CacheConfigOption) -> None:
    """Forget every stored reply.

    Example: rlm cache clear
    """
    say(f"removed {_open_cache(config_file).clear():,} replies")


@cache_app.command("prune")
def cache_prune(max_mib: float = typer.Option(None, "--max-mib", callback=_positive,
                                              help="Shrink to this size (default: the bound)."),
                config_file: str = CacheConfigOption) -> None:
    """Drop the least recently used replies until the cache is within its bound.

    Example: rlm cache prune --max-mib 200
    """
    cache = _open_cache(config_file)
    dropped = cache.prune(None if max_mib is None else max(1, int(max_mib * 2**20)))
    say(f"dropped {dropped:,} replies; {cache.stats().bytes / 2**20:,.1f} MiB left")


eval_app = typer.Typer(
    help="Long-context eval suites: generate tasks, run methods on them, report.\n\n"
    "Example:\n\n  rlm eval generate sniah --length 32k --n 50 -o tasks/ && "
    "rlm eval run tasks/ --method rlm,direct --model gpt-5-mini && rlm eval report tasks/results.jsonl -o report/",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")


@eval_app.command("list")
def eval_list() -> None:
    """List the suites, their variants and the methods.

    Example:

      rlm eval list
    """
    from evals import METHODS, SUITES

    table = Table(title="suites")
    for col in ("suite", "shape", "variants"):
        table.add_column(col, overflow="fold")
    for s in SUITES.values():
        table.add_row(s.name, s.shape, ", ".join(f"{v} (default)" if v in s.default else v for v in s.variants))
    console.print(table)
    console.print(f"methods: {', '.join(METHODS)}")


@eval_app.command("generate")
def eval_generate(
    suite: str = typer.Argument(..., help="sniah, oolong, pairs, multidoc or codeqa."),
    length: str = typer.Option("32k", "--length", "-l",
        help="Target length in tokens, k = 1024 like the paper's 2^13 ... 2^18: 8k, 32k, 2^18, 1m, 4096."),
    n: int = typer.Option(10, "--n", "-n", min=1, help="How many tasks."),
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same tasks."),
    variant: str = typer.Option(None, "--variant", help="One variant (default: the suite's mix; see rlm eval list)."),
    out: str = typer.Option(..., "-o", "--out", help="Directory for the tasks JSONL and its context files."),
    tokenizer: str = typer.Option("o200k_base", "--tokenizer",
        help="Counts the length: o200k_base (OpenAI's GPT-4o/GPT-5, shipped, offline), chars4 "
             "(characters / 4), or another tiktoken encoding (downloaded by tiktoken)."),
) -> None:
    """Generate tasks deterministically from a seed; each context holds 97-100% of --length
    tokens (measured; each task records its count and tokenizer).

    Example:

      rlm eval generate oolong --length 128k --n 20 --seed 1 -o tasks/
    """
    from pathlib import Path

    from evals import generate, parse_length, read_tasks
    from rlm import RLMError

    try:
        tokens = parse_length(length)
        with Progress(console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
            job = bar.add_task(f"{suite} {length}", total=n)
            path = generate(suite, tokens, n, seed, Path(out), variant,
                            progress=lambda done: bar.update(job, completed=done), tokenizer=tokenizer)
    except RLMError as exc:
        _fail(str(exc), exc)
        return
    err_console.print(f"wrote {n} task{'s' if n != 1 else ''} to {path}")
    capped = sum(1 for t in read_tasks(path) if t.meta.get("capped"))
    if capped:  # codeqa: the standard library holds only so much code
        err_console.print(f"note: {capped} task(s) hold less than {length} tokens: the source tree ran out "
                          "(meta.capped; their real size is in `tokens`)")


@eval_app.command("run")
def eval_run(
    tasks: str = typer.Argument(..., help="A tasks JSONL, or a directory of them."),
    method: str = typer.Option("rlm", "--method",
        help="Comma-separated: rlm, rlm-nosub, direct, summary, retrieval, codeact, codeact-sub."),
    model: str = typer.Option(None, "--model", "-m", help="The model (default: $RLM_MODEL)."),
    sub_model: str = typer.Option(None, "--sub-model",
        help="Sub-call model for rlm and codeact-sub, the compaction model of summary (default: --model)."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)."),
    sub_base_url: str = typer.Option(None, "--sub-base-url", help="Endpoint for sub-calls."),
    window: str = typer.Option("128000", "--window",
        help="Context window in tokens assumed by the baselines (k = 1024: 128k is 131,072)."),
    tokenizer: str = typer.Option("o200k_base", "--tokenizer",
        help="Counts the window's tokens: o200k_base, chars4, or another tiktoken encoding."),
    judge_model: str = typer.Option(None, "--judge-model",
        help="Grade multidoc answers with this model as judge (BrowseComp's grader prompt, on --base-url); "
             "exact match is kept beside it. Default: exact match only."),
    max_iterations: int = typer.Option(30, "--max-iterations", min=1, help="Turns per rlm run (and per codeact loop)."),
    max_cost: float = typer.Option(None, "--max-cost", callback=_positive,
                                   help="USD budget per rlm run (and per codeact loop)."),
    max_wall: float = typer.Option(None, "--max-wall", min=1.0, callback=_positive,
        help="Seconds per rlm run (then it stops and answers)."),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Tasks run at once (local processes)."),
    ray: str = typer.Option(None, "--ray", help="Run on a Ray cluster at this address instead; 'local' starts one here "
                                         "(pip install 'rlm-sandbox\\[ray]')."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N tasks."),
    out: str = typer.Option(None, "-o", "--out",
        help="Results JSONL (default: results.jsonl beside the tasks); re-runs skip finished pairs."),
    keep_failed: bool = typer.Option(False, "--keep-failed",
        help="Count failed pairs (endpoint down, crash) as done instead of retrying them."),
) -> None:
    """Run methods on tasks; one results line per task x method, resumable.

    A re-run skips the pairs that have a result made with the same settings (model, endpoint,
    budgets, --window...) and retries those that failed; rows made with other settings are kept
    apart, and the report labels them. Exits 1 if any pair failed.

    Example:

      rlm eval run tasks/ --method rlm,direct,retrieval --model gpt-5-mini --sub-model gpt-5-nano -w 4
    """
    from pathlib import Path

    from evals import MethodSettings, eval_config, parse_length, read_tasks, run_eval
    from evals.methods import check_methods
    from evals.tokens import tokenizer as load_tokenizer
    from rlm import RLMError

    path = Path(tasks)
    if not path.exists():
        _fail(f"no such file or directory: {tasks}")
    try:
        cfg = eval_config(model=model, sub_model=sub_model, base_url=base_url, sub_base_url=sub_base_url,
                          max_iterations=max_iterations, max_cost_usd=max_cost, max_wall_s=max_wall)
        methods = [m.strip() for m in method.split(",")]
        check_methods(methods)  # here, before the progress bar
        all_tasks = read_tasks(path)[:limit] if limit else read_tasks(path)
        total = len(all_tasks) * len(methods)
        try:
            window_tokens = parse_length(window)
        except RLMError as exc:  # '0' is no length at all: say what --window takes
            raise RLMError(f"--window: {exc}; a window holds at least 1,024 tokens (1k)") from exc
        settings = MethodSettings(cfg, window_tokens=window_tokens, tokenizer=tokenizer, judge_model=judge_model)
        load_tokenizer(tokenizer)  # an unknown name fails here, not in every pair
    except RLMError as exc:
        _fail(str(exc), exc)
        return
    results = Path(out) if out else (path if path.is_dir() else path.parent) / "results.jsonl"
    seen: list[dict] = []
    interrupted = False
    rows_before = _rows_in(results)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[stats]}"), console=err_console) as bar:
        job = bar.add_task("eval", total=total, stats="")

        from evals.runner import is_failed

        def on_result(row: dict) -> None:
            seen.append(row)
            mean = sum(r["score"] for r in seen) / len(seen)
            cost = sum(r.get("cost_usd") or 0 for r in seen)
            fails = sum(1 for r in seen if is_failed(r))  # a budget stop is a result, not a failure
            spent = "unpriced" if any(r.get("priced") is False for r in seen) else f"${cost:.4f}"
            bar.update(job, advance=1, stats=f"score {mean:.1f} · {spent} · {fails} failed")

        from evals.runner import todo_pairs

        _, finished = todo_pairs(all_tasks, methods, settings, results, keep_failed=keep_failed)
        bar.update(job, completed=finished)
        try:
            run_eval(path, methods, settings, results, workers=workers, ray_address=ray, limit=limit,
                     keep_failed=keep_failed, on_result=on_result)
        except (RLMError, RuntimeError) as exc:  # RuntimeError: Ray could not start or connect
            _fail(str(exc), exc)
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:  # said after the progress bar's last line, not above it; counted in the file,
        # which may hold a row the progress bar had not yet been told of
        _fail(f"interrupted: {_rows_in(results) - rows_before} new results kept in {results}; the same command "
              "again goes on from there", code=EXIT_INTERRUPTED)
    err_console.print(f"{len(seen)} new results in {results}")
    failed = [r for r in seen if is_failed(r)]
    if failed:
        first = str(failed[0].get("error") or failed[0].get("status"))
        _fail(f"{len(failed)} of {len(seen)} failed (the next run retries them; --keep-failed keeps them); "
              f"first: {first[:300]}")


def _rows_in(results: Path) -> int:
    from rlm import read_jsonl

    return sum(1 for _ in read_jsonl(results)) if results.exists() else 0


@eval_app.command("stream")
def eval_stream(
    tasks: str = typer.Argument(..., help="Tasks (a JSONL or a directory; several suites for dissimilar steps)."),
    n: int = typer.Option(20, "--n", "-n", min=2, help="Steps in the stream."),
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same stream."),
    model: str = typer.Option(None, "--model", "-m", help="The model (default: $RLM_MODEL)."),
    sub_model: str = typer.Option(None, "--sub-model", help="Sub-call model (default: --model)."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)."),
    out: str = typer.Option("stream.jsonl", "-o", "--out",
        help="Per-step results JSONL (the notes store goes beside it)."),
) -> None:
    """Continual learning: run a stream of similar / dissimilar / repeated tasks with notes
    persisted between them and without; print the gain per step and the memory tokens carried.

    Example:

      rlm eval stream tasks/ --n 50 --model gpt-5-mini -o stream.jsonl
    """
    from pathlib import Path

    from evals import MethodSettings, eval_config
    from evals.stream import run_stream, stream_report
    from rlm import RLMError

    if not Path(tasks).exists():
        _fail(f"no such file or directory: {tasks}")
    try:
        settings = MethodSettings(eval_config(model=model, sub_model=sub_model, base_url=base_url))
        with Progress(console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
            job = bar.add_task("stream (notes, then without)", total=2 * n)
            rows = run_stream(Path(tasks), n, settings, Path(out), seed=seed,
                              on_step=lambda row: bar.update(job, advance=1))
    except RLMError as exc:
        _fail(str(exc), exc)
        return
    say(stream_report(rows))


@eval_app.command("report")
def eval_report(
    results: str = typer.Argument(..., help="A results JSONL from rlm eval run."),
    out: str = typer.Option(..., "-o", "--out", help="Directory for report.md, summary.json and the PNG plots."),
    html: bool = typer.Option(False, "--html",
        help="Also write report.html: the table, the plots and each task linked to its run's page."),
) -> None:
    """Markdown table (score ± 95% interval, cost, tokens, failures) and score / cost plots.

    Example:

      rlm eval report tasks/results.jsonl -o report/ --html
    """
    from pathlib import Path

    from evals import make_report
    from rlm import RLMError

    if not Path(results).exists():
        _fail(f"no such file: {results}")
    try:
        md, pngs = make_report(Path(results), Path(out), html=html)
    except RLMError as exc:
        _fail(str(exc), exc)
        return
    say(md.read_text())
    written = [md, md.parent / "summary.json", *pngs]  # (pngs ends with report.html when --html)
    err_console.print("wrote " + ", ".join(str(p) for p in written))


@app.command("mcp")
def mcp_serve(
    root: list[str] = typer.Option(..., "--root", show_default=False,
        help="A directory the server may read (repeat for several). Paths outside every root are refused."),
    model: str = typer.Option(None, "--model", "-m", help="Root model (default: $RLM_MODEL, then rlm.toml)."),
    sub_model: str = typer.Option(None, "--sub-model",
                                  help="Model for llm_query and sub-runs (default: $RLM_SUB_MODEL)."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)."),
    sub_base_url: str = typer.Option(None, "--sub-base-url", help="Endpoint for sub-calls (default: --base-url)."),
    allow_model: list[str] = typer.Option(None, "--allow-model", metavar="NAME[=MODEL]",
        help="Another model that llm_query(..., model=NAME) may call (repeatable); NAME=MODEL names one "
             "(`--allow-model judge=o3`: code says judge, the endpoint gets o3, usage is counted as judge). "
             "Model code may name only these, --model and --sub-model."),
    max_iterations: int = typer.Option(None, "--max-iterations", min=1, help="Model turns per run (default 30)."),
    max_depth: int = typer.Option(None, "--max-depth", min=1, help="Levels of recursive runs (default 1)."),
    max_cost: float = typer.Option(None, "--max-cost", callback=_positive, help="Budget in USD per query."),
    max_tokens: int = typer.Option(None, "--max-tokens", min=1, help="Budget in tokens per query."),
    max_wall: float = typer.Option(None, "--max-wall", callback=_positive, help="Budget in seconds per query."),
    max_sub_calls: int = typer.Option(None, "--max-sub-calls", min=1, help="Budget of sub-calls per query."),
    runs_dir: str = typer.Option(None, "--runs-dir", help="Where trajectories go (default: ~/.rlm/runs)."),
    config_file: str = typer.Option(None, "--config",
                                    help="An rlm.toml to read instead of ./rlm.toml or ~/.rlm/rlm.toml."),
    notes: str = typer.Option(None, "--notes",
                              help="One notes store for every query (default: .rlm/ beside the files)."),
    no_notes: bool = typer.Option(False, "--no-notes", help="Neither read nor write notes."),
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP instead of stdio."),
    host: str = typer.Option("127.0.0.1", "--host", help="With --http: the address to listen on."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="With --http: the port (the endpoint is /mcp)."),
) -> None:
    """Serve RLM to MCP clients (Claude Desktop, Claude Code, Cursor, ...) over stdio or HTTP.

    Tools: query (answer a question about files under the roots), notes_list, notes_search,
    runs_list, runs_show. The roots and the model settings are the server's: a client can only
    lower a query's max_iterations and max_cost_usd.

    Examples:

      rlm mcp --root ~/projects/logs --model gpt-5-mini --sub-model gpt-5-nano

      rlm mcp --root /data --http --port 8765
    """
    from rlm import RLMError
    from rlm.frontends.mcp_server import ServerSettings, serve

    if notes and no_notes:
        _fail("give --notes DIR or --no-notes, not both", code=2)
    settings = ServerSettings(
        roots=root, config_file=config_file, notes=False if no_notes else notes,
        overrides={"model": model, "sub_model": sub_model, "base_url": base_url, "sub_base_url": sub_base_url,
                   "models": _models_option(allow_model),
                   "max_iterations": max_iterations, "max_depth": max_depth, "max_cost_usd": max_cost,
                   "max_tokens": max_tokens, "max_wall_s": max_wall, "max_sub_calls": max_sub_calls,
                   "runs_dir": runs_dir})
    try:
        serve(settings, http=http, host=host, port=port)
    except RLMError as exc:
        _fail(str(exc), exc)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Our warnings (an untrusted rlm.toml, a missing isolation layer) as one line on stderr,
    with control characters escaped (a path or a setting may carry them)."""
    text = str(message).encode("ascii", "backslashreplace").decode().replace("\n", " ")
    err_console.print(Text(f"warning: {text}", style="yellow"), soft_wrap=True, highlight=False)


def main() -> None:
    import warnings

    warnings.showwarning = _one_line_warning
    try:
        app()
    except OSError as exc:  # the file system refused something: one line, never a traceback
        if os.environ.get("RLM_DEBUG"):
            raise
        _say_error(_file_system_words(exc), 1)
        sys.exit(1)


if __name__ == "__main__":
    main()
