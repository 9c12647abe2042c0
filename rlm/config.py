"""Settings of the controller: one dataclass, resolved from arguments, then the environment
(`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `RLM_MODEL`, `RLM_SUB_MODEL`, `RLM_SUB_BASE_URL`,
`RLM_SUB_API_KEY`, `RLM_HOME`), then the rlm.toml files (the user directory's, then the working
directory's, which may set keys, endpoints, models, prices, paths and isolation only once the
user trusted it: `rlm.trust`), then defaults."""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import hashlib
import json
import math
import os
import tomllib
import urllib.parse
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlm.errors import ConfigError, ConfigWarning
from rlm.pricing import PriceTable, parse_price
from rlm.trust import Ignored, screen, trust_state
from sandbox import SandboxConfig

ENV = {
    "api_key": "OPENAI_API_KEY",
    "base_url": "OPENAI_BASE_URL",
    "model": "RLM_MODEL",
    "sub_model": "RLM_SUB_MODEL",
    "sub_base_url": "RLM_SUB_BASE_URL",
    "sub_api_key": "RLM_SUB_API_KEY",
}
SECRET_FIELDS = ("api_key", "sub_api_key")
NAMED_MODEL_KEYS = frozenset({"model", "base_url", "api_key", "price"})
# the fields `validate` checks the type of (what the settings code itself relies on)
_TEXT_FIELDS = ("model", "sub_model", "base_url", "api_key", "sub_base_url", "sub_api_key")
_INT_FIELDS = ("max_iterations", "max_depth", "max_concurrency", "max_children", "max_retries",
               "observation_chars", "memory_chars", "memory_tokens", "doc_chars", "cache_max_bytes",
               "trajectory_bytes", "context_preview_chars", "max_tool_calls")
_NUMBER_FIELDS = ("request_timeout_s", "retry_base_s", "retry_max_s", "tool_timeout_s")
_OPTIONAL_NUMBER_FIELDS = ("max_cost_usd", "max_tokens", "max_wall_s", "max_sub_calls", "sub_window_chars",
                           "unstick_temperature")
LOCAL_MODEL = "local"
"""The model name that runs the embedded model (rlm/local_model.py) on this machine."""


def user_dir() -> Path:
    """Where runs and the user's rlm.toml live: $RLM_HOME, else ~/.rlm."""
    env = os.environ.get("RLM_HOME")
    return Path(env).expanduser() if env else Path.home() / ".rlm"


