"""Which rlm.toml may set what: the trust rule for configuration files.

A project's `./rlm.toml` travels with the project: `git clone` + `rlm query .` reads a file the
user never wrote. So a file in the working directory is *untrusted* until the user trusts it
once (`rlm config trust`, recorded by its resolved path and SHA-256 in
`<user_dir>/trusted.json`, as direnv's `allow` does; any edit of the file ends the trust).
An untrusted file may only:
- set the fields in `FREE_FIELDS`, which decide nothing about keys, isolation, files or money;
- lower the budgets and sizes in `LOWER_ONLY_FIELDS` (never raise them);
- turn off what `OFF_ONLY_FIELDS` names.
Every other field, including any added later (the rule is an allow-list), needs trust: the
endpoints and keys, the model names (they decide what is paid), prices, `[sandbox]` (isolation
and policy), and every path (runs, notes, cache). The user's own places (`<user_dir>/rlm.toml`,
an explicit `--config` / `config_file=`, the environment, options) are trusted as they are.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm.errors import ConfigError
from rlm.writable import ensure_dir

FREE_FIELDS = frozenset({"history", "preflight", "unstick_temperature"})
LOWER_ONLY_FIELDS = frozenset({
    "max_iterations", "max_depth", "max_cost_usd", "max_tokens", "max_wall_s", "max_sub_calls",
    "max_concurrency", "max_children", "max_retries", "observation_chars", "memory_chars",
    "memory_tokens", "doc_chars", "sub_window_chars", "context_preview_chars", "request_timeout_s",
    "retry_base_s", "retry_max_s", "max_tool_calls", "tool_timeout_s",
})
OFF_ONLY_FIELDS = frozenset({"notes_turn", "sub_calls", "notes", "answer_check"})

TRUST_FILE = "trusted.json"


@dataclass
class Ignored:
    """What an untrusted file asked for and did not get."""

    path: Path
    changed: bool = False  # trusted once, edited since
    needs_trust: list[str] = field(default_factory=list)
    not_lowered: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.needs_trust or self.not_lowered)

    def message(self) -> str:
        """One line: which settings were ignored, why, and how to trust the file."""
        state = "changed since you trusted it" if self.changed else "not trusted"
        parts = []
        if self.needs_trust:
            parts.append(f"ignored {', '.join(self.needs_trust)} (settings that decide where keys go, "
                         "how code is isolated, what is written where or paid)")
        if self.not_lowered:
            parts.append(f"ignored {', '.join(self.not_lowered)} (an untrusted file may only lower "
                         "budgets and sizes)")
        return (f"{self.path} is {state}: {'; '.join(parts)}; "
                f"`rlm config trust {_shell_word(self.path)}` trusts it as it is now")


def _shell_word(path: Path) -> str:
    text = str(path)
    if text and all(c.isalnum() or c in "/._-+,@%" for c in text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _store_path(home: Path) -> Path:
    return home / TRUST_FILE


def _read_store(home: Path) -> dict[str, str]:
    try:
        data = json.loads(_store_path(home).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the trusted files list {_store_path(home)}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{_store_path(home)} is not a JSON object of path -> sha256")
    return {str(k): str(v) for k, v in data.items()}


def _write_store(home: Path, entries: Mapping[str, str]) -> None:
    ensure_dir(home, "the trusted files list", setting="RLM_HOME", option="set RLM_HOME")
    fd, tmp = tempfile.mkstemp(prefix=".trusted-", dir=home)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(dict(sorted(entries.items())), f, indent=2)
            f.write("\n")
        os.replace(tmp, _store_path(home))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def trust_state(path: Path, digest: str, home: Path) -> tuple[bool, bool]:
    """(trusted, changed): whether `path`, whose content has SHA-256 `digest`, is trusted as
    it is, and whether it was trusted once with other content."""
    recorded = _read_store(home).get(str(path.resolve()))
    if recorded is None:
        return False, False
    return recorded == digest, recorded != digest


def trust(path: Path, digest: str, home: Path) -> None:
    """Record `path`, whose content has SHA-256 `digest`, as trusted."""
    entries = _read_store(home)
    entries[str(path.resolve())] = digest
    _write_store(home, entries)


def untrust(path: Path, home: Path) -> bool:
    """Forget the trust of `path`; False if it was not trusted."""
    entries = _read_store(home)
    if entries.pop(str(path.resolve()), None) is None:
        return False
    _write_store(home, entries)
    return True


def is_lower(new: Any, current: Any) -> bool:
    """Whether `new` is a budget or size no larger than `current` (None: no limit)."""
    if new is None or isinstance(new, bool) or not isinstance(new, (int, float)) or math.isnan(new):
        return False
    if current is None:
        return True
    return bool(new <= current)


def screen(data: Mapping[str, Any], current: Mapping[str, Any], ignored: Ignored) -> dict[str, Any]:
    """The settings of an untrusted file that it may set, given the values that would apply
    without it (`current`: settings read so far, else the defaults); what it may not set is
    named in `ignored`."""
    kept: dict[str, Any] = {}
    for name, value in data.items():
        if name in FREE_FIELDS:
            kept[name] = value
        elif name in LOWER_ONLY_FIELDS:
            if is_lower(value, current.get(name)):
                kept[name] = value
            else:
                ignored.not_lowered.append(name)
        elif name in OFF_ONLY_FIELDS and value is False:
            kept[name] = value
        else:
            ignored.needs_trust.append(f"[{name}]" if isinstance(value, Mapping) else name)
    return kept
