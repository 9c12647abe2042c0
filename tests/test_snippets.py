"""Restricted mode is a place models can live in: the cells of `tests/rlm_snippets.py`, written
as models write them in published RLM trajectories, run in restricted mode on a `str` context
and on a memory-mapped `Corpus` of the same text, in real kernels.

Each snippet must run, or fail (where it declares) with an error naming the allowed way. On
an ASCII text, where a Corpus's byte offsets are character positions, a snippet prints the
same on a Corpus as on the `str` (unless it prints the context's type). Sub-calls are
answered by a scripted sub-model on the host, wired in as the controller wires its own.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import corpus_of
from rlm_snippets import SNIPPETS, Snippet, make_context

from rlm.tools import query_tools
from sandbox import ExecResult, HostRequest, Sandbox, SandboxConfig
from sandbox.kernel.corpus import Corpus

CORPUS_MAX_STR_BYTES = 10_000  # far below the text's size: the context is a Corpus
CELL_TIMEOUT_S = 30


def _sub_answer(text: str) -> str:
    """What the scripted sub-model says to `text` (a prompt, with its sub-context if any):
    deterministic, and depending only on the text, so a str and a Corpus get the same."""
    if m := re.search(r"magic number is (\d+)", text):
        return m.group(1)
    if "magic number" in text:
        return "NONE"
    if "JSON" in text and "errors" in text:
        return json.dumps({"errors": text.count(" ERROR "), "chars": len(text)})
    if "ERROR" in text:
        return f"{text.count(' ERROR ')} errors"
    return f"ok ({len(text)} chars)"


def sub_model(request: HostRequest) -> list[str]:
    prompts = request.args["prompts"]
    contexts = request.args.get("contexts") or [None] * len(prompts)
    answers = []
    for prompt, ctx in zip(prompts, contexts, strict=True):
        extra = "" if ctx is None else ctx if isinstance(ctx, str) else json.dumps(ctx)
        answers.append(_sub_answer(f"{prompt}\n{extra}" if extra else prompt))
    return answers


class Kernels:
    """One restricted kernel per (context kind, text), started on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stack = contextlib.ExitStack()
        self.started: dict[tuple[str, bool], Sandbox] = {}

    def get(self, kind: str, ascii_only: bool) -> Sandbox:
        key = (kind, ascii_only)
        if key not in self.started:
            text = make_context(ascii_only=ascii_only)
            max_str = CORPUS_MAX_STR_BYTES if kind == "corpus" else 4 * len(text)  # a str of any width
            sb = self.stack.enter_context(Sandbox(SandboxConfig(
                policy="restricted", max_str_bytes=max_str, cell_timeout_s=CELL_TIMEOUT_S, interrupt_grace_s=2)))
            if kind == "corpus":
                path = self.root / f"context-{'ascii' if ascii_only else 'mixed'}.txt"
                path.write_text(text, encoding="utf-8")
                info = sb.load_context(path)
            else:
                info = sb.load_context(text)
            assert info.type == ("Corpus" if kind == "corpus" else "str"), info
            sb.add_tools(query_tools(sub_model))
            self.started[key] = sb
        return self.started[key]

    def run(self, kind: str, ascii_only: bool, snippet: Snippet) -> ExecResult:
        sb = self.get(kind, ascii_only)
        r = sb.execute(snippet.code, timeout=CELL_TIMEOUT_S)
        if r.final is not None:  # the next snippet starts without an answer
            sb.reset_answer()
        return r


@pytest.fixture(scope="module")
def kernels(tmp_path_factory) -> Iterator[Kernels]:
    k = Kernels(tmp_path_factory.mktemp("snippets"))
    with k.stack:
        yield k


def must_fail(snippet: Snippet, kind: str) -> bool:
    return snippet.expect_error_hint is not None and (snippet.error_on == "both" or kind == "corpus")


def check(snippet: Snippet, kind: str, r: ExecResult) -> None:
    assert not r.timed_out and not r.restarted, f"{snippet.id} on a {kind}: {r.error}"
    if must_fail(snippet, kind):
        assert r.error is not None, f"{snippet.id} should fail on a {kind} but ran:\n{r.stdout[:500]}"
        assert snippet.expect_error_hint in r.error, (
            f"{snippet.id} on a {kind}: the error does not say {snippet.expect_error_hint!r}:\n{r.error}")
        return
    assert r.error is None, f"{snippet.id} on a {kind}:\n{snippet.code}\n{r.error}"
    if snippet.finishes:
        assert r.final is not None, f"{snippet.id} on a {kind} set no final answer"


def _id(snippet: Snippet) -> str:
    return f"{snippet.category}-{snippet.id}"


