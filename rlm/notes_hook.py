"""The notes life cycle of one run: open the store and install the notes tools (memories for
the prompt, the archive in the kernel), answer the kernel's note requests, and the extra
model turn at the end that writes notes for future runs. Only a root run with notes on has a
store; elsewhere the helpers still exist and say that they are off.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rlm.errors import ModelError
from rlm.events import NoteEvent, NotesErrorEvent, NotesLoadedEvent, NotesWrittenEvent
from rlm.notes import NotesSession
from rlm.notes.render import HELPERS
from rlm.protocol import parse_reply
from rlm.tools import notes_tools
from sandbox import HostRequest

if TYPE_CHECKING:
    from rlm.run_handle import RunHandle


class NotesHook:
    """Notes for `run` (a store only when the tree keeps notes and the run is the root)."""

    def __init__(self, run: RunHandle) -> None:
        self.run = run
        notes = run.tree.notes
        # only the root run reads and writes notes; children are sub-tasks of its question
        self.session = NotesSession(notes, run.run_id, run.query) if notes and run.depth == 0 else None
        self.block: str | None = None

    @property
    def helpers(self) -> str:
        """What the system prompt says of the notes helpers (nothing when notes are off)."""
        return HELPERS if self.session else ""

    async def open(self) -> None:
        """Open the store (if any) and install the notes tools in the run's sandbox."""
        run, session = self.run, self.session
        documents: list[dict[str, Any]] = []
        seconds = 0.0
        if session is not None:
            seconds = await asyncio.to_thread(session.open)
            self.block = session.prompt_block()  # rendered once: it is fixed for the run
            documents = session.archive_documents()
        await run.blocking(run.sb.add_tools, notes_tools(self.handle, documents))
        if session is not None:
            run.emit(NotesLoadedEvent(
                event="notes_loaded", directory=str(session.settings.directory),
                memories=len(session.memories), memory_tokens=session.memory_tokens_used,
                memory_ids=[m.id for m in session.memories], docs=len(session.docs),
                memory_texts=[m.text[:500] for m in session.memories],
                prompt_chars=len(self.block or ""), store_ms=round(seconds * 1000, 2)))

    def handle(self, request: HostRequest) -> Any:
        """On a bridge thread: hop onto the run's event loop."""
        return asyncio.run_coroutine_threadsafe(self._serve(request), self.run.tree.loop).result()

    async def _serve(self, request: HostRequest) -> Any:
        if self.session is None:
            if request.op == "archive_search":
                return []
            why = "notes are off for this run" if self.run.depth == 0 else "only the root run keeps notes"
            return {"id": None, "message": f"refused: {why}"}
        result = await asyncio.to_thread(self.session.handle, request.op, dict(request.args))
        if request.op != "archive_search":
            written = {k: str(request.args[k])[:2000] for k in ("text", "title", "reason")
                       if request.args.get(k) is not None}  # what was asked, for the run's record
            self.run.emit(NoteEvent(event="note", cell=request.cell, op=request.op, request=written,
                                    id=result.get("id"), message=result.get("message")))
        return result

    async def end_turn(self, status: str) -> None:
        """One more model turn: the model writes memories and docs for future runs."""
        run, session = self.run, self.session
        if session is None or not session.settings.end_turn or run.history is None:
            return
        if run.closing_timeout() <= 0:  # the wall budget and its grace are spent
            run.emit(NotesErrorEvent(event="notes_error", error="no time left for the notes turn (max_wall_s)"))
            return
        run.phase("writing notes")
        messages = run.history.messages(extra_user=session.end_prompt(status))
        try:
            # an optional turn after the answer: one retry, not a long back-off
            completion = await run.model_call(messages, "notes", retries=1, timeout_s=run.closing_timeout())
        except ModelError:
            return
        before = len(session.writes)
        for index, code in enumerate(parse_reply(completion.text).code):
            await run.run_cell(code, "notes", index)
        run.emit(NotesWrittenEvent(event="notes_written", writes=session.writes[before:]))

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