@dataclass
class RLMConfig:
    """Everything a run needs besides the context and the question.

    model / base_url / api_key: the root model and its endpoint (None base_url = OpenAI).
    sub_model / sub_base_url / sub_api_key: where `llm_query*` and child RLMs go (default:
        the root's).
    models: further model names that model code may pick with `llm_query(..., model=NAME)`:
        a list of names (models on the sub-model's endpoint), or named models, a dict of
        NAME -> {"model": the model's own id (default NAME), "base_url", "api_key", "price":
        {"input", "output"} USD per million tokens}: `models={"skim": {"model": "gpt-5-nano"},
        "judge": {"model": "o3", "base_url": ...}}`. Usage and cost are counted per NAME. Model
        code may name only these, the model and the sub-model: any other name is refused with
        the list of allowed ones.
    max_iterations: model turns per run (each child run has its own count).
    max_depth: levels of RLMs; 1 means only the root is an RLM and `rlm_query` falls back
        to `llm_query`; 2 lets the root start child RLMs, and so on.
    max_cost_usd, max_tokens, max_wall_s, max_sub_calls: budgets shared by a run and its
        children; None means no limit. Under max_cost_usd every model a run may call must be
        priced, and each call is admitted only if its worst case (every prompt byte a token,
        plus its output cap) still fits.
    max_concurrency: sub-calls in flight at once (lowered automatically after repeated 429s).
    max_children: child RLMs running at once per depth level.
    request_timeout_s, max_retries, retry_base_s, retry_max_s: per request; retries use
        exponential backoff with full jitter and honour Retry-After.
    history: "folded" keeps old observations as stubs naming `Out[n]`; "full" keeps them all.
    observation_chars: cap on the latest observation shown to the root model.
    sub_window_chars: the most characters one sub-call prompt may carry; the system prompt states
        it and a longer prompt is refused in the kernel. None: read from the sub-model's server
        where it says (llama.cpp, vLLM, LM Studio list their context size), else 100,000.
    runs_dir: where trajectories go (default <user_dir>/runs); trajectory=False writes none.
    trajectory_bytes: the most a run's trajectory files may hold, its child runs' included
        (default 64 MiB): every recorded field has a cap, and past 7/8 of this events are
        recorded in short form (each file says so once); the root's final and totals always fit.
    prices: per-model price overrides (USD per million tokens).
    model_kwargs: extra arguments for every chat completion (e.g. {"temperature": 0}).
    preflight: check the endpoint and key before starting the sandbox.
    sub_calls: False disables `llm_query*` and `rlm_query*` in the kernel (the paper's
        "RLM without sub-calls" ablation); they answer with an error string.
    context_preview_chars: how much of the context's head the first message shows (its first
        lines, or a list's first items), so that code is written for the data as it is spelled;
        0 shows none.
    unstick_temperature: when the model repeats a cell with the same result while `model_kwargs`
        sets a temperature below this one, its next call is sampled at this temperature (a model
        decoding greedily repeats itself word for word, whatever it is told); None never does.
        The temperature is only raised where the run already sends one, so an endpoint that
        refuses the parameter never sees it.
    answer_check: question a final answer once when nothing the model saw supports it (a number
        it never printed, words it never read) or when it was read beside a longer name than the
        question's, and refuse sub-calls whose prompts are short strings written whole in the
        code once the model was told; False takes every answer as it comes and sends every call.
    notes: the notes store's directory; None (or True) means the corpus's own store in the
        user's rlm directory (<user_dir>/notes/, as `rlm query` keeps it: by the files' resolved
        paths, or by a hash of a text's content), False turns notes off (no store, no memories,
        no archive, no notes turn).
    notes_turn: after each run, one more model turn asks for memories and docs (its cost is
        counted in the run's usage).
    memory_chars, memory_tokens, doc_chars: the notes budgets (per memory, all live memories
        together, per document).
    cache: the call cache (model replies stored by request, so a request made before costs
        nothing): None or True is <user_dir>/cache.db, a path names the file, False turns it off.
    cache_max_bytes: the cache's size bound (least recently used entries go first).
    max_tool_calls, tool_timeout_s: for the user's tools (`RLM(tools=...)`): the calls one run
        and its sub-runs may make together, and how long one call may take before the calling
        cell gets a TimeoutError.
    """

    model: str | None = None
    sub_model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    sub_base_url: str | None = None
    sub_api_key: str | None = None
    models: list[str] | dict[str, dict[str, Any]] = field(default_factory=list)
    max_iterations: int = 30
    max_depth: int = 1
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    max_wall_s: float | None = None
    max_sub_calls: int | None = None
    max_concurrency: int = 64
    max_children: int = 4
    request_timeout_s: float = 120.0
    max_retries: int = 6
    retry_base_s: float = 0.5
    retry_max_s: float = 30.0
    history: Literal["folded", "full"] = "folded"
    observation_chars: int = 20_000
    sub_window_chars: int | None = None
    runs_dir: Path | None = None
    trajectory: bool = True
    trajectory_bytes: int = 64 << 20
    prices: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    preflight: bool = True
    sub_calls: bool = True
    context_preview_chars: int = 1000
    unstick_temperature: float | None = 0.7
    answer_check: bool = True
    notes: Path | bool | None = None
    notes_turn: bool = True
    memory_chars: int = 500
    memory_tokens: int = 2000
    doc_chars: int = 50_000
    cache: Path | bool | None = None
    cache_max_bytes: int = 1 << 30
    max_tool_calls: int = 100
    tool_timeout_s: float = 60.0
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that cannot work."""
        self._check_types()
        if not self.model:
            raise ConfigError(
                "no model given: pass model=..., or set RLM_MODEL (or `model` in rlm.toml)",
                cli_message="no model given: pass --model NAME (e.g. --model gpt-5-mini), or set RLM_MODEL "
                            "(or `model` in rlm.toml)")
        if self.max_iterations < 1:
            raise ConfigError("max_iterations must be at least 1")
        if self.max_depth < 1:
            raise ConfigError("max_depth must be at least 1 (1 = no recursive child runs)")
        for name in ("max_cost_usd", "max_tokens", "max_wall_s", "max_sub_calls"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                raise ConfigError(f"{name} must be a positive finite number (or None for no limit)")
        if self.unstick_temperature is not None and not 0 < self.unstick_temperature <= 2:
            raise ConfigError("unstick_temperature must be above 0 and at most 2 (or None: never)")
        if not 0 <= self.context_preview_chars <= 20_000:
            raise ConfigError("context_preview_chars must be from 0 to 20000")
        if self.sub_window_chars is not None and self.sub_window_chars < 1000:
            raise ConfigError("sub_window_chars must be at least 1000 (or None: read from the server)")
        for name in ("max_concurrency", "max_children", "observation_chars", "memory_chars",
                     "memory_tokens", "doc_chars", "cache_max_bytes", "trajectory_bytes", "max_tool_calls"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if not 0 < self.tool_timeout_s < math.inf:
            raise ConfigError("tool_timeout_s must be a positive finite number of seconds")
        if self.request_timeout_s <= 0 or self.max_retries < 0 or self.retry_base_s < 0:
            raise ConfigError("request_timeout_s must be positive; max_retries and retry_base_s not negative")
        if self.history not in ("folded", "full"):
            raise ConfigError(f"history must be 'folded' or 'full', not {self.history!r}")
        if self.api_key is None and self.base_url is None and self.model != LOCAL_MODEL:
            raise ConfigError(
                "no API key: set OPENAI_API_KEY (or pass api_key=... / put it in rlm.toml); "
                "for a local server that needs none, pass its base_url=...",
                cli_message="no API key: set OPENAI_API_KEY (or `api_key` in rlm.toml); for a local server "
                            "that needs none, give its --base-url")
        table = self.price_table()
        if self.max_cost_usd is not None:
            for m in self.allowed_models:
                if table.get(m) is None and m in self.named_models:
                    raise ConfigError(
                        f"max_cost_usd is set but the named model {m!r} has no price; give it one: "
                        f'models={{"{m}": {{..., "price": {{"input": ..., "output": ...}}}}}} (USD per million '
                        f'tokens), or [models.{m}.price] in rlm.toml')
                if table.get(m) is None:
                    raise ConfigError(
                        f"max_cost_usd is set but model {m!r} has no price; add one with "
                        f'prices={{"{m}": {{"input": ..., "output": ...}}}} or [prices."{m}"] in rlm.toml',
                        cli_message=f"--max-cost is set but model {m!r} has no price: add [prices.\"{m}\"] "
                                    "in rlm.toml (input and output, USD per million tokens)")

    def _check_types(self) -> None:
        """ConfigError for a value of the wrong type (from rlm.toml, or passed by name), rather
        than a TypeError at the first comparison or in the middle of a run."""
        def wrong(name: str, expected: str) -> ConfigError:
            value = getattr(self, name)
            return ConfigError(f"{name} must be {expected}, not {type(value).__name__} {value!r}"[:300])

        def is_number(value: Any) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        for name in _TEXT_FIELDS:
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise wrong(name, "a string")
        for name in _INT_FIELDS:
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise wrong(name, "an integer")
        for name in _NUMBER_FIELDS:
            if not is_number(getattr(self, name)):
                raise wrong(name, "a number")
        for name in _OPTIONAL_NUMBER_FIELDS:
            if getattr(self, name) is not None and not is_number(getattr(self, name)):
                raise wrong(name, "a number (or None for no limit)")
        for name in ("trajectory", "preflight", "sub_calls", "notes_turn", "answer_check"):
            if not isinstance(getattr(self, name), bool):
                raise wrong(name, "true or false")
        if self.runs_dir is not None and not isinstance(self.runs_dir, (str, os.PathLike)):
            raise wrong("runs_dir", "a directory")
        if self.notes is not None and not isinstance(self.notes, (bool, str, os.PathLike)):
            raise wrong("notes", "a directory, or false")
        if self.cache is not None and not isinstance(self.cache, (bool, str, os.PathLike)):
            raise wrong("cache", "a file, true or false")
        if not isinstance(self.sandbox, SandboxConfig):
            raise wrong("sandbox", "a SandboxConfig (a [sandbox] table in rlm.toml)")
        if isinstance(self.models, Mapping):
            for name, spec in self.models.items():
                if not isinstance(name, str) or not name.strip() or not isinstance(spec, Mapping):
                    raise wrong("models", "a list of model names, or a dict of name -> {model, base_url, "
                                          "api_key, price}")
                unknown = set(spec) - NAMED_MODEL_KEYS
                if unknown:
                    raise ConfigError(f"models[{name!r}] has unknown keys {sorted(unknown)}; "
                                      f"it may have {sorted(NAMED_MODEL_KEYS)}")
                for key in ("model", "base_url", "api_key"):
                    if spec.get(key) is not None and not isinstance(spec[key], str):
                        raise ConfigError(f"models[{name!r}][{key!r}] must be a string")
        elif not isinstance(self.models, (list, tuple)) or not all(
                isinstance(m, str) and m.strip() for m in self.models):
            raise wrong("models", "a list of model names")
        for name in ("prices", "model_kwargs"):
            if not isinstance(getattr(self, name), Mapping):
                raise wrong(name, "a mapping (a table in rlm.toml)")
        try:  # sent with every request: what cannot be sent is a setting that cannot work
            json.dumps(self.model_kwargs, default=_json_extra)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"model_kwargs cannot be sent as JSON: {exc}") from exc

    def price_table(self) -> PriceTable:
        """`prices` over the defaults; a named model is priced by its own `price`, else as the
        model it names (counted under its name)."""
        table = PriceTable(self.prices)
        for name, spec in self.named_models.items():
            if spec.get("price") is not None:
                table.prices[name] = parse_price(name, spec["price"])
            elif name not in self.prices and table.get(name) is None:
                found = table.get(spec["model"])
                if found is not None:
                    table.prices[name] = found
        return table

    @property
    def named_models(self) -> dict[str, dict[str, Any]]:
        """The named models (`models` as a dict), each with its `model` id filled in."""
        if not isinstance(self.models, Mapping):
            return {}
        return {name: {**spec, "model": spec.get("model") or name} for name, spec in self.models.items()}

    def endpoints(self) -> tuple[tuple[str | None, str | None], tuple[str | None, str | None]]:
        """(base URL, API key) of the model's endpoint and of the sub-model's: the sub-model has an
        endpoint of its own only when `sub_base_url` names another one."""
        key = self.api_key or os.environ.get("OPENAI_API_KEY")
        root = (self.base_url, key)
        if self.sub_base_url and self.sub_base_url != self.base_url:
            return root, (self.sub_base_url, self.sub_api_key or key)
        return root, root

    @property
    def effective_sub_model(self) -> str:
        return self.sub_model or self.model or ""

    @property
    def allowed_models(self) -> list[str]:
        """The models a run may call: the model, the sub-model and `models`, in that order."""
        names = [self.model or "", self.effective_sub_model, *list(self.models)]
        return list(dict.fromkeys(n for n in names if n))

    @property
    def notes_dir(self) -> Path | None:
        """The notes store's directory, or None when notes are off. Left at its default (None
        or True), a run uses its corpus's own store (`RLM.completion` sets it per run); the
        working directory's `.rlm/` here is only for code that reads the setting without a corpus."""
        if self.notes is False:
            return None
        if self.notes is None or self.notes is True:
            return Path.cwd() / ".rlm"
        return Path(self.notes).expanduser()

    @property
    def cache_path(self) -> Path | None:
        """The call cache's file, or None when the cache is off."""
        if self.cache is False:
            return None
        if self.cache is None or self.cache is True:
            return user_dir() / "cache.db"
        return Path(self.cache).expanduser()

    @property
    def effective_runs_dir(self) -> Path:
        return Path(self.runs_dir) if self.runs_dir is not None else user_dir() / "runs"

    def public_dict(self) -> dict[str, Any]:
        """The settings without secrets, for trajectories and --json output."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                value = "set" if value else None
            elif f.name == "models" and isinstance(value, Mapping):  # a named model's key is a secret too
                value = {n: {k: ("set" if v else None) if k == "api_key" else
                             without_credentials(v) if k == "base_url" else v for k, v in spec.items()}
                         for n, spec in value.items()}
            elif f.name in ("base_url", "sub_base_url"):
                value = without_credentials(value)
            elif f.name == "sandbox":
                value = {k: str(v) if isinstance(v, Path) else v for k, v in vars(value).items()}
            elif isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        return out


def without_credentials(url: Any) -> Any:
    """`url` without a user name and password in it (`https://user:key@host/v1` is a key)."""
    if not isinstance(url, str) or "@" not in url:
        return url
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _json_extra(value: Any) -> Any:
    """What the openai SDK's encoder sends besides plain JSON: dates and times (rlm.toml has
    them), pydantic models."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if callable(getattr(value, "model_dump", None)):
        return value.model_dump(mode="json")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def check_names(settings: Mapping[str, Any]) -> None:
    """Raise ConfigError for a name that is not an RLMConfig field, suggesting close ones."""
    known = [f.name for f in dataclasses.fields(RLMConfig)]
    for name in settings:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(known)}"
            raise ConfigError(f"unknown setting {name!r}{hint}")


