"""`model="local"`: the run's settings pointed at the embedded model's server, prepared on
first use and started for the run (rlm/local_model.py does the work)."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rlm import local_model
from rlm.config import LOCAL_MODEL, RLMConfig
from rlm.errors import ConfigError

# the local model reads about 80 tokens a second on two cores: a prompt of 24,000 characters
# (about 7,500 tokens) takes a minute and a half, which is as long as a sub-call should wait
LOCAL_SUB_WINDOW_CHARS = 24_000


def _progress(message: str) -> None:
    print(f"rlm: {message}", file=sys.stderr, flush=True)


@asynccontextmanager
async def local_model_for(config: RLMConfig) -> AsyncIterator[RLMConfig]:
    """`config` as it is, or, when its model is "local", with the local server's endpoint and
    model name for as long as the block runs (the server stops after it)."""
    if LOCAL_MODEL not in (config.model, config.sub_model):
        yield config
        return
    if config.model != LOCAL_MODEL:
        raise ConfigError('sub_model="local" needs model="local" too (the local server serves one model)')
    if config.base_url:
        raise ConfigError('model="local" runs its own server: leave base_url unset')
    if not local_model.is_prepared():
        _progress("first use of the local model: fetching Qwen2.5-Coder-1.5B-Instruct and building its "
                  "server, once (a hosted or larger model answers far better)")
        try:
            await asyncio.to_thread(local_model.prepare, None, _progress)
        except (local_model.LocalModelError, OSError) as exc:
            raise ConfigError(f"the local model could not be prepared: {exc}") from exc
    try:
        server = await asyncio.to_thread(local_model.LocalServer.start)
    except (local_model.LocalModelError, OSError) as exc:
        raise ConfigError(f"the local model's server did not start: {exc}") from exc
    name = local_model.MODEL_NAME
    try:
        yield dataclasses.replace(
            config, model=name, sub_model=name, base_url=server.base_url, api_key="local",
            sub_base_url=None, sub_api_key=None, models=[name],
            prices={name: {"input": 0.0, "output": 0.0}, **config.prices},
            sub_window_chars=config.sub_window_chars or LOCAL_SUB_WINDOW_CHARS)
    finally:
        await asyncio.to_thread(server.stop)
