"""The OpenAI SDK adapter: `openai.AsyncOpenAI` against one OpenAI-compatible endpoint, one
attempt at a time. It makes the request (bounded in time as a whole), turns the reply into a
`Completion` (token counts estimated from characters where the server reports none), and says
of an error of one attempt what it was, its HTTP status, whether it is worth retrying and
after how long the server asked to wait. Retrying is `rlm.retry`'s; the call cache and the
sharing of identical requests are `rlm.client`'s.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import json
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import openai

from rlm.errors import ModelError
from rlm.usage import content_parts, estimate_tokens

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_VERSIONED = re.compile(r"/v\d+[a-z0-9]*$")  # an API path's last part: /v1, /v1beta, /v4


def _transport_errors() -> tuple[type[Exception], ...]:
    """The HTTP library's own error base (httpx2 for recent SDKs, httpx for older ones). The SDK
    wraps what the transport raises in APIConnectionError; these are caught in case one slips by."""
    found: list[type[Exception]] = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).HTTPError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()
# What the SDK lets through when a 200's body cannot be decoded (a JSON content type with a
# body that is not JSON, or not UTF-8). A body that decodes to the wrong shape (an HTML page
# sent as text/html, JSON without `choices`) comes back as a value instead: see `_reply_text`.
BODY_ERRORS = (json.JSONDecodeError, UnicodeDecodeError)


@dataclass
class Completion:
    """One model reply: its text, token counts (estimated from characters when the server
    reports none), latency of the successful attempt and how many attempts it took."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    latency_s: float
    attempts: int
    usage_estimated: bool = False
    from_cache: bool = False  # served by the call cache: no request was made, nothing was spent
    finish_reason: str | None = None  # "length": the reply was cut by the token limit


def retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def describe(exc: BaseException) -> tuple[str, int | None, bool]:
    """(message, HTTP status, retryable) for an error of one attempt."""
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = str(getattr(exc, "message", "") or exc)[:300]
        detail = re.sub(rf"^Error code: {status}( - )?", "", detail)  # the SDK's words for the status again
        said = f"HTTP {status}: {detail}" if detail else f"HTTP {status} with an empty body"
        return said, status, status in RETRYABLE_STATUS or status >= 500
    if isinstance(exc, openai.APITimeoutError):
        return "the request timed out", None, True
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"connection failed ({type(cause).__name__}: {cause})", None, True
    if isinstance(exc, TRANSPORT_ERRORS):
        return f"connection failed ({type(exc).__name__}: {exc})", None, True
    if isinstance(exc, MalformedReply):
        return f"malformed reply ({exc})", None, True
    if isinstance(exc, openai.APIResponseValidationError):
        return f"malformed reply ({type(exc).__name__}: {str(exc)[:200]})", None, True
    return f"{type(exc).__name__}: {exc}", None, False


class MalformedReply(Exception):
    """The endpoint answered, but not with a chat completion (HTML, no `choices`...)."""


# the errors of one attempt that are the server's or the network's doing: described by
# `_describe`, retried when it says so, then ModelError
SERVER_ERRORS: tuple[type[Exception], ...] = (openai.OpenAIError, MalformedReply, *TRANSPORT_ERRORS)


def _http_module() -> Any:
    """The HTTP library the SDK uses (httpx2 for recent SDKs, httpx for older ones)."""
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("the openai SDK's HTTP library (httpx2 or httpx) is not installed")


async def within(call: Any, timeout_s: float, method: str, url: str) -> Any:
    """Await the SDK's request `call` for at most `timeout_s` in all, else APITimeoutError. The
    SDK's own timeout bounds each read of the socket, not the request: a server that sends its
    headers and then a byte a second would hold it for ever."""
    try:
        return await asyncio.wait_for(call, max(timeout_s, 0.001))
    except TimeoutError:
        raise openai.APITimeoutError(request=_http_module().Request(method, url)) from None


async def _sdk_call(call: Any, timeout_s: float, url: str) -> Any:
    """Await the SDK's request (`within` timeout_s); a body it could not decode becomes
    MalformedReply. Everything else it raises that is not an openai error (a TypeError for a
    request argument it cannot serialise...) comes from our side and propagates unchanged."""
    try:
        return await within(call, timeout_s, "POST", url)
    except BODY_ERRORS as exc:
        raise MalformedReply(f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def _reply_text(resp: Any) -> str:
    """The text of a chat completion, or MalformedReply naming what is missing."""
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list):
        kind = "an HTML page" if isinstance(resp, str) and "<html" in resp[:500].lower() else type(resp).__name__
        raise MalformedReply(f"the endpoint answered with {kind}, not a chat completion (no 'choices')")
    if not choices:
        raise MalformedReply("the reply has an empty 'choices' list")
    message = getattr(choices[0], "message", None)
    if message is None:
        raise MalformedReply("the reply's first choice has no 'message'")
    text = getattr(message, "content", None)
    if text is None and getattr(message, "refusal", None):
        text = f"[refused: {message.refusal}]"
    return text if isinstance(text, str) else ""


