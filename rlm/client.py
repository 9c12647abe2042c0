"""The model client: chat completions against one OpenAI-compatible endpoint, assembled from
three pieces with one job each: the SDK adapter (`rlm.sdk_adapter`: one attempt), the retry
policy (`rlm.retry`: when to try again and after how long) and the call cache (`rlm.cache`: a
request made before is answered from it; identical requests in flight go out once). Provider
quirks (`rlm.quirks`) are learned from an endpoint's refusal and applied to what it is sent.

Retries are ours (the openai client's are off) so that each attempt can take and give back
a concurrency slot and report 429s to the adaptive limiter: exponential backoff with full
jitter, honouring `Retry-After` / `retry-after-ms`, on 429, 408, 409, 5xx, timeouts,
connection errors and malformed replies. Other HTTP errors (400, 401, 403, 404) fail at once.
Only what comes from the server or the transport is retried (`SERVER_ERRORS`); anything else
raised while making a request (a TypeError for arguments that cannot be sent...) is a bug on
our side and propagates at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from rlm.cache import CachedReply, CallCache, call_key
from rlm.errors import ModelError
from rlm.quirks import Quirk, quirk_for
from rlm.retry import RetryPolicy
from rlm.sdk_adapter import SERVER_ERRORS, Completion, OpenAIEndpoint, describe, retry_after

if TYPE_CHECKING:
    from rlm.config import RLMConfig

__all__ = ["Completion", "ModelClient", "Slots"]

log = logging.getLogger("rlm")


class Slots(Protocol):
    async def acquire(self) -> None: ...
    def release(self) -> None: ...
    def on_rate_limited(self) -> None: ...
    def on_success(self) -> None: ...


class ModelClient:
    """Chat completions against one endpoint (base_url None = OpenAI)."""

    @classmethod
    def for_config(cls, config: RLMConfig, base_url: str | None, api_key: str | None, *,
                   cache: CallCache | None = None) -> ModelClient:
        """The one way the controller and the evals make a client: one endpoint, with `config`'s
        timeout, retry and sampling settings."""
        return cls(base_url=base_url, api_key=api_key, timeout_s=config.request_timeout_s,
                   max_retries=config.max_retries, retry_base_s=config.retry_base_s,
                   retry_max_s=config.retry_max_s, model_kwargs=config.model_kwargs, cache=cache)

    def __init__(self, *, base_url: str | None, api_key: str | None, timeout_s: float = 120.0,
                 max_retries: int = 6, retry_base_s: float = 0.5, retry_max_s: float = 30.0,
                 model_kwargs: dict[str, Any] | None = None, cache: CallCache | None = None) -> None:
        self.base_url = base_url
        self.cache = cache
        self._in_flight: dict[str, asyncio.Future[Completion]] = {}
        self.timeout_s = timeout_s
        self.retry = RetryPolicy(max_retries, retry_base_s, retry_max_s)
        self.model_kwargs = dict(model_kwargs or {})
        self.quirks: list[Quirk] = []  # learned from this endpoint's refusals
        self._endpoint = OpenAIEndpoint(base_url, api_key, timeout_s)

    @property
    def endpoint(self) -> str:
        return self._endpoint.endpoint

    def not_found_hint(self, path: str) -> str:
        return self._endpoint.not_found_hint(path)

    async def aclose(self) -> None:
        await self._endpoint.aclose()

    async def preflight(self, timeout_s: float = 15.0) -> None:
        """Fail fast, with a clear message, when the endpoint is unreachable or refuses the key."""
        await self._endpoint.preflight(timeout_s)

    async def served_models(self, timeout_s: float = 15.0) -> set[str] | None:
        """The model ids the endpoint lists, or None when it lists none or does not answer."""
        return await self._endpoint.served_models(timeout_s)

    async def chat(self, model: str, messages: list[dict[str, str]], *, slots: Slots | None = None,
                   timeout_s: float | None = None, extra: dict[str, Any] | None = None,
                   retries: int | None = None) -> Completion:
        """One chat completion, retried (`retries`, default the client's); raises ModelError
        when it cannot be had. With a call cache, a request made before (same endpoint, model,
        messages and parameters) is answered from it, and identical requests in flight at the
        same time go to the endpoint once."""
        if self.cache is None:
            return await self._request(model, messages, slots, timeout_s, extra, retries)
        key = call_key(self.endpoint, model, messages, {**self.model_kwargs, **(extra or {})})
        cached = self.cache.get(key)
        if cached is not None:
            return Completion(cached.text, model, cached.prompt_tokens, cached.completion_tokens,
                              cached.cached_tokens, 0.0, 0, cached.usage_estimated, from_cache=True)
        while (pending := self._in_flight.get(key)) is not None:
            # the same request is on its way: share its reply (or its error), spend nothing
            try:
                done = await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
                continue  # the one making it was cancelled, not this one: make it here
            return dataclasses.replace(done, latency_s=0.0, attempts=0, from_cache=True)
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            completion = await self._request(model, messages, slots, timeout_s, extra, retries)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no warning when nobody else was waiting for it
            raise
        finally:
            self._in_flight.pop(key, None)
        future.set_result(completion)
        if completion.finish_reason != "length":  # a cut reply is no answer to keep
            self.cache.put(key, model, CachedReply(completion.text, completion.prompt_tokens,
                                                   completion.completion_tokens, completion.cached_tokens,
                                                   completion.usage_estimated))
        return completion

    def _adjusted(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for quirk in self.quirks:
            messages = quirk.adjust(messages)
        return messages

    def _learned(self, status: int | None, message: str) -> bool:
        """Whether a refusal names a quirk not learned yet (then learned: the request goes again)."""
        if status != 400:
            return False
        quirk = quirk_for(message)
        if quirk is None or any(type(q) is quirk for q in self.quirks):
            return False
        self.quirks.append(quirk())
        log.info("%s: %s; requests are adjusted from now on", self.endpoint, quirk.name)
        return True

    async def _request(self, model: str, messages: list[dict[str, str]], slots: Slots | None,
                       timeout_s: float | None, extra: dict[str, Any] | None,
                       retries: int | None) -> Completion:
        kwargs = {**self.model_kwargs, **(extra or {})}
        # timeout_s is what the caller has left (the run's wall budget): it bounds every attempt
        # and the waits between them together, not each attempt afresh
        deadline = None if timeout_s is None else time.monotonic() + max(0.1, timeout_s)
        attempt = 0
        while True:
            attempt += 1
            timeout = self.timeout_s if deadline is None else min(self.timeout_s, deadline - time.monotonic())
            if timeout <= 0:
                raise ModelError(f"{model}: no time left for another attempt after {attempt - 1} (the time "
                                 "given to the call ran out)", retryable=False)
            if slots is not None:
                await slots.acquire()
            try:
                completion = await self._endpoint.attempt(model, self._adjusted(messages), timeout, kwargs, attempt)
            except SERVER_ERRORS as exc:
                message, status, retryable = describe(exc)
                if slots is not None:
                    if status == 429:
                        slots.on_rate_limited()
                    slots.release()
                if self._learned(status, message):
                    continue
                if self.retry.gives_up(attempt, retryable, retries):
                    tries = f" after {attempt} attempts" if attempt > 1 else ""
                    if status == 404:
                        message += f" {self.not_found_hint('chat/completions')}"
                    raise ModelError(f"{model}: {message}{tries}", status_code=status,
                                     retryable=retryable) from exc
                delay = self.retry.delay(attempt, retry_after(exc), deadline)
                log.info("%s: %s; retry %d in %.2f s", model, message, attempt, delay)
                await asyncio.sleep(delay)
                continue
            except BaseException:  # cancelled, or our own error: give the slot back, retry nothing
                if slots is not None:
                    slots.release()
                raise
            if slots is not None:
                slots.on_success()
                slots.release()
            return completion
