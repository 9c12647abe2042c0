"""Text nothing can encode: a lone surrogate (chr(0xD800), or a broken \\ud800 escape in JSON)
anywhere a cell's result goes (its output, an error, a FINAL, a variable's name, a sub-call's
prompt) reaches the host as U+FFFD at once, in both policies; it once made the kernel's reply
unsendable, so the host waited out the cell timeout and restarted the kernel, losing every
variable."""

from __future__ import annotations

import json
import socket

import pytest
from scripted_server import Call, ScriptedServer

from rlm import RLM, read_trajectory
from sandbox import Sandbox, SandboxConfig
from sandbox.kernel.wire import decode, scrub_text, send_frame

POLICIES = ["restricted", "trusted"]


@pytest.fixture(scope="module", params=POLICIES)
def sb(request):
    # a short timeout: a stalled reply shows up as timed_out / restarted, not as a slow test
    with Sandbox(SandboxConfig(policy=request.param, cell_timeout_s=10, interrupt_grace_s=1)) as box:
        yield box


@pytest.mark.parametrize("code, where", [
    ("print(chr(0xD800))", "stdout"),
    ("print('a' + chr(0xDFFF) + 'b', chr(0xD83D) + chr(0xDE00))", "stdout"),
    ("raise ValueError('bad ' + chr(0xDC80))", "error"),
    ("FINAL('answer ' + chr(0xD800))", "final"),
    ("print(json.loads('\"\\\\ud800\"'))", "stdout"),  # the broken escape, decoded
])
def test_a_lone_surrogate_arrives_as_a_replacement_at_once(sb, code, where):
    sb.execute("keep = 41\nimport json")
    r = sb.execute(code)
    assert not r.timed_out and not r.restarted, r.error
    text = {"stdout": r.stdout, "error": r.error, "final": r.final}[where]
    assert "\ufffd" in text and text.encode("utf-8")
    if "DE00" in code:
        assert "\U0001F600" in text  # a pair written as two code points is the character it encodes
    assert sb.execute("print(keep + 1)").stdout == "42\n"  # nothing was lost


def test_a_variable_named_with_a_surrogate_is_listed(sb):
    if sb.config.policy == "restricted":
        r = sb.execute("d = {chr(0xD800): 1}\nprint(len(d))")
        assert r.stdout == "1\n"
        return
    r = sb.execute("globals()[chr(0xD800) + 'x'] = chr(0xDC00)")
    assert r.error is None
    names = [v.name for v in sb.variables()]
    assert "\ufffdx" in names
    for v in sb.variables():
        v.name.encode("utf-8")


def test_the_wire_never_sends_or_hands_over_a_lone_surrogate():
    a, b = socket.socketpair()
    with a, b:
        send_frame(a, {"op": "llm_query", "args": {"prompt": "q" + chr(0xD800), chr(0xDC00): [chr(0xDBFF)]}})
        body = b.recv(1 << 16)[4:]
    value = decode(body)
    assert value == {"op": "llm_query", "args": {"prompt": "q\ufffd", "\ufffd": ["\ufffd"]}}
    # a peer that writes the broken escape itself is scrubbed on receipt
    assert decode(json.dumps({"p": "\ud800"}).encode()) == {"p": "\ufffd"}
    assert scrub_text("plain") == "plain"


@pytest.mark.parametrize("policy", POLICIES)
def test_a_sub_call_and_an_answer_with_a_lone_surrogate_end_to_end(tmp_path, policy):
    code = ("```repl\nr = llm_query('summarise: ' + chr(0xD800) + context[:5])\nprint(r)\n"
            "FINAL(r + chr(0xDFFF))\n```")

    def root(call: Call) -> str:
        return code if call.turn == 0 else "FINAL(again)"

    with ScriptedServer({"root": root, "sub": lambda call: "seen: " + call.prompt}) as server:
        rlm = RLM(model="root", sub_model="sub", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs",
                  notes=False, preflight=False, answer_check=False,
                  sandbox=SandboxConfig(policy=policy, cell_timeout_s=20))
        result = rlm.completion("hello world", "what?")
        prompts = [c.prompt for c in server.calls_to("sub")]
    assert result.status == "ok", result.error
    assert prompts == ["summarise: \ufffdhello"]
    assert result.answer == "seen: summarise: \ufffdhello\ufffd"
    cells = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "cell"]
    assert not any(c.get("timed_out") for c in cells)


@pytest.mark.parametrize("nested", ["-" * 100_000 + "1", "not " * 100_000 + "1", "1" + "+1" * 100_000,
                                    "a." * 100_000 + "b", "lambda:" * 100_000 + "1"],
                         ids=["unary", "not", "sum", "attributes", "lambdas"])
def test_model_code_nested_past_the_parser_is_no_code_not_a_host_error(nested):
    # an untagged fence is parsed on the host to decide whether it is Python: this nesting
    # raised MemoryError or RecursionError out of parse_reply (the run's turn loop)
    from rlm.protocol import parse_reply

    reply = parse_reply(f"```\nx = {nested}\n```")
    assert reply.code == []