def _finish_reason(resp: Any) -> str | None:
    reason = getattr(resp.choices[0], "finish_reason", None)
    return reason if isinstance(reason, str) else None


class OpenAIEndpoint:
    """One endpoint (base_url None = OpenAI), spoken to through the openai SDK with its own
    retries off."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout_s: float) -> None:
        # the openai client's own pool (1,000 connections) is ample for the broker's limit
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "no-key-needed", base_url=base_url, max_retries=0, timeout=timeout_s,
        )

    @property
    def endpoint(self) -> str:
        return str(self._client.base_url).rstrip("/")

    def not_found_hint(self, path: str) -> str:
        """What to add to a 404 for `path`: the URL tried, and, when the base URL ends in no API
        version, that it probably needs /v1 (a server's bare address is a common mistake)."""
        said = f"(POST {self.endpoint}/{path})"
        if not _VERSIONED.search(urllib.parse.urlsplit(self.endpoint).path):
            said += f"; the base URL probably needs /v1: {self.endpoint}/v1"
        return said

    async def aclose(self) -> None:
        await self._client.close()

    async def preflight(self, timeout_s: float = 15.0) -> None:
        """Fail fast, with a clear message, when the endpoint is unreachable or refuses the key.
        Servers that do not implement GET /models (404/405) count as reachable."""
        try:
            # raw: only the status matters, and a body in some other shape is no failure
            await within(self._client.models.with_raw_response.list(timeout=timeout_s), timeout_s,
                         "GET", f"{self.endpoint}/models")
        except openai.AuthenticationError as exc:
            raise ModelError(f"{self.endpoint} refused the API key (HTTP 401): check OPENAI_API_KEY",
                             status_code=401) from exc
        except openai.PermissionDeniedError as exc:
            raise ModelError(f"{self.endpoint} denied access (HTTP 403): {exc.message}",
                             status_code=403) from exc
        except (openai.NotFoundError, openai.UnprocessableEntityError):
            return
        except openai.APIStatusError as exc:
            if exc.status_code in (405, 501) or exc.status_code in RETRYABLE_STATUS:
                return  # reachable; the run's own retries deal with a busy server
            raise ModelError(f"{self.endpoint} answered HTTP {exc.status_code}: {exc.message}",
                             status_code=exc.status_code) from exc
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise ModelError(
                f"cannot reach the model endpoint {self.endpoint}: {describe(exc)[0]}; "
                "check --base-url / OPENAI_BASE_URL and that the server is running"
            ) from exc

    async def served_models(self, timeout_s: float = 15.0) -> set[str] | None:
        """The model ids the endpoint lists (GET /models), or None when it lists none or does
        not answer that request (many servers do not implement it)."""
        try:
            page = await within(self._client.models.list(timeout=timeout_s), timeout_s, "GET",
                                f"{self.endpoint}/models")
            ids = {str(m.id) for m in page.data}
        except (openai.OpenAIError, AttributeError, TypeError, ValueError):
            return None
        return ids or None

    async def attempt(self, model: str, messages: list[dict[str, Any]], timeout_s: float,
                      kwargs: dict[str, Any], attempts: int) -> Completion:
        """One request: the reply as a Completion, or one of SERVER_ERRORS."""
        started = time.monotonic()
        resp = await _sdk_call(self._client.chat.completions.create(
            model=model, messages=messages, timeout=timeout_s, **kwargs  # type: ignore[arg-type]
        ), timeout_s, f"{self.endpoint}/chat/completions")
        text = _reply_text(resp)
        return _completion(resp, model, text, messages, time.monotonic() - started, attempts)


def _completion(resp: Any, model: str, text: str, messages: list[dict[str, str]],
                latency: float, attempts: int) -> Completion:
    usage = getattr(resp, "usage", None)
    prompt = _count(getattr(usage, "prompt_tokens", None))
    completion = _count(getattr(usage, "completion_tokens", None))
    if prompt is None or completion is None:
        chars = sum(len(text) + pictures * 4_000 for text, pictures in (content_parts(m.get("content"))
                                                                          for m in messages))
        return Completion(text, model, estimate_tokens(chars), estimate_tokens(len(text)), 0,
                          latency, attempts, usage_estimated=True, finish_reason=_finish_reason(resp))
    details = getattr(usage, "prompt_tokens_details", None)
    cached = _count(getattr(details, "cached_tokens", None)) or 0
    return Completion(text, model, prompt, completion, cached, latency, attempts,
                      finish_reason=_finish_reason(resp))


def _count(value: Any) -> int | None:
    """A token count the server reported, or None when it reported none or something that is
    not a number (the counts are then estimated from characters)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None
