"""Terminal rendering of a run (rich): the live status line and the --verbose transcript.

The only place that draws on a terminal; the controller itself only emits events. Every text
from a model, a corpus or a file name passes through `visible` here, whatever console the
caller gives (the CLI's is a `SafeConsole` besides).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from rlm.events import Kind
from rlm.pricing import cost_text
from rlm.results import RunResult, RunStatus
from rlm.terminal_text import visible

_VERBOSE_OUTPUT_CHARS = 3000


def status_line(s: RunStatus) -> Text:
    turn = f"turn {s.turn}/{s.max_turns}" if s.turn else "starting"
    calls = f"sub-calls {s.sub_calls_done:,} done, {s.sub_calls_in_flight:,} in flight"
    if s.sub_calls_queued:
        calls += f", {s.sub_calls_queued:,} queued"
    parts = [turn, calls]
    if s.cache_hits:
        parts.append(f"{s.cache_hits:,} from cache")
    if s.child_runs:
        parts.append(f"{s.child_runs} sub-runs")
    tokens = f"{s.tokens:,} tokens"
    if s.named_tokens:  # the named models' share, by name
        tokens += " (" + ", ".join(f"{name} {n:,}" for name, n in list(s.named_tokens.items())[:6]) + ")"
    parts += [tokens, cost_text(s.cost_usd, not s.unpriced), f"{s.elapsed_now():.1f} s", s.phase]
    return Text(" · ".join(parts), style="cyan")


def summary_line(result: RunResult) -> str:
    u = result.usage.total
    parts = [result.status, f"{result.iterations} turns", f"{result.sub_calls:,} sub-calls",
             f"{u.total_tokens:,} tokens", cost_text(result.cost_usd, result.priced), f"{result.wall_s:.1f} s"]
    if result.trajectory_path:
        parts.append(f"trajectory {result.trajectory_path}")
    return visible(" · ".join(parts))


class RunDisplay:
    """Receives a run's events (pass `on_event` to `RLM.completion`) and keeps a status line
    on `console` (a live one on a terminal); with `verbose`, prints each turn's code and output."""

    def __init__(self, console: Console, *, verbose: bool = False, live: bool | None = None) -> None:
        self.console = console
        self.verbose = verbose
        self.status = RunStatus()
        self.root_run_id: str | None = None
        self.trajectory: str | None = None
        use_live = console.is_terminal if live is None else live
        self._live = Live(console=console, refresh_per_second=4, transient=True,
                          get_renderable=self._render) if use_live else None

    def _render(self) -> Text:
        return status_line(self.status)

    def __enter__(self) -> RunDisplay:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def on_event(self, event: dict[str, Any], status: RunStatus) -> None:
        self.status = status
        if event.get("event") == Kind.RUN_START and event.get("depth") == 0 and self.root_run_id is None:
            self.root_run_id = event.get("run_id")
        if event.get("event") == Kind.CONTEXT_LOADED and not event.get("depth"):
            self._print_input_summary(event)
        if self.verbose:
            self._print_event(event)

    def _print_input_summary(self, event: dict[str, Any]) -> None:
        """One line on the input: the documents read as text (how many, of which formats, how
        long, how many from the cache, each one cut short or not read) and what was left out
        or read specially (--verbose: every file, and the readers' notes)."""
        skipped: dict[str, list[str]] = event.get("skipped") or {}
        decoded: dict[str, str] = event.get("decoded") or {}
        extraction: dict[str, Any] = event.get("extraction") or {}
        if not skipped and not decoded and not extraction:
            return
        parts = [f"{len(names):,} {reason}" for reason, names in skipped.items() if names]
        left_out = f"left out {sum(len(n) for n in skipped.values()):,} files ({', '.join(parts)})" if parts else ""
        replaced = sum(1 for how in decoded.values() if how.startswith("UTF-8"))
        other = len(decoded) - replaced
        read = [f"{replaced:,} with invalid UTF-8 read as U+FFFD" if replaced else "",
                f"{other:,} in UTF-16/32" if other else ""]
        line = "; ".join(x for x in [_extraction_text(extraction), left_out, ", ".join(r for r in read if r)] if x)
        hint = "" if self.verbose or not (skipped or decoded) else " (--verbose lists them)"
        self.console.print(Text(visible(f"input: {line}{hint}"), style="dim"), soft_wrap=True, highlight=False)
        if self.verbose:
            for reason, names in skipped.items():
                for name in names:
                    self.console.print(Text(visible(f"  {reason}: {name}"), style="dim"), highlight=False)
            for name, how in decoded.items():
                self.console.print(Text(visible(f"  {how}: {name}"), style="dim"), highlight=False)
            cut, failed = extraction.get("cut") or {}, extraction.get("failed") or {}
            for what, items in (("cut short", cut), ("not read", failed)):
                for name, why in items.items():
                    self.console.print(Text(visible(f"  {what}: {name}: {why}"), style="dim"), highlight=False)
            for note in extraction.get("notes") or []:
                self.console.print(Text(visible(f"  note: {note}"), style="dim"), highlight=False)
        for weak in extraction.get("weak_layers") or []:  # always said: the reader of hostile files is less isolated
            self.console.print(Text(visible(f"  document reader without {weak}"), style="yellow"), highlight=False)

    def _print_event(self, event: dict[str, Any]) -> None:
        kind, depth = event.get("event"), event.get("depth", 0)
        where = f"depth {depth} " if depth else ""
        if kind == Kind.MODEL_CALL and "reply" in event:
            prose = event["reply"].split("```", 1)[0].strip()
            title = Text(visible(f"{where}turn {event.get('turn')} · {event.get('model')} · "
                                 f"{event.get('latency_s', 0):.2f} s"))
            if prose:
                body = Text(visible(prose[:_VERBOSE_OUTPUT_CHARS]))
                self.console.print(Panel(body, title=title, border_style="blue"))
            else:
                self.console.rule(title, style="blue")
        elif kind == Kind.CELL:
            out = (event.get("stdout") or "").rstrip()
            if len(out) > _VERBOSE_OUTPUT_CHARS:
                out = out[:_VERBOSE_OUTPUT_CHARS] + f"\n... ({len(out) - _VERBOSE_OUTPUT_CHARS:,} more characters)"
            parts: list[Any] = [Syntax(visible(event.get("code", "")), "python", theme="ansi_dark", word_wrap=True)]
            if out:
                parts.append(Text(visible(out), style="dim"))
            if event.get("error"):
                parts.append(Text(visible(event["error"][-_VERBOSE_OUTPUT_CHARS:]), style="red"))
            self.console.print(Panel(Group(*parts), title=f"{where}cell {event.get('cell')} · "
                                     f"{event.get('duration_s', 0):.2f} s", border_style="green"))
        elif kind == Kind.CHILD_RUN:
            line = visible(f"{where}cell {event.get('cell')} started sub-run {event.get('child_run_id')}")
            self.console.print(Text(line, style="magenta"))
        elif kind == Kind.BUDGET_STOP:
            self.console.print(Text(visible(f"{where}budget spent: {event.get('budget')}"), style="yellow"))


def _extraction_text(summary: dict[str, Any]) -> str:
    """The documents read as text, for the input line ("" when none were)."""
    if not summary:
        return ""
    formats = ", ".join(f"{n:,} {fmt}" for fmt, n in (summary.get("formats") or {}).items())
    text = (f"read {summary.get('files', 0):,} document files as text in {summary.get('seconds', 0):.1f} s "
            f"({summary.get('cached', 0):,} from the cache): {formats or 'none'}; "
            f"{summary.get('documents', 0):,} documents")
    for what, items in (("cut short", summary.get("cut") or {}), ("could not read", summary.get("failed") or {})):
        if items:
            shown = ", ".join(f"{k}: {v}" for k, v in list(items.items())[:3])
            text += f"; {what} {len(items):,} ({shown}{', ...' if len(items) > 3 else ''})"
    return text
