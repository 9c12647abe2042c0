"""Real token counts for eval lengths and baseline windows (evals/tokens.py): the shipped
o200k_base ranks, cutting at a token budget, and the baselines' prompts measured as the
scripted server receives them."""

from __future__ import annotations

import random

import pytest
from scripted_server import ScriptedServer

from evals import MethodSettings, generate, read_tasks, run_eval
from evals.tasks import EvalError
from evals.tokens import tokenizer


def test_o200k_ships_offline_and_matches_tiktokens_ids():
    tok = tokenizer("o200k_base")
    # tiktoken's own o200k_base ids (tiktoken's tests and the OpenAI tokenizer page)
    assert tok._enc.encode_ordinary("hello world") == [24912, 2375]
    assert tok.count("hello world") == 2 and tok.count("") == 0
    assert tok._enc.n_vocab == 200019  # o200k_base's size, special tokens included
    assert tokenizer() is tok  # loaded once


def _texts() -> list[str]:
    rng = random.Random(3)
    words = ["alpha", "βeta", "日本語", "emoji🙂", "x", "   ", "\n", "1234567", "don't", "naïve", "\t"]
    return ["".join(rng.choice(words) + rng.choice([" ", "", "\n"]) for _ in range(rng.randint(0, 3000)))
            for _ in range(12)]


@pytest.mark.parametrize("name", ["o200k_base", "chars4"])
def test_head_is_the_longest_prefix_within_the_budget(name):
    tok = tokenizer(name)
    for text in _texts():
        total = tok.count(text)
        for budget in (1, 7, 100, total // 2, total, total + 5):
            head = tok.head(text, budget)
            assert text.startswith(head) and tok.count(head) <= max(budget, 0)
            if budget >= total:
                assert head == text
            elif name == "o200k_base" and budget > 10:
                # nothing much longer would still fit: the next few characters overflow
                assert tok.count(text[: len(head) + 8]) > budget or len(head) + 8 >= len(text)


def test_chunks_cover_the_text_within_the_budget_cut_at_line_ends():
    tok = tokenizer()
    for text in _texts():
        for budget in (50, 400):
            parts = tok.chunks(text, budget)
            assert "".join(parts) == text
            assert all(0 < tok.count(p) <= budget for p in parts)
            inner = parts[:-1]
            assert sum(p.endswith("\n") for p in inner) >= 0.8 * len(inner) or text.count("\n") < len(parts)


def test_chars4_and_unknown_names():
    assert tokenizer("chars4").count("abcdefghi") == 3
    with pytest.raises(EvalError, match="unknown tokenizer 'gpt-99'.*o200k_base"):
        tokenizer("gpt-99")


@pytest.mark.parametrize("suite", ["sniah", "oolong", "pairs", "multidoc", "codeqa"])
def test_every_suite_fits_its_length_in_real_tokens(tmp_path, suite):
    tok = tokenizer()
    for task in read_tasks(generate(suite, 8192, 2, 5, tmp_path)):
        assert task.tokenizer == "o200k_base" and 0.97 * 8192 <= task.tokens <= 8192, (task.id, task.tokens)
        ctx = task.load_context(tmp_path)
        if isinstance(ctx, str) or ctx.is_file():
            text = ctx if isinstance(ctx, str) else ctx.read_text(encoding="utf-8")
            assert tok.count(text) == task.tokens
        else:
            files = sorted(p for p in ctx.rglob("*") if p.is_file())
            assert tok.count_all([p.read_text(encoding="utf-8", errors="replace") for p in files]) == task.tokens


def test_a_chars4_task_records_its_tokenizer(tmp_path):
    task = read_tasks(generate("oolong", 4096, 1, 0, tmp_path, tokenizer="chars4"))[0]
    assert task.tokenizer == "chars4" and 0.97 * 4096 <= task.tokens <= 4096
    # the same length in o200k tokens is a different (here longer) text
    other = read_tasks(generate("oolong", 4096, 1, 0, tmp_path / "o200k"))[0]
    assert other.chars != task.chars


def test_baseline_prompts_fit_the_window_in_real_tokens(tmp_path):
    """direct cuts and summary chunks by tokens: every prompt the model receives fits a
    4,000-token window (with characters / 4, a uuid haystack overflowed it about 2x)."""
    tok = tokenizer()
    seen: list[int] = []

    def reader(call) -> str:
        seen.append(tok.count(call.prompt))
        return "Notes: nothing yet." if "Rewrite your notes" in call.prompt else "I do not know."

    tasks = generate("sniah", 16_384, 1, 0, tmp_path / "t", variant="multikey_3")  # uuids: ~2 chars a token
    with ScriptedServer({"reader": reader}) as server:
        s = MethodSettings.of(model="reader", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                              window_tokens=4000)
        rows = run_eval(tasks, ["direct", "summary"], s, tmp_path / "results.jsonl", workers=1)
    assert {r["status"] for r in rows} == {"ok"} and all(r["truncated"] for r in rows if r["method"] == "direct")
    assert len(seen) >= 6 and max(seen) <= 4000, seen
    assert max(seen) > 2500  # the window is used, not left mostly empty
