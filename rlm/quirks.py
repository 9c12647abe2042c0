"""Provider quirks: what an endpoint refuses in a request that the protocol allows, each one
small class. A quirk is learned from the endpoint's own refusal (an HTTP 400 whose words it
knows); the client then adjusts every later request to that endpoint and tries the refused one
again at once. To teach the client a new quirk, add a class to `QUIRKS`."""

from __future__ import annotations

from typing import Any, ClassVar

Messages = list[dict[str, Any]]


class Quirk:
    """One thing an endpoint refuses: `refusal` holds lower-case words of its error message."""

    name: ClassVar[str] = ""
    refusal: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def refused(cls, message: str) -> bool:
        said = message.lower()
        return any(words in said for words in cls.refusal)

    def adjust(self, messages: Messages) -> Messages:
        raise NotImplementedError


class AlternatingRoles(Quirk):
    """Chat templates that take user and assistant turns strictly in turn (llama.cpp's server
    with Mistral's or Gemma's template, some vLLM models): consecutive messages of one role are
    joined into one, with a blank line between."""

    name = "alternating roles"
    refusal = ("roles must alternate", "cannot have 2 or more assistant messages", "must alternate between")

    def adjust(self, messages: Messages) -> Messages:
        out: Messages = []
        for message in messages:
            if out and out[-1].get("role") == message.get("role") and _text(out[-1]) and _text(message):
                out[-1] = {**out[-1], "content": f"{out[-1]['content']}\n\n{message['content']}"}
            else:
                out.append(dict(message))
        return out


class NoSystemRole(Quirk):
    """Templates with no system role (Gemma's): the system message becomes the head of the first
    user message."""

    name = "no system role"
    refusal = ("system role not supported", "system role is not supported", "system message is not supported")

    def adjust(self, messages: Messages) -> Messages:
        system = [m for m in messages if m.get("role") == "system" and _text(m)]
        rest = [dict(m) for m in messages if m.get("role") != "system"]
        if not system:
            return rest
        head = "\n\n".join(m["content"] for m in system)
        first = next((m for m in rest if m.get("role") == "user" and _text(m)), None)
        if first is None:
            return [{"role": "user", "content": head}, *rest]
        first["content"] = f"{head}\n\n{first['content']}"
        return rest


def _text(message: dict[str, Any]) -> bool:
    return isinstance(message.get("content"), str)


QUIRKS: tuple[type[Quirk], ...] = (AlternatingRoles, NoSystemRole)


def quirk_for(message: str) -> type[Quirk] | None:
    """The quirk an endpoint's refusal names, if it is one we know."""
    return next((q for q in QUIRKS if q.refused(message)), None)
