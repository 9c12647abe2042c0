"""The persistent call cache: the store itself (a real SQLite file, real processes), and runs
against the scripted server that ask the endpoint once for what they asked before."""

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
from conftest import cli_env
from scripted_server import Fault, ScriptedServer

from rlm import RLM
from rlm.cache import CachedReply, CallCache, call_key

REPLY = CachedReply("hello", 10, 2, 0, False)
PRICES = {"root": {"input": 1.0, "output": 2.0}, "sub": {"input": 1.0, "output": 2.0}}


def test_hits_misses_and_keys(tmp_path):
    cache = CallCache(tmp_path / "c.db")
    key = call_key("http://x/v1", "m", [{"role": "user", "content": "q"}], {"temperature": 0})
    assert cache.get(key) is None
    cache.put(key, "m", REPLY)
    assert cache.get(key) == REPLY
    # everything that decides a reply is in the key
    for other in [call_key("http://y/v1", "m", [{"role": "user", "content": "q"}], {"temperature": 0}),
                  call_key("http://x/v1", "n", [{"role": "user", "content": "q"}], {"temperature": 0}),
                  call_key("http://x/v1", "m", [{"role": "user", "content": "q2"}], {"temperature": 0}),
                  call_key("http://x/v1", "m", [{"role": "user", "content": "q"}], {"temperature": 1})]:
        assert other != key and cache.get(other) is None
    stats = cache.stats()
    assert (stats.entries, stats.hits) == (1, 1)
    assert CallCache(tmp_path / "c.db").get(key) == REPLY  # another handle, the same file


def test_a_reply_with_a_lone_surrogate_is_kept_and_given_back_exactly(tmp_path):
    """A model's reply can hold a lone surrogate (a broken \\ud800 escape in its JSON); SQLite
    refuses to store such text, which failed the whole model call."""
    cache = CallCache(tmp_path / "c.db")
    reply = CachedReply("odd \ud800 text \x00 \U0010ffff", 3, 4, 0, False)
    key = call_key("http://x/v1", "m\udfff", [{"role": "user", "content": "\ud800"}], {})
    cache.put(key, "m\udfff", reply)
    assert CallCache(tmp_path / "c.db").get(key) == reply


def test_the_least_recently_used_go_first_when_the_bound_is_passed(tmp_path):
    cache = CallCache(tmp_path / "c.db", max_bytes=20_000)
    for i in range(100):
        cache.put(f"k{i}", "m", CachedReply("x" * 500, 1, 1, 0, False))
        if i == 10:
            time.sleep(0.01)
    time.sleep(0.01)
    assert cache.get("k0") is not None  # used again: now the most recent
    dropped = cache.prune()
    assert dropped > 0 and cache.stats().bytes <= 20_000
    assert cache.get("k0") is not None and cache.get("k1") is None and cache.get("k99") is not None


def _writer(path: str, worker: int, count: int) -> None:
    cache = CallCache(path)
    for i in range(count):
        cache.put(f"w{worker}-{i}", "m", CachedReply(f"reply {worker} {i} " + "y" * 200, i, 1, 0, False))
        cache.get(f"w{(worker + 1) % 4}-{i}")


def test_many_processes_share_one_store_and_a_killed_one_corrupts_nothing(tmp_path):
    path = str(tmp_path / "c.db")
    CallCache(path)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(path, w, 400)) for w in range(4)]
    victim = ctx.Process(target=_writer, args=(path, 9, 100_000))
    for p in [*workers, victim]:
        p.start()
    time.sleep(1.0)
    os.kill(victim.pid, signal.SIGKILL)  # mid-write, most likely
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    victim.join(10)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cache = CallCache(path)
    for w in range(4):
        for i in (0, 199, 399):
            assert cache.get(f"w{w}-{i}") == CachedReply(f"reply {w} {i} " + "y" * 200, i, 1, 0, False)


def _fan_out_root(call):
    if call.turn == 0:
        return ("```repl\nparts = [context[i:i + 10] for i in range(0, len(context), 10)]\n"
                "answers = llm_query_batched(['summarise: ' + p for p in parts] + ['same'] * 5)\n"
                "print(len(answers))\n```")
    return "FINAL(done)"


def test_the_same_question_twice_costs_nothing_the_second_time(tmp_path):
    with ScriptedServer({"root": _fan_out_root, "sub": lambda call: "ok " + call.prompt[-5:]}) as server:
        rlm = RLM(model="root", sub_model="sub", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                  notes=False, prices=PRICES, cache=tmp_path / "cache.db")
        context = "".join(f"chunk {i:03d}" for i in range(8))  # eight distinct 10-character chunks
        first = rlm.completion(context, "what is it?")
        calls_first = len(server.calls)
        # 8 distinct chunks and 5 identical prompts: the identical ones go out once
        assert len(server.calls_to("sub")) == 9 and first.answer == "done"
        second = RLM(model="root", sub_model="sub", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                     notes=False, prices=PRICES, cache=tmp_path / "cache.db").completion(context, "what is it?")
        assert len(server.calls) == calls_first, "the second run reached the endpoint"
    assert second.answer == first.answer
    total = second.usage.total
    assert total.cost_usd == 0 and total.cache_hits == total.calls > 0 and total.saved_usd > 0
    assert first.usage.total.cost_usd > 0 and first.usage.total.cache_hits == 4  # the 4 repeats of 'same'


