"""Notes that persist between runs: short memories every run keeps in its prompt, and a
documentation archive loaded into the kernel as `archive`.

    from rlm.notes import NotesStore
    with NotesStore(Path(".rlm")) as store:
        entry, created = store.remember("Dates in this corpus are day-first.", "learned in run 12")
        store.search("dates"), store.history(entry.id), store.undo(change_id)
"""

from pathlib import Path
from typing import Any

from rlm.notes.session import NotesSession, NotesSettings
from rlm.notes.store import Change, Entry, NotesError, NotesRefused, NotesStore, estimate_tokens

DEFAULT_DIR_NAME = ".rlm"


def notes_dir_for(context: Any) -> Path:
    """Where `rlm query` keeps notes for a corpus: `.rlm/` beside a file, inside a directory
    (hidden, so never read as part of the corpus), beside several files' common folder, and
    in the working directory for text or standard input."""
    import os

    if isinstance(context, Path):
        base = context if context.is_dir() else context.parent
    elif isinstance(context, (list, tuple)) and context and all(isinstance(p, Path) for p in context):
        base = Path(os.path.commonpath([str(p.resolve().parent) for p in context]))
    else:
        base = Path.cwd()
    return base.resolve() / DEFAULT_DIR_NAME


__all__ = [
    "DEFAULT_DIR_NAME",
    "Change",
    "Entry",
    "NotesError",
    "NotesRefused",
    "NotesSession",
    "NotesSettings",
    "NotesStore",
    "estimate_tokens",
    "notes_dir_for",
]
