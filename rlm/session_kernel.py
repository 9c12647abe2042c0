"""What a session lends each of its asks: one sandbox with the context loaded once (and the
kernel variables earlier asks made), the bounded record of earlier questions and answers the
next ask's first prompt names, and how to render that record.

`rlm/session.py` owns the session's life (asks, the file that survives a restart, replay);
`Run` (rlm/_run.py) borrows the sandbox from here instead of starting and closing its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox import ContextInfo, SandboxBackend

# the earlier asks the next ask's first prompt names (the newest), and how much of each
HISTORY_ASKS = 8
HISTORY_QUESTION_CHARS = 400
HISTORY_ANSWER_CHARS = 1_500


@dataclass
class EarlierAsk:
    """One earlier question of the session, how it ended, and the run that answered it."""

    question: str
    answer: str | None
    status: str
    run_id: str
    evidence: list[dict[str, Any]] = field(default_factory=list)  # rlm.Evidence.as_dict() of each


@dataclass
class SessionKernel:
    """The sandbox a session's asks share (None until the first ask starts it, and again after
    a cancel or a restart of the controller), what loading the context found, and the earlier asks."""

    session_id: str
    sandbox: SandboxBackend | None = None
    info: ContextInfo | None = None
    earlier: list[EarlierAsk] = field(default_factory=list)
    # earlier asks whose cells could not be run again in a new kernel (no trajectory): their
    # variables are gone, and the next prompt says so
    not_replayed: list[str] = field(default_factory=list)
    replayed: int = 0  # earlier asks run again into a new kernel before the current ask

    def drop_sandbox(self) -> SandboxBackend | None:
        """Forget the sandbox (the caller closes it): the next ask starts a new kernel."""
        sandbox, self.sandbox, self.info = self.sandbox, None, None
        return sandbox


def earlier_block(earlier: list[EarlierAsk], not_replayed: list[str] | None = None) -> str:
    """The first prompt's account of the session's earlier questions (the newest HISTORY_ASKS,
    each cut), or "" for the first ask. `not_replayed`: run ids of asks whose variables are lost."""
    if not earlier:
        return ""
    shown = earlier[-HISTORY_ASKS:]
    lines = [f"It continues a session: {len(earlier)} earlier question(s) were asked about the same "
             "context, in this same kernel. Every variable your code made then is still defined (the list "
             "of variables each turn shows them): reuse them where they help the new question."]
    if not_replayed:
        lines[0] = (f"It continues a session: {len(earlier)} earlier question(s) were asked about the same "
                    f"context. The kernel was restarted and the variables of {len(not_replayed)} of them are "
                    "gone (the list of variables each turn shows what is defined).")
    if len(shown) < len(earlier):
        lines.append(f"(the {len(earlier) - len(shown)} oldest are not shown)")
    for number, ask in enumerate(shown, start=len(earlier) - len(shown) + 1):
        answer = ask.answer if ask.answer is not None else f"(no answer: the ask ended with {ask.status})"
        lines.append(f"Earlier question {number}: {_cut(ask.question, HISTORY_QUESTION_CHARS)}")
        lines.append(f"Its answer: {_cut(answer, HISTORY_ANSWER_CHARS)}")
    return "\n".join(lines)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
