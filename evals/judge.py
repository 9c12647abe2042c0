"""An LLM judge for free-form answers (multidoc), as BrowseComp-Plus grades: BrowseComp's
official grader prompt, the verdict read from its `correct: yes|no` line. Optional (`--judge-model`);
exact match stays the cheap default and is kept beside the verdict."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from rlm import ModelClient, RLMConfig

JUDGED_SUITES = ("multidoc",)
# verbatim from BrowseComp (openai/simple-evals, browsecomp_eval.py), which BrowseComp-Plus uses
JUDGE_PROMPT = """Judge whether the following [response] to [question] is correct or not based on the precise and unambiguous [correct_answer] below.

[question]: {question}

[response]: {response}

Your judgement must be in the format and criteria specified below:

extracted_final_answer: The final exact answer extracted from the [response]. Put the extracted answer as 'None' if there is no exact, final answer to extract from the response.

[correct_answer]: {correct_answer}

reasoning: Explain why the extracted_final_answer is correct or incorrect based on [correct_answer], focusing only on if there are meaningful differences between [correct_answer] and the extracted_final_answer. Do not comment on any background to the problem, do not attempt to solve the problem, do not argue for any answer different than [correct_answer], focus only on whether the answers match.

correct: Answer 'yes' if extracted_final_answer matches the [correct_answer] given above, or is within a small margin of error for numerical problems. Answer 'no' otherwise, i.e. if there if there is any inconsistency, ambiguity, non-equivalency, or if the extracted answer is incorrect.

confidence: The extracted confidence score between 0|\\%| and 100|\\%| from [response]. Put 100 if there is no confidence score available."""  # noqa: E501
_VERDICT = re.compile(r"correct\s*:\s*\**\s*(yes|no)\b", re.IGNORECASE)
TRIES = 3


@dataclass
class Verdict:
    score: float  # 100 (correct) or 0
    verdict: str  # "yes", "no" or "unparsed" (no `correct:` line in TRIES replies: scored 0)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


def parse_verdict(text: str) -> str | None:
    """'yes' / 'no' from the judge's `correct:` line (the last one), or None."""
    found = _VERDICT.findall(text or "")
    return found[-1].lower() if found else None


def judge(config: RLMConfig, model: str, question: str, response: str, correct: str) -> Verdict:
    """Ask `model` (on the run's endpoint) whether `response` answers `question` as `correct` does."""
    return asyncio.run(_judge(config, model, question, response, correct))


async def _judge(config: RLMConfig, model: str, question: str, response: str, correct: str) -> Verdict:
    client = ModelClient.for_config(config, *config.endpoints()[0])
    prices = config.price_table()
    out = Verdict(0.0, "unparsed")
    prompt = JUDGE_PROMPT.format(question=question, response=response, correct_answer=correct)
    try:
        for _ in range(TRIES):
            c = await client.chat(model, [{"role": "user", "content": prompt}])
            out.prompt_tokens += c.prompt_tokens
            out.completion_tokens += c.completion_tokens
            out.cost_usd += prices.cost(model, c.prompt_tokens, c.completion_tokens, c.cached_tokens)
            verdict = parse_verdict(c.text)
            if verdict is not None:
                out.verdict, out.score = verdict, 100.0 if verdict == "yes" else 0.0
                break
    finally:
        await client.aclose()
    return out
