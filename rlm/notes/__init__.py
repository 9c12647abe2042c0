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
from rlm.writable import ensure_dir

DEFAULT_DIR_NAME = ".rlm"


def notes_dir_for(context: Any) -> Path:
    """Where `rlm query` keeps the notes of a corpus: in the user's rlm directory
    (<user_dir>/notes/), one store per corpus, named from its resolved location (a readable
    name and a hash of the resolved paths), so that the same files find their notes again
    whatever the working directory, and nothing is written where the user only asked to
    read. Text and standard input share one store, `stdin`."""
    import hashlib
    import re

    from rlm.config import user_dir

    if isinstance(context, Path):
        paths = [context]
    elif isinstance(context, (list, tuple)) and context and all(isinstance(p, Path) for p in context):
        paths = list(context)
    else:
        return user_dir() / "notes" / "stdin"
    resolved = sorted(str(p.expanduser().resolve()) for p in paths)
    digest = hashlib.sha256("\0".join(resolved).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = re.sub(r"[^\w.-]+", "_", Path(resolved[0]).name or "root")[:40].strip("._") or "corpus"
    return user_dir() / "notes" / f"{name}-{digest}"


def notes_dir_of_value(value: Any) -> Path:
    """The notes store of a run through the Python API with notes left at their default: a
    file, directory or list of paths has the same store as `rlm query` gives it
    (`notes_dir_for`); a value in memory (text, bytes, a list or dict) has a store of its own,
    named by a hash of its content, so runs over different corpora never read each other's
    memories or documents."""
    import hashlib
    import json

    from rlm.config import user_dir

    if isinstance(value, Path) or (isinstance(value, (list, tuple)) and value
                                   and all(isinstance(p, Path) for p in value)):
        return notes_dir_for(value)
    digest = hashlib.sha256()
    if isinstance(value, str):
        digest.update(value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, (bytes, bytearray)):
        digest.update(b"bytes\0" + bytes(value))
    else:
        digest.update(b"json\0" + json.dumps(value, sort_keys=True, default=repr).encode("utf-8", "surrogatepass"))
    return user_dir() / "notes" / f"text-{digest.hexdigest()[:16]}"


def default_notes_dir(value: Any, *, from_stdin: bool = False) -> Path:
    """The one rule for where a run's notes live when the user named no directory (the CLI,
    the MCP server and the Python API all ask here): standard input's runs share the `stdin`
    store; files and folders have their corpus's store (`notes_dir_for`, recorded in its
    `corpus.json` for `rlm notes`); a value in memory has a store of its own
    (`notes_dir_of_value`)."""
    if from_stdin:
        return notes_dir_for(None)
    directory = notes_dir_of_value(value)
    if isinstance(value, Path) or (isinstance(value, (list, tuple)) and value
                                   and all(isinstance(p, Path) for p in value)):
        record_corpus(directory, value)
    return directory


def record_corpus(directory: Path, context: Any) -> None:
    """Write `corpus.json` in a store made by `notes_dir_for`: which files it is the notes of
    (for `rlm notes` to list the stores and find one by its corpus)."""
    import json

    paths = [context] if isinstance(context, Path) else list(context) if isinstance(context, (list, tuple)) else []
    record = directory / "corpus.json"
    if record.exists():
        return
    ensure_dir(directory, "notes", setting="notes=DIR, or notes=False",
               option="--no-notes or --notes DIR, or set RLM_HOME")
    record.write_text(json.dumps({"paths": [str(Path(p).expanduser().resolve()) for p in paths] or ["<stdin>"]},
                                 indent=1), encoding="utf-8")


__all__ = [
    "DEFAULT_DIR_NAME",
    "Change",
    "Entry",
    "NotesError",
    "NotesRefused",
    "NotesSession",
    "NotesSettings",
    "NotesStore",
    "default_notes_dir",
    "estimate_tokens",
    "notes_dir_for",
    "notes_dir_of_value",
    "record_corpus",
]
