"""The root model's conversation, kept bounded.

Each turn adds the model's reply (kept) and an observation (what its code printed). In
"folded" mode only the latest observation is shown in full (capped); older ones shrink to a
one-line stub naming the kernel's `Out[n]` that still holds the text, unless they are shorter
than the stub would be. The "now" block (turn,
budget left, variables) is rebuilt for every call and placed last, never accumulated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox import ExecResult, cap_text

# an older observation this short is shown whole: its stub would be as long, and would hide the
# value (a printed count of 0 became "cell 1 printed 2 chars", and the model lost sight of it)
KEEP_WHOLE_CHARS = 400


@dataclass
class Observation:
    """What one turn produced: cell results, and notes from the controller (nudges...)."""

    cells: list[ExecResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _error_summary(error: str) -> str:
    lines = [ln for ln in error.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "error"


def render_full(obs: Observation, limit: int) -> str:
    parts: list[str] = []
    share = max(1000, limit // max(1, len(obs.cells))) if obs.cells else limit
    for r in obs.cells:
        body = r.stdout
        header = f"[cell {r.cell}] output"
        if r.truncated or len(body) > share:
            body, _ = cap_text(body, share)
            header += f" (cut; full text in Out[{r.cell}])"
        parts.append(f"{header}:\n{body.rstrip() if body.strip() else '(no output)'}")
        if r.error:
            err, _ = cap_text(r.error, 4000)
            parts.append(f"[cell {r.cell}] error:\n{err}")
        if r.restarted:
            parts.append(f"[cell {r.cell}] the kernel was restarted: variables other than the context were lost")
    parts.extend(obs.notes)
    return "\n\n".join(parts) if parts else "(nothing ran)"


def render_folded(obs: Observation, turn: int) -> str:
    items = []
    for r in obs.cells:
        item = f"cell {r.cell} printed {r.output_chars or len(r.stdout):,} chars (Out[{r.cell}])"
        if r.error:
            item += f" and failed: {_error_summary(r.error)}"
        items.append(item)
    items.extend(note.splitlines()[0][:160] for note in obs.notes)
    return f"[turn {turn} output folded: {'; '.join(items) if items else 'nothing ran'}]"


class History:
    """System prompt, first message, then (reply, observation) pairs."""

    def __init__(self, system: str, first_user: str, *, mode: str = "folded",
                 observation_chars: int = 20_000) -> None:
        self.system = system
        self.first_user = first_user
        self.mode = mode
        self.observation_chars = observation_chars
        self.replies: list[str] = []
        self.observations: list[Observation] = []

    def add_turn(self, reply: str, observation: Observation) -> None:
        self.replies.append(reply)
        self.observations.append(observation)

    def messages(self, now: str | None = None, extra_user: str | None = None) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}, {"role": "user", "content": self.first_user}]
        last = len(self.replies) - 1
        for i, (reply, obs) in enumerate(zip(self.replies, self.observations, strict=True)):
            msgs.append({"role": "assistant", "content": reply})
            text = render_full(obs, self.observation_chars)
            if self.mode != "full" and i != last and len(text) > KEEP_WHOLE_CHARS:
                text = render_folded(obs, i + 1)
            msgs.append({"role": "user", "content": text})
        tail = "\n\n".join(t for t in (now, extra_user) if t)
        if tail:
            msgs[-1] = {"role": "user", "content": msgs[-1]["content"] + "\n\n" + tail}
        return msgs
