"""Before an eval run spends anything: every endpoint it will use answers and accepts the key,
and every model it names is one the endpoint serves (when the endpoint lists its models).

A wrong `--sub-model` would otherwise pass unseen in rlm runs, whose failed sub-calls become
error strings the model's code reads, and a dead endpoint would cost every pair its retries.
"""

from __future__ import annotations

import asyncio

from evals.methods import MethodSettings
from evals.tasks import EvalError
from rlm import ModelClient, ModelError

# methods that call the sub-model: rlm's sub-calls, codeact-sub's llm_query, summary's compaction
SUB_MODEL_METHODS = frozenset({"rlm", "codeact-sub", "summary"})


def check_endpoints(settings: MethodSettings, methods: list[str], *, judged: bool) -> None:
    """EvalError naming what is wrong; nothing when every endpoint and model checks out (or
    `settings.rlm.preflight` is off)."""
    if settings.rlm.preflight:
        asyncio.run(_check(settings, methods, judged))


async def _check(s: MethodSettings, methods: list[str], judged: bool) -> None:
    c = s.rlm
    root_at, sub_at = c.endpoints()  # where the methods' calls go
    wanted: dict[tuple[str | None, str | None], dict[str, str]] = {}  # endpoint -> model -> its option
    wanted.setdefault(root_at, {})[s.model] = "--model"
    if SUB_MODEL_METHODS & set(methods):
        wanted.setdefault(sub_at, {}).setdefault(c.effective_sub_model, "--sub-model")
    if judged and s.judge_model:
        wanted.setdefault(root_at, {}).setdefault(s.judge_model, "--judge-model")
    for (url, api_key), models in wanted.items():
        client = ModelClient.for_config(c, url, api_key)
        try:
            try:
                await client.preflight()
            except ModelError as exc:
                raise EvalError(f"{exc} (no pair was run)") from exc
            served = await client.served_models()
        finally:
            await client.aclose()
        for model, option in models.items():
            if served is not None and model not in served:
                listed = ", ".join(sorted(served)[:12]) + (" ..." if len(served) > 12 else "")
                raise EvalError(f"{option} {model!r} is not a model {client.endpoint} serves (it lists: {listed}); "
                                "no pair was run")