def test_errors_are_not_kept_and_no_cache_asks_again(tmp_path):
    state = {"fail": True}

    def sub(call):
        if state["fail"]:
            return Fault(400, '{"error": {"message": "bad request", "type": "invalid_request_error"}}')
        return "fine"

    root = lambda call: ["```repl\nprint(llm_query('x'))\n```", "FINAL(done)"][min(call.turn, 1)]  # noqa: E731
    with ScriptedServer({"root": root, "sub": sub}) as server:
        settings = dict(model="root", sub_model="sub", base_url=server.url, api_key="k", notes=False,
                        runs_dir=tmp_path / "runs", cache=tmp_path / "cache.db", answer_check=False)
        RLM(**settings).completion("ctx", "q")
        assert len(server.calls_to("sub")) == 1
        state["fail"] = False
        RLM(**settings).completion("ctx", "q")
        assert len(server.calls_to("sub")) == 2, "the error was answered from the cache"
        RLM(**{**settings, "cache": False}).completion("ctx", "q")
        # root calls: 2, then 1 (the first turn is the same request; the second is not: its
        # observation holds the sub-call's new answer), then 2 with the cache off
        assert len(server.calls_to("sub")) == 3 and len(server.calls_to("root")) == 5


def test_the_cli_reports_hits_and_no_cache_calls_the_endpoint(tmp_path):
    (tmp_path / "a.txt").write_text("hello world\n")
    root = lambda call: ["```repl\nn = llm_query('count')\n```", "FINAL_VAR(n)"][min(call.turn, 1)]  # noqa: E731
    with ScriptedServer({"root": root, "sub": lambda call: "11"}) as server:
        env = cli_env(tmp_path / "home", key="test-key")

        def query(*extra: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "cli", "query", "a.txt", "-q", "how long?", "-m", "root",
                                   "--sub-model", "sub", "--base-url", server.url, "--no-notes", "--json", *extra],
                                  cwd=tmp_path, capture_output=True, timeout=120, env=env, check=False)

        import json

        first = json.loads(query().stdout)
        n = len(server.calls)
        second = json.loads(query().stdout)
        assert len(server.calls) == n and second["answer"] == first["answer"] == "11"
        assert second["usage"]["total"]["cache_hits"] == second["usage"]["total"]["calls"] > 0
        query("--no-cache")
        assert len(server.calls) == 2 * n
        stats = subprocess.run([sys.executable, "-m", "cli", "cache", "stats", "--json"], cwd=tmp_path,
                               capture_output=True, env=env, check=True, text=True)
        assert json.loads(stats.stdout)["entries"] == n
        assert Path(json.loads(stats.stdout)["path"]) == tmp_path / "home" / "cache.db"


@pytest.mark.parametrize("bad", ["yes-please", 3])
def test_a_cache_setting_that_cannot_work_is_a_config_error(tmp_path, bad):
    from rlm import ConfigError

    with pytest.raises(ConfigError):
        RLM(model="m", cache=bad if bad != "yes-please" else tmp_path / "file" / "x" / "\0bad")._call_cache()


def test_opening_a_store_that_another_process_is_writing_waits_instead_of_failing(tmp_path):
    """Switching a store to WAL while another connection holds its write lock is refused at once
    by SQLite (no busy wait): a new store opened by two processes at once hit this."""
    import threading

    path = tmp_path / "c.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE x (y)")
    other.execute("BEGIN IMMEDIATE")  # the write lock, held for a moment
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    cache = CallCache(path)
    assert time.monotonic() - started >= 0.4
    cache.put("k", "m", REPLY)
    assert cache.get("k") == REPLY
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_damaged_store_is_moved_aside_when_opened_or_while_in_use(tmp_path):
    from rlm.errors import CacheWarning

    junk = b"not a database " * 300
    (tmp_path / "c.db").write_bytes(junk)
    with pytest.warns(CacheWarning, match="moved to"):
        cache = CallCache(tmp_path / "c.db")
    cache.put("k", "m", REPLY)
    assert cache.get("k") == REPLY
    # damaged while a handle is open (another process, a disk): the next use sets it aside too
    cache.close()
    for extra in tmp_path.glob("c.db-*"):
        extra.unlink()
    (tmp_path / "c.db").write_bytes(junk)
    with pytest.warns(CacheWarning):
        assert cache.get("k") is None  # a miss, not an error
    cache.put("k", "m", REPLY)
    assert cache.get("k") == REPLY
    aside = sorted(p for p in tmp_path.iterdir() if ".unreadable-" in p.name and not p.name.endswith(("-wal", "-shm")))
    assert len(aside) == 2 and all(p.read_bytes() == junk for p in aside)  # both kept, for a look
