"""Named models: let the model's code pick a cheap model or a strong one by name.

`models=` names two models. The root model's code calls them with
`llm_query(prompt, model="skim")` or `model="judge"`; any other name is refused.
Each named model may have its own endpoint, key and price; usage is counted per name.

Both names point at the root model unless you set RLM_SKIM_MODEL / RLM_JUDGE_MODEL:

    OPENAI_API_KEY=sk-... RLM_MODEL=gpt-5-mini RLM_SKIM_MODEL=gpt-5-nano \
        python examples/named_models.py
"""

import os

from rlm import RLM

root = os.environ.get("RLM_MODEL", "gpt-5-mini")
judge = {"model": os.environ.get("RLM_JUDGE_MODEL", root)}
if os.environ.get("RLM_JUDGE_BASE_URL"):  # a model on another endpoint, with its own key
    judge.update(base_url=os.environ["RLM_JUDGE_BASE_URL"], api_key=os.environ.get("RLM_JUDGE_API_KEY"))

REVIEWS = [
    "The battery lasts two days. Great value.",
    "Screen cracked after a week. Support never answered.",
    "Fine phone, but the camera is slow in the dark.",
]

rlm = RLM(models={"skim": {"model": os.environ.get("RLM_SKIM_MODEL", root)}, "judge": judge})
result = rlm.completion(
    REVIEWS,
    "Summarise each review in a few words with llm_query(..., model='skim'), then ask "
    "llm_query(..., model='judge') whether the customers are happy overall. Answer yes or no.",
)
print("answer:", result.answer, f"[{result.status}]")
for name, counts in result.usage.as_dict()["by_model"].items():  # per name, not per model id
    cost = "no price" if counts["cost_usd"] is None else f"${counts['cost_usd']:.4f}"
    print(f"{name}: {counts['calls']} calls, {counts['total_tokens']} tokens, {cost}")
