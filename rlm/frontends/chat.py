"""`rlm chat`: a prompt loop over one session. Each line is a question asked in the session
(under the live status line); lines starting with `/` are commands:

    /cost      tokens and cost of the session's asks so far
    /vars      the kernel's variables now
    /history   the questions asked and how each ended
    /save FILE write the questions and answers to FILE (Markdown)
    /help      this list
    /quit      leave (so does end of input); the session stays saved, to continue by name

Answers go to stdout, everything else to stderr, all through the terminal-safe printers: a
model's or a corpus's text never reaches the terminal raw.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from rlm.errors import RLMError
from rlm.evidence import evidence_from_dicts, evidence_lines
from rlm.frontends.display import RunDisplay, summary_line
from rlm.pricing import cost_text
from rlm.results import RunResult
from rlm.session import Session
from rlm.terminal_text import say, visible

HELP = __doc__.split("commands:\n\n", 1)[1].split("\n\n", 1)[0] if __doc__ else ""


class Chat:
    """The loop's state: the session, what its asks cost so far, and where it prints."""

    def __init__(self, session: Session, console: Console, *, verbose: bool = False) -> None:
        self.session = session
        self.console = console  # stderr: prompts, status, command output
        self.verbose = verbose
        self.results: list[RunResult] = []

    def run(self, read: Callable[[str], str] = input) -> int:
        """Ask until /quit or the end of input; the exit code (130 after Ctrl-C at the prompt)."""
        prompt = "rlm> " if sys.stdin.isatty() else ""
        if prompt:
            with contextlib.suppress(ImportError):  # arrow keys and the history of earlier lines
                import readline  # noqa: F401
        self.note(f"session {self.session.name}: ask a question, or /help")
        while True:
            try:
                line = read(prompt).strip()
            except EOFError:
                return 0
            except KeyboardInterrupt:
                return 130
            if not line:
                continue
            if line.startswith("/"):
                if self.command(line) is False:
                    return 0
                continue
            self.ask(line)

    def ask(self, question: str) -> None:
        display = RunDisplay(self.console, verbose=self.verbose)
        try:
            with display:
                result = self.session.ask(question, on_event=display.on_event)
        except KeyboardInterrupt:
            self.note("interrupted: the session goes on (its kernel starts again, replaying the earlier "
                      "asks, at the next question)")
            return
        except RLMError as exc:
            self.note(f"error: {exc}")
            return
        self.results.append(result)
        if result.answer is not None:
            say(result.answer)
            for line in evidence_lines(result.evidence):
                say(f"  {line}")
        else:
            self.note(f"(no answer: {result.status})")
        self.console.print(summary_line(result), style="dim", highlight=False, soft_wrap=True)

    def command(self, line: str) -> bool:
        """Run one /command; False to leave."""
        name, _, arg = line.partition(" ")
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/help":
            self.note(HELP)
        elif name == "/cost":
            tokens = sum(r.usage.total.total_tokens for r in self.results)
            cost = sum(r.cost_usd for r in self.results)
            priced = all(r.priced for r in self.results)
            self.note(f"{len(self.results)} asks in this chat · {tokens:,} tokens · {cost_text(cost, priced)}")
        elif name == "/vars":
            variables = self.session.variables()
            if not variables:
                self.note("(no variables yet)")
            for v in variables:
                self.note(f"{v.name}  {v.type}  {v.size:,}")
        elif name == "/history":
            for number, a in enumerate(self.session.asks, 1):
                answer = (a.answer or f"({a.status})").splitlines()[0][:100] if (a.answer or a.status) else ""
                self.note(f"{number}. {a.question[:100]}  ->  {answer}")
        elif name == "/save":
            self.save(arg.strip())
        else:
            self.note(f"unknown command {name}; /help lists them")
        return True

    def save(self, where: str) -> None:
        path = Path(where or f"{self.session.name}.md").expanduser()
        lines = [f"# Session {self.session.name}\n"]
        for number, a in enumerate(self.session.asks, 1):
            answer = a.answer if a.answer is not None else f"(no answer: {a.status})"
            lines += [f"## {number}. {a.question}\n", answer]
            sources = evidence_lines(evidence_from_dicts(a.evidence), quote_chars=400)
            if sources:
                lines += ["\nSources:\n", *(f"- {line}" for line in sources)]
            lines.append(f"\n\n_{a.status} · run {a.run_id}_\n")
        try:
            path.write_text("\n".join(lines), encoding="utf-8")
        except OSError as exc:
            self.note(f"cannot write {path}: {exc.strerror or exc}")
            return
        self.note(f"saved {len(self.session.asks)} asks to {path}")

    def note(self, text: str) -> None:
        self.console.print(visible(text), highlight=False, soft_wrap=True, markup=False)
