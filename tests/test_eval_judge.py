"""The optional LLM judge for multidoc answers (evals/judge.py): BrowseComp's grader prompt, its
`correct: yes|no` line parsed, exact match kept beside it; against the scripted server."""

from __future__ import annotations

import re

import pytest
from eval_strategies import FACTS
from scripted_server import Call, ScriptedServer

from evals import EvalError, MethodSettings, generate, run_eval
from evals.generators import multidoc
from evals.judge import parse_verdict
from evals.runner import done_pairs

judged: list[str] = []


@pytest.mark.parametrize("text, verdict", [
    ("extracted_final_answer: 1992\nreasoning: same year\ncorrect: yes\nconfidence: 100", "yes"),
    ("**correct:** no", "no"),
    ("Correct: YES", "yes"),
    ("correct: no ... on reflection, correct: yes", "yes"),  # the last line wins
    ("The answers match.", None),
    ("incorrect", None),
])
def test_the_verdict_line_is_read(text, verdict):
    assert parse_verdict(text) == verdict


def solver(call: Call) -> str:
    """Follows the hops2 chain through the documents in the prompt, and answers in a sentence
    (which exact match scores 0)."""
    p = call.prompt
    question = p.rsplit("Question: ", 1)[-1]
    city = re.search(r"(?:headquartered in|based in|head office is in) (.+?)(?: graduate)?\?", question).group(1)
    founder = re.search(r"headquartered in " + re.escape(city) + r"\. It was founded in \d+ by (.+?)\.", p).group(1)
    own = re.search(r"person: " + re.escape(founder) + r"\n\n(.*)", p).group(1)
    ask = next(k for k, (q, _) in multidoc.ASKS.items() if q.split("{who}")[0] in question)
    return f"Following the documents, the answer is {re.search(FACTS[ask], own).group(1)}."


def judge_model(call: Call) -> str:
    judged.append(call.prompt)
    correct = re.search(r"\[correct_answer\]: (.+)", call.prompt).group(1).strip()
    response = call.prompt.split("[response]: ", 1)[1].split("\n\nYour judgement", 1)[0]
    ok = correct in response
    return f"extracted_final_answer: {response[-5:-1]}\nreasoning: compared.\ncorrect: {'yes' if ok else 'no'}"


def test_a_sentence_answer_is_right_by_the_judge_and_wrong_by_exact_match(tmp_path):
    tasks = generate("multidoc", 8192, 2, 0, tmp_path / "t", variant="hops2")
    with ScriptedServer({"solver": solver, "judge": judge_model}) as srv:
        common = {"model": "solver", "base_url": srv.url, "api_key": "k", "runs_dir": tmp_path / "runs",
                  "window_tokens": 16_000, "prices": {"solver": {"input": 1.0, "output": 1.0}}}
        judged.clear()
        rows = run_eval(tasks, ["direct"], MethodSettings.of(judge_model="judge", **common),
                        tmp_path / "judged.jsonl", workers=1)
        plain = run_eval(tasks, ["direct"], MethodSettings.of(**common), tmp_path / "plain.jsonl", workers=1)
    assert len(judged) == 2 and all("Judge whether the following [response]" in p for p in judged)
    for r in rows:
        assert (r["score"], r["exact_score"], r["judge"]["verdict"]) == (100.0, 0.0, "yes"), r
        assert r["settings"]["judge_model"] == "judge" and r["judge"]["tokens"] > 0
    assert [r["score"] for r in plain] == [0.0, 0.0] and all("judge" not in r for r in plain)
    # the judge has no price: its rows' cost is unknown ("unpriced"), not the solver's alone
    assert all(r["priced"] is False for r in rows) and all(r["priced"] is True for r in plain)


def test_a_failing_judge_keeps_the_answer_and_grades_by_exact_match(tmp_path):
    """A judge that cannot be reached (here: a model the endpoint does not serve) neither loses
    the solved row nor stops the run; the row is a failure (judge_error), retried next run."""
    tasks = generate("multidoc", 8192, 2, 0, tmp_path / "t", variant="hops2")
    with ScriptedServer({"solver": solver}) as srv:
        s = MethodSettings.of(model="solver", base_url=srv.url, api_key="k", runs_dir=tmp_path / "runs",
                              window_tokens=16_000, judge_model="missing-judge", max_retries=0)
        # the check before the run names the missing judge, and nothing runs
        with pytest.raises(EvalError, match="--judge-model 'missing-judge' is not a model"):
            run_eval(tasks, ["direct"], s, tmp_path / "r.jsonl", workers=1)
        assert not (tmp_path / "r.jsonl").exists()
        # past that check (a judge that fails during the run): the rows are kept, as judge_error
        s = MethodSettings.of(model="solver", base_url=srv.url, api_key="k", runs_dir=tmp_path / "runs",
                              window_tokens=16_000, judge_model="missing-judge", max_retries=0, preflight=False)
        rows = run_eval(tasks, ["direct"], s, tmp_path / "r.jsonl", workers=1)
    assert len(rows) == 2
    for r in rows:
        assert r["status"] == "judge_error" and r["answer"].startswith("Following the documents"), r
        assert r["score"] == r["exact_score"] == 0.0 and r["judge"]["verdict"] == "error"
        assert "missing-judge" in r["judge"]["error"]
    assert len(done_pairs(tmp_path / "r.jsonl")) == 0  # not done: the next run retries them


def test_the_judge_model_keys_only_the_suites_it_grades():
    from evals.methods import result_settings

    s = MethodSettings.of(model="m", api_key="k", judge_model="j")
    assert result_settings("direct", s, "multidoc")["judge_model"] == "j"
    assert "judge_model" not in result_settings("direct", s, "sniah")  # sniah rows are not re-run