def config_files(explicit: str | os.PathLike[str] | None = None) -> list[tuple[Path, bool]]:
    """The rlm.toml files a run reads, lowest precedence first, each with whether it is the
    user's own (trusted as it is): an explicit file alone (a directory: its rlm.toml); else the
    user directory's, then the working directory's (a project's, screened by `rlm.trust` unless
    the user trusted it)."""
    if explicit is not None:
        explicit = Path(explicit).expanduser()
        if explicit.is_dir():  # a project's directory: its rlm.toml, as `rlm config trust DIR` takes it
            if not (explicit / "rlm.toml").is_file():
                raise ConfigError(f"config file {explicit} is a directory with no rlm.toml in it")
            explicit = explicit / "rlm.toml"
        elif not explicit.exists():
            raise ConfigError(f"config file {explicit} does not exist")
        elif not explicit.is_file():
            raise ConfigError(f"config file {explicit} is not a regular file")
        return [(explicit, True)]
    files: list[tuple[Path, bool]] = []
    own = user_dir() / "rlm.toml"
    if own.is_file():
        files.append((own, True))
    project = Path.cwd() / "rlm.toml"
    if project.is_file() and not (own.is_file() and project.resolve() == own.resolve()):
        files.append((project, False))
    return files


def read_toml(path: Path) -> dict[str, Any]:
    """The settings of one rlm.toml, checked by name, with `[sandbox]` as a SandboxConfig."""
    return _sandbox_table(path, read_toml_raw(path)[0])


