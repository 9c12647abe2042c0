"""The public entry point: `RLM(...).completion(context, query)`.

The async path (`acompletion`) is the only implementation; `completion` runs it on a fresh
event loop (in a worker thread when the caller already has a running loop, e.g. Jupyter).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

from rlm._run import EventCallback, Run, Tree
from rlm.client import ModelClient
from rlm.config import RLMConfig, resolve
from rlm.inputs import check_context
from rlm.results import RunResult
from sandbox import SandboxConfig


class RLM:
    """A recursive language model: answers questions about contexts far larger than a
    model's window by letting the model explore them with code in a sandboxed kernel.

        rlm = RLM(model="gpt-5-mini", sub_model="gpt-5-nano")
        result = rlm.completion(Path("logs/"), "Which service failed first, and why?")
        print(result.answer, result.status, result.cost_usd)

    Settings not given here come from the environment (OPENAI_API_KEY, OPENAI_BASE_URL,
    RLM_MODEL, RLM_SUB_MODEL, ...), then rlm.toml; see `RLMConfig` for every option.
    """

    def __init__(self, model: str | None = None, sub_model: str | None = None, *,
                 base_url: str | None = None, api_key: str | None = None,
                 sub_base_url: str | None = None, sub_api_key: str | None = None,
                 max_iterations: int | None = None, max_depth: int | None = None,
                 max_cost_usd: float | None = None, max_tokens: int | None = None,
                 max_wall_s: float | None = None, max_sub_calls: int | None = None,
                 sandbox: SandboxConfig | None = None, config_file: Path | None = None,
                 **settings: Any) -> None:
        args = dict(model=model, sub_model=sub_model, base_url=base_url, api_key=api_key,
                    sub_base_url=sub_base_url, sub_api_key=sub_api_key,
                    max_iterations=max_iterations, max_depth=max_depth, max_cost_usd=max_cost_usd,
                    max_tokens=max_tokens, max_wall_s=max_wall_s, max_sub_calls=max_sub_calls,
                    sandbox=sandbox, **settings)
        self.config: RLMConfig = resolve(args, config_file)
        self.config.validate()
        self._checked: set[str] = set()

    def completion(self, context: Any, query: str, *, on_event: EventCallback | None = None) -> RunResult:
        """Answer `query` about `context` (str, bytes, list, dict, Path, list of Paths, or a
        directory). Blocks until the run ends; see `RunResult.status` for how it ended."""
        coro = self.acompletion(context, query, on_event=on_event)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    async def acompletion(self, context: Any, query: str, *,
                          on_event: EventCallback | None = None) -> RunResult:
        """The async form of `completion`."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the query must be a non-empty string")
        check_context(context)
        config = self.config
        root = self._client(config.base_url, config.api_key)
        sub = root
        if config.sub_base_url and config.sub_base_url != config.base_url:
            sub = self._client(config.sub_base_url, config.sub_api_key or config.api_key)
        try:
            if config.preflight:
                await self._preflight(root, sub)
            tree = Tree.create(config, root, sub, on_event)
            return await Run(tree, context, query).execute()
        finally:
            await root.aclose()
            if sub is not root:
                await sub.aclose()

    def _client(self, base_url: str | None, api_key: str | None) -> ModelClient:
        c = self.config
        return ModelClient(base_url=base_url, api_key=api_key, timeout_s=c.request_timeout_s,
                           max_retries=c.max_retries, retry_base_s=c.retry_base_s,
                           retry_max_s=c.retry_max_s, model_kwargs=c.model_kwargs)

    async def _preflight(self, *clients: ModelClient) -> None:
        for client in dict.fromkeys(clients):
            if client.endpoint not in self._checked:
                await client.preflight()
                self._checked.add(client.endpoint)
