"""Provider quirks, against scripted servers that refuse what real ones refuse: the client
learns the quirk from the refusal, sends the request again adjusted, and adjusts every later
request to that endpoint; a refusal it does not know still fails at once."""

from __future__ import annotations

import asyncio
import json

import pytest
from scripted_server import Call, Fault, ScriptedServer

from rlm import RLM, ModelClient, ModelError

LLAMA_CPP = Fault(400, json.dumps({"error": {"code": 400, "type": "invalid_request_error",
                                             "message": "Cannot have 2 or more assistant messages at the end of the list."}}))
GEMMA = Fault(400, json.dumps({"error": {"message": "System role not supported", "type": "BadRequestError"}}))
UNKNOWN = Fault(400, json.dumps({"error": {"message": "temperature must be at most 2", "type": "invalid"}}))


def alternating(call: Call) -> str | Fault:
    roles = [m["role"] for m in call.messages]
    if any(a == b for a, b in zip(roles, roles[1:], strict=False)):
        return LLAMA_CPP
    return "ok " + "|".join(roles)


def chat(server: ScriptedServer, messages: list[dict]) -> str:
    async def go() -> str:
        client = ModelClient(base_url=server.url, api_key="k", max_retries=0)
        try:
            return (await client.chat("m", messages)).text
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_consecutive_messages_of_one_role_are_joined_once_the_endpoint_refuses_them():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a1"}, {"role": "assistant", "content": "a2"}]
    with ScriptedServer({"m": alternating}) as server:
        assert chat(server, messages) == "ok system|user|assistant"
        sent = [c.messages for c in server.calls_to("m")]
    assert len(sent) == 2  # refused once, then adjusted: no retry budget was needed (max_retries=0)
    assert sent[1][-1]["content"] == "a1\n\na2"


def test_a_learned_quirk_adjusts_every_later_request_of_that_client():
    async def go(server: ScriptedServer) -> list[str]:
        client = ModelClient(base_url=server.url, api_key="k", max_retries=0)
        twice = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
        try:
            return [(await client.chat("m", twice)).text for _ in range(3)]
        finally:
            await client.aclose()

    with ScriptedServer({"m": alternating}) as server:
        assert asyncio.run(go(server)) == ["ok user"] * 3
        assert len(server.calls_to("m")) == 4  # one refusal in all


def test_a_refusal_that_names_no_known_quirk_fails_at_once():
    with ScriptedServer({"m": lambda call: UNKNOWN}) as server:
        with pytest.raises(ModelError, match="temperature must be at most 2"):
            chat(server, [{"role": "user", "content": "q"}])
        assert len(server.calls_to("m")) == 1


def test_a_run_against_an_endpoint_with_no_system_role_answers(tmp_path):
    def root(call: Call) -> str | Fault:
        if any(m["role"] == "system" for m in call.messages):
            return GEMMA
        assert call.messages[0]["role"] == "user" and "repl" in call.messages[0]["content"]
        turn = sum(1 for m in call.messages if m["role"] == "assistant")
        return ["```repl\nn = len(context)\nprint(n)\n```", "FINAL_VAR(n)"][min(turn, 1)]

    with ScriptedServer({"root": root}) as server:
        result = RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
                     cache=False, max_retries=0).completion("abcdef", "how long?")
        refused = sum(1 for c in server.calls_to("root") if any(m["role"] == "system" for m in c.messages))
    assert (result.answer, result.status) == ("6", "ok")
    assert refused == 1
