"""What comes back from the kernel, checked and capped: the `rlm` part of a reply, texts cut
to a bound, counts that are non-negative ints. A kernel can send anything; the host builds
nothing from it without passing through here."""

from __future__ import annotations

from typing import Any

from sandbox.kernel.caps import FINAL_MAX_CHARS, cap_final, cap_text
from sandbox.kernel.wire import scrub_text
from sandbox.results import VariableInfo, Variables

ERROR_CHARS = 20_000  # an error text from the kernel, at least this much is kept
NAME_CHARS = 200  # a variable's name or type
MAX_VARIABLES = 1000  # variables listed (a kernel that sends more is cut)


def rlm_payload(reply: Any) -> dict[str, Any]:
    """The `rlm` part of an execute_reply, or {} if the kernel sent something else."""
    content = reply.get("content") if isinstance(reply, dict) else None
    payload = content.get("rlm") if isinstance(content, dict) else None
    return payload if isinstance(payload, dict) else {}


def capped(value: Any, limit: int | None) -> str:
    """`value` (JSON from the kernel) as text, cut to about `limit` characters if given."""
    try:
        text = scrub_text(value if isinstance(value, str) else str(value))
    except Exception:  # e.g. RecursionError on a deeply nested list
        text = f"<{type(value).__name__}>"
    if limit is not None and len(text) > limit:
        text = cap_text(text, limit)[0]
    return text


def final_text(value: Any) -> str:
    """A final answer or a variable's text from the kernel, cut at FINAL_MAX_CHARS unless the
    kernel already did (its marker may follow)."""
    text = capped(value, None)
    return text if len(text) <= FINAL_MAX_CHARS + 200 else cap_final(text)


def count(value: Any) -> int:
    """A count from the kernel: a non-negative int, else 0."""
    return min(value, 2**63) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def variables_of(found: Any) -> Variables:
    """The kernel's listing of its variables, bounded: the first MAX_VARIABLES, each name and
    type cut; `.total` says how many there are in all."""
    listed = found.get("variables") if isinstance(found, dict) else None
    out = Variables(VariableInfo(capped(v.get("name"), NAME_CHARS), capped(v.get("type"), NAME_CHARS),
                                 count(v.get("size")))
                    for v in (listed if isinstance(listed, list) else [])[:MAX_VARIABLES]
                    if isinstance(v, dict))
    out.total = max(len(out), count(found.get("total")) if isinstance(found, dict) else 0)
    return out