@pytest.mark.parametrize("kind", ["str", "corpus"])
@pytest.mark.parametrize("snippet", SNIPPETS, ids=_id)
def test_snippet_runs_or_names_the_allowed_way(kernels, snippet, kind):
    """On the text with non-ASCII lines."""
    check(snippet, kind, kernels.run(kind, False, snippet))


COMPARED = [s for s in SNIPPETS if s.same_output and not (s.expect_error_hint and s.error_on == "both")]


@pytest.mark.parametrize("snippet", COMPARED, ids=_id)
def test_a_corpus_prints_what_the_str_prints(kernels, snippet):
    """On the ASCII text: the same output, the same final answer (a snippet refused on a Corpus
    is only checked for its hint there)."""
    on_str = kernels.run("str", True, snippet)
    check(snippet, "str", on_str)
    on_corpus = kernels.run("corpus", True, snippet)
    check(snippet, "corpus", on_corpus)
    if must_fail(snippet, "corpus"):
        return
    assert on_corpus.stdout == on_str.stdout
    assert on_corpus.final == on_str.final


def test_the_snippets_cover_every_category():
    from rlm_snippets import CATEGORIES

    counts = {c: sum(s.category == c for s in SNIPPETS) for c in CATEGORIES}
    assert len(SNIPPETS) >= 110 and all(n >= 10 for n in counts.values()), counts
    assert sum(s.needs_subcalls for s in SNIPPETS) >= 10
    assert all(("llm_query" in s.code or "rlm_query" in s.code) == s.needs_subcalls for s in SNIPPETS)
    assert sum(s.expect_error_hint is not None for s in SNIPPETS) >= 5


# ----- the Corpus changes these snippets needed, against `str` directly (no kernel) -------------
def test_strip_gives_a_corpus_of_what_str_strip_keeps(tmp_path):
    rng = random.Random(3)
    spaces = [" ", "\n", "\t", "\u3000", "\x85", "\u2028", "\r\n", "\xa0"]
    body = ["a", "é", "日本", " x ", "\n", "🚀"]
    for _ in range(40):  # runs of whitespace longer than a strip window (64 KiB) too
        text = "".join(rng.choice(spaces) for _ in range(rng.choice([0, 1, 5, 70_000])))
        text += "".join(rng.choice(body) for _ in range(rng.choice([0, 1, 50])))
        text += "".join(rng.choice(spaces) for _ in range(rng.choice([0, 1, 5, 70_000])))
        c = corpus_of(tmp_path, text)
        for chars in (None, " \n", "\u3000a", "日"):
            for name in ("strip", "lstrip", "rstrip"):
                got, want = getattr(c, name)(chars), getattr(text, name)(chars)
                assert isinstance(got, Corpus) and got[:] == want and len(got) == len(want.encode())
                assert list(got.splitlines()) == want.splitlines()
                assert got.count("a") == want.count("a") and ("日本" in got) == ("日本" in want)


def test_lines_index_like_a_list_and_walk_in_one_pass(tmp_path):
    rng = random.Random(5)
    for n in (0, 1, 3, 70, 300):
        text = "\n".join(f"l{i} " + "é" * rng.randint(0, 3) for i in range(n)) + rng.choice(["", "\n"])
        c = corpus_of(tmp_path, text)
        for pieces, items in ((c.splitlines(), text.splitlines()), (c.split("\n"), text.split("\n"))):
            for _ in range(150):
                k = rng.randint(-len(items) - 2, len(items) + 2)
                a, b = (rng.choice([None, rng.randint(-5, len(items) + 3)]) for _ in range(2))
                step = rng.choice([None, 1, 2, 3, -1])
                assert pieces[a:b:step] == items[a:b:step], (a, b, step)
                if -len(items) <= k < len(items):
                    assert pieces[k] == items[k], k
                else:
                    with pytest.raises(IndexError):
                        pieces[k]
            assert len(pieces) == len(items) and bool(pieces) == bool(items)
            for value in items[:3] + ["absent"]:
                assert pieces.count(value) == items.count(value)
                if value in items:
                    assert pieces.index(value) == items.index(value)
                else:
                    with pytest.raises(ValueError):
                        pieces.index(value)
    text = "".join(f"line {i}\n" for i in range(100_000))
    lines = corpus_of(tmp_path, text).splitlines()
    passes = 0
    make = lines._make

    def counted():
        nonlocal passes
        passes += 1
        return make()

    lines._make = counted
    hits = [i for i in range(len(lines)) if lines[i].endswith("7") and lines[i - 1] and lines[max(0, i - 2):i + 3]]
    assert len(hits) == 10_000 and passes <= 3, passes  # len(), the walk (and lines[-1] at i = 0)