_MAX_TOML_BYTES = 1 << 20


def read_toml_raw(path: Path) -> tuple[dict[str, Any], str]:
    """The settings of one rlm.toml, checked by name only, and the SHA-256 of the very bytes
    parsed (what trust is checked against). A file over 1 MiB is refused, not read."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_TOML_BYTES + 1)
        if len(raw) > _MAX_TOML_BYTES:
            raise ConfigError(f"{path} is over 1 MiB: not an rlm.toml")
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    known = {f.name for f in dataclasses.fields(RLMConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown settings {unknown}; known: {sorted(known - {'sandbox'})}")
    return data, hashlib.sha256(raw).hexdigest()


def _sandbox_table(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    if "sandbox" in data:
        try:
            data["sandbox"] = SandboxConfig(**data["sandbox"])
        except (TypeError, ValueError) as exc:  # SandboxConfig checks its values with ValueError
            raise ConfigError(f"{path}: [sandbox] {exc}") from exc
    return data


def read_files(config_file: str | os.PathLike[str] | None = None) -> tuple[dict[str, Any], list[Ignored]]:
    """The settings of the rlm.toml files that apply (see `config_files`), merged, and what an
    untrusted project file asked for and was refused (`rlm.trust`)."""
    values: dict[str, Any] = {}
    refused: list[Ignored] = []
    defaults = {f.name: f.default for f in dataclasses.fields(RLMConfig)
                if f.default is not dataclasses.MISSING}
    for path, own in config_files(config_file):
        data, digest = read_toml_raw(path)
        if not own:
            trusted, changed = trust_state(path, digest, user_dir())
            if not trusted:
                ignored = Ignored(path, changed=changed)
                data = screen(data, {**defaults, **values}, ignored)
                if ignored:
                    refused.append(ignored)
        values.update(_sandbox_table(path, data))
    return values, refused


def resolve(args: Mapping[str, Any], config_file: str | os.PathLike[str] | None = None,
            environ: Mapping[str, str] | None = None) -> RLMConfig:
    """Build an RLMConfig: arguments that are not None win, then environment, then the rlm.toml
    files (`config_file` alone, else <user_dir>/rlm.toml, then ./rlm.toml, whose settings of
    keys, endpoints, models, prices, paths and isolation count only once the user trusted it:
    see `rlm.trust`), then the defaults. What an untrusted file could not set is said once as a
    `ConfigWarning`. Unknown names and an unreadable rlm.toml raise ConfigError; `validate()`
    checks the values."""
    env = os.environ if environ is None else environ
    values, refused = read_files(config_file)
    for ignored in refused:
        warnings.warn(ignored.message(), ConfigWarning, stacklevel=2)
    for name, var in ENV.items():
        if env.get(var):
            values[name] = env[var]
    check_names(args)
    for name, value in args.items():
        if value is not None:
            values[name] = value
    for name in ("runs_dir", "notes", "cache"):
        if isinstance(values.get(name), str):
            values[name] = Path(values[name]).expanduser()
    try:
        config = RLMConfig(**values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
    config.price_table()  # validates price overrides early
    return config
