"""What the loop does for the model where the fix is mechanical (docs/how-a-run-works.md):
the cell run again with a term of the question its filter left out (rlm/question_terms.py), or
with the value a borrowed one should have been (rlm/borrowed_mend.py); the pieces where a refused
answer's subject and the question's words meet, found in the output or the context, read anew in
a call that sees only them and the question; and that reading put in the place of the refused
answer when the model gives it again. Each runs the model's own cell, changed, in the sandbox,
and leaves the answer to the model and the answer checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rlm import prompts
from rlm.borrowed_mend import pointed_value, with_value
from rlm.counted_lines import MAX_CODE_CHARS
from rlm.errors import ModelError
from rlm.events import LoopCheckEvent
from rlm.loop_guards import looks_like_refusal
from rlm.protocol import parse_reply
from rlm.question_terms import term_mend
from rlm.run_handle import RunHandle
from rlm.unanchored import around_subject, lines_saying

if TYPE_CHECKING:
    from rlm.answer_checks import AnswerChecks, Objection
    from rlm.history import Observation
    from rlm.pattern_probe import ContextProbe
    from sandbox import ExecResult

__all__ = ["MAX_TERM_MENDS", "READING_CHARS", "Mends"]

READING_CHARS = 120  # the most of a fresh reading's answer that is offered
MAX_TERM_MENDS = 2  # cells run again with one term of the question, in a run


class MendingRun(RunHandle, Protocol):
    probe: ContextProbe | None
    checks: AnswerChecks
    seen: list[str]


def plain(answer: str) -> str:
    """`answer` as two spellings of one answer compare: its case, outer spaces, quotes and full stop left out."""
    return answer.strip().strip("`'\"").strip().rstrip(".").strip().casefold()


class Mends:
    """The mends of one run, and what they offered."""

    def __init__(self, run: MendingRun) -> None:
        self.run = run
        self.term_mends: dict[str, int] = {}  # a term of the question -> the cells run again with it
        self.readings: dict[str, str] = {}  # a refused answer (plain) -> the fresh reading offered against it

    async def term_cell(self, obs: Observation, code: str, turn: int, index: int) -> ExecResult | None:
        """Run `code` again with a term of the question its line filter left out (each term at
        most MAX_TERM_MENDS times a run), telling the model; the cell's result, or None."""
        run, probe = self.run, self.run.probe
        if probe is None or len(code) > MAX_CODE_CHARS:
            return None
        mend = await run.blocking(lambda: term_mend(code, run.query, probe.lines()))
        if mend is None or self.term_mends.get(mend.term, 0) >= MAX_TERM_MENDS:
            return None
        self.term_mends[mend.term] = self.term_mends.get(mend.term, 0) + 1
        added = await run.run_cell(mend.code, turn, index)
        obs.cells.append(added)
        run.checks.remember(mend.code, added.stdout)
        obs.notes.append(prompts.term_added(mend.term, mend.test, added.cell))
        run.emit(LoopCheckEvent(event="loop_check", turn=turn, check="term_added"))
        return added

    def read_instead(self, answer: str, turn: int) -> str:
        """The fresh reading offered against `answer`, where the model gives that refused answer
        again over it (a small model gave 36 twice more over a reading of 6 from its own printed
        'Warranty: 6 months'); the reading then meets the answer checks in its place. Else `answer`."""
        reading = self.readings.pop(plain(answer), None)
        if reading is None:
            return answer
        self.run.emit(LoopCheckEvent(event="loop_check", turn=turn, check="reading_taken"))
        return reading

    async def note_for(self, obs: Observation, turn: int, answer: str, objection: Objection) -> str:
        """The note on a refused `answer`: the objection's, with the context's pieces and a fresh
        reading where they are found, or the borrowed value's cell run again."""
        run, note, pieces = self.run, objection.note, objection.pieces
        probe = run.probe
        if objection.about is not None and not pieces and probe is not None:
            # no output shows where the subject and the question's words meet: the context's start may
            subject, words, following = objection.about
            pieces = tuple(await run.blocking(
                lambda: around_subject(subject, list(words), probe.text()) if subject
                else lines_saying(list(words), probe.lines(), following=following)))
            if pieces:
                note += "\n" + prompts.context_speaks(subject, list(pieces))
                run.seen.append("\n".join(pieces))  # the context's own text, now shown to the model
        if pieces:
            reading = await self._fresh_reading(pieces, turn)
            if reading is not None and plain(reading) != plain(answer):
                note += "\n" + prompts.fresh_reading(reading)
                self.readings[plain(answer)] = reading
        if objection.borrowed is not None:
            note = await self._replace_borrowed(obs, turn, *objection.borrowed) or note
        return note

    async def _replace_borrowed(self, obs: Observation, turn: int, value: str, subject: str) -> str | None:
        """Run the latest cell that searched for the borrowed `value` again with the value the
        lines naming `subject` point to (rlm/borrowed_mend.py), where there is one; the note
        that says so, or None."""
        run, probe = self.run, self.run.probe
        code = run.checks.code_holding(value)
        if code is None or probe is None:
            return None
        pointed = await run.blocking(lambda: pointed_value(value, subject, run.query, probe.lines()))
        mended = with_value(code, value, pointed.value) if pointed is not None else None
        if pointed is None or mended is None:
            return None
        result = await run.run_cell(mended, turn, len(obs.cells))
        obs.cells.append(result)
        run.checks.remember(mended, result.stdout)
        if result.final is not None:  # its answer is the model's to give, once it has read the output
            await run.blocking(run.sb.reset_answer)
        run.emit(LoopCheckEvent(event="loop_check", turn=turn, check="value_replaced"))
        return prompts.value_replaced(value, subject, pointed.value, pointed.line, result.cell)

    async def _fresh_reading(self, pieces: tuple[str, ...], turn: int) -> str | None:
        """What the model answers in a new call that shows it only the question and `pieces` (a
        small model gave the answer it had fixed on four times over, beside a printed line holding
        the right one); None where the call fails or gives no short answer."""
        run = self.run
        try:
            completion = await run.model_call(prompts.fresh_reading_messages(run.query, list(pieces)),
                                              f"reading {turn}", timeout_s=run.closing_timeout(), retries=1)
        except ModelError:
            return None
        reply = parse_reply(completion.text)
        said = (reply.final if reply.has_final and reply.final_kind == "text" else reply.visible) or ""
        said = said.strip().strip("`").strip()
        if not said or "\n" in said or len(said) > READING_CHARS or looks_like_refusal(said) \
                or said.upper().startswith("NONE"):
            return None
        run.emit(LoopCheckEvent(event="loop_check", turn=turn, check="fresh_reading"))
        return said
