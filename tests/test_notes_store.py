"""The notes store on a real SQLite file: budgets, dedupe, supersede and undo, search,
exchange, concurrent writers and a writer killed mid-write."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlm.notes import NotesError, NotesRefused, NotesStore


@pytest.fixture
def store(tmp_path):
    with NotesStore(tmp_path / ".rlm") as s:
        yield s


def test_remember_dedupes_on_normalised_text_and_keeps_the_original(store):
    first, created = store.remember("Dates in this corpus are day-first.", "seen in run 1", run_id="r1")
    again, created_again = store.remember("  dates in this corpus are DAY-FIRST  ", "seen again", run_id="r2")
    assert created and not created_again and again.id == first.id
    assert [e.id for e in store.memories()] == [first.id]
    assert store.get(first.id).text == "Dates in this corpus are day-first." and store.get(first.id).status == "live"
    assert [c.action for c in store.history(first.id)] == ["add"]


def test_a_memory_over_the_per_memory_budget_is_refused_with_what_to_do(tmp_path):
    with NotesStore(tmp_path, memory_chars=100) as s:
        with pytest.raises(NotesRefused) as exc:
            s.remember("x" * 101)
        assert "101 characters and the limit is 100" in str(exc.value)
        assert "document(title, text)" in str(exc.value)
        assert s.memories() == []


def test_the_total_memory_budget_refuses_the_next_write_not_silently_an_old_one(tmp_path):
    with NotesStore(tmp_path, memory_chars=400, memory_tokens=200) as s:
        kept = [s.remember(f"fact {i}: " + "y" * 300)[0] for i in range(2)]  # 77 tokens each
        with pytest.raises(NotesRefused) as exc:
            s.remember("fact 3: " + "z" * 300)
        message = str(exc.value)
        assert "hold 154 of 200 tokens and this one needs 77" in message and "revise(id, text, reason)" in message
        assert [e.id for e in s.memories()] == [e.id for e in kept]
        # replacing one within the budget still works: the old one's tokens are freed
        s.revise(kept[0].id, "fact 1, shorter", "merged")
        assert len(s.memories()) == 2


def test_revise_supersedes_and_undo_brings_the_old_version_back(store):
    old, _ = store.remember("The API key lives in config.yaml", run_id="r1")
    new = store.revise(old.id, "The API key lives in secrets.env", "config.yaml was wrong", run_id="r2")
    assert store.get(old.id).status == "superseded" and store.get(old.id).superseded_by == new.id
    assert new.supersedes == old.id and [m.id for m in store.memories()] == [new.id]
    history = store.history(new.id)
    assert [(c.entry_id, c.action, c.run_id) for c in history] == [
        (old.id, "add", "r1"), (old.id, "supersede", "r2"), (new.id, "add", "r2")]
    assert history[1].reason == "config.yaml was wrong" and history[1].before["status"] == "live"
    supersede = history[1].id
    store.undo(supersede, run_id="user")
    assert store.get(old.id).status == "live" and store.get(new.id).status == "forgotten"
    assert [m.id for m in store.memories()] == [old.id]
    assert store.history(old.id)[-1].action == "undo"


def test_forget_keeps_the_entry_and_undo_restores_it(store):
    e, _ = store.remember("temporary fact")
    store.forget(e.id, "no longer true", run_id="r3")
    assert store.memories() == [] and store.get(e.id).status == "forgotten"
    with pytest.raises(NotesRefused, match="already forgotten"):
        store.forget(e.id)
    forget_change = store.history(e.id)[-1]
    assert (forget_change.action, forget_change.run_id, forget_change.reason) == ("forget", "r3", "no longer true")
    store.undo(forget_change.id)
    assert [m.id for m in store.memories()] == [e.id]
    add_change = store.history(e.id)[0]
    store.undo(add_change.id)
    assert store.memories() == []


def test_undo_that_would_break_the_budget_is_refused(tmp_path):
    with NotesStore(tmp_path, memory_chars=400, memory_tokens=100) as s:
        a, _ = s.remember("a" * 300)
        s.forget(a.id)
        s.remember("b" * 300)
        with pytest.raises(NotesRefused, match="tokens"):
            s.undo(s.history(a.id)[-1].id)


def test_search_ranks_by_relevance_and_survives_odd_queries(store):
    store.document("Parsing dates", "Dates are DD/MM/YYYY; use datetime.strptime with %d/%m/%Y.")
    store.document("Counting errors", "grep ERROR lines; the logs rotate daily.")
    store.remember("The logs are in UTC.")
    hits = store.search("how are dates parsed", kind="doc")
    assert hits[0][0].title == "Parsing dates"
    assert store.search('dates" OR (broken') and store.search("***") == []
    assert sorted(e.kind for e, _ in store.search("logs")) == ["doc", "memory"]


def test_documents_have_their_own_budget_and_dedupe(tmp_path):
    with NotesStore(tmp_path, doc_chars=1000) as s:
        with pytest.raises(NotesRefused, match="1,001 characters and the limit is 1,000"):
            s.document("big", "x" * 1001)
        d, created = s.document("Method", "Split on blank lines.")
        same, created_again = s.document("method", "split on blank lines")
        assert created and not created_again and same.id == d.id


def test_export_and_import_round_trip_without_duplicates(tmp_path):
    with NotesStore(tmp_path / "a") as a:
        a.remember("memory one", run_id="r1", query="q1")
        a.document("Doc", "text of the doc", run_id="r1")
        gone, _ = a.remember("gone")
        a.forget(gone.id)
        data = a.export()
    with NotesStore(tmp_path / "b") as b:
        assert b.import_(data) == (2, 0)
        assert b.import_(data) == (0, 2)
        (mem,) = b.memories()
        assert (mem.text, mem.source_run, mem.source_query) == ("memory one", "r1", "q1")
        assert b.history(mem.id)[0].action == "import"
        with pytest.raises(NotesError, match="not an rlm notes export"):
            b.import_({"entries": []})


def test_reopening_keeps_data_and_applies_each_migration_once(tmp_path):
    with NotesStore(tmp_path) as s:
        s.remember("persisted")
    with NotesStore(tmp_path) as s:
        assert [m.text for m in s.memories()] == ["persisted"]
    db = sqlite3.connect(tmp_path / "notes.db")
    assert db.execute("SELECT name FROM schema_migrations").fetchall() == [("m001_initial",)]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(NotesError, match="cannot open the notes store"):
        NotesStore(blocker / ".rlm")


def _writer(directory: str, worker: int, count: int) -> None:
    with NotesStore(Path(directory), memory_tokens=1_000_000) as s:
        for i in range(count):
            s.remember(f"worker {worker} fact {i}", run_id=f"w{worker}")
            if i % 5 == 0:
                s.document(f"doc {worker}-{i}", "body " * 50, run_id=f"w{worker}")


def test_eight_processes_writing_at_once_lose_no_entry(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 30)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    with NotesStore(tmp_path, memory_tokens=1_000_000) as s:
        texts = {m.text for m in s.memories()}
        assert texts == {f"worker {w} fact {i}" for w in range(8) for i in range(30)}
        assert len(s.entries("doc")) == 8 * 6
        assert len(s.history()) == 8 * 36
        assert s.check() == []


def test_a_writer_killed_mid_write_leaves_the_store_consistent(tmp_path):
    script = (
        "import sys\nfrom pathlib import Path\nfrom rlm.notes import NotesStore\n"
        f"s = NotesStore(Path({str(tmp_path)!r}), memory_tokens=10**9, doc_chars=10**7)\n"
        "i = 0\n"
        "while True:\n"
        "    s.remember(f'fact {i}')\n"
        "    s.document(f'doc {i}', 'long body ' * 50000)\n"
        "    i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.3)
        if (tmp_path / "notes.db").exists():
            with NotesStore(tmp_path, memory_tokens=10**9) as peek:
                if len(peek.memories()) >= 3:
                    break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with NotesStore(tmp_path, memory_tokens=10**9, doc_chars=10**7) as s:
        assert s.check() == []
        entries = s.entries(include_dead=True)
        assert len(entries) >= 3
        assert len(s.history()) == len(entries)  # every entry has the change that added it, and no more
        s.remember("written after the crash")
        assert s.memories()[-1].text == "written after the crash"


def test_one_run_cannot_make_unbounded_note_changes(tmp_path):
    from rlm.notes import NotesSession, NotesSettings

    session = NotesSession(NotesSettings(tmp_path, max_writes=5, memory_tokens=10_000), "run-1", "q")
    session.open()
    replies = [session.handle("document", {"title": f"t{i}", "text": f"body {i}"}) for i in range(7)]
    session.close()
    assert [r["id"] is not None for r in replies] == [True] * 5 + [False] * 2
    assert "already made 5 note changes; the limit is 5" in replies[-1]["message"]
    with NotesStore(tmp_path) as store:
        assert len(store.entries("doc")) == 5


def _opener(directory: str, go) -> None:  # noqa: ANN001 - a multiprocessing Event
    go.wait(30)
    with NotesStore(Path(directory)) as s:
        s.remember("opened", run_id="o")


def test_sixteen_processes_opening_one_new_store_at_once_all_open_it(tmp_path):
    """Switching a new database to WAL takes a lock SQLite does not wait for: processes opening
    one new store at the same moment got "database is locked" (seen in CI under load)."""
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_opener, args=(str(tmp_path), go)) for _ in range(16)]
    for p in procs:
        p.start()
    time.sleep(3)  # all spawned and waiting
    go.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 16
