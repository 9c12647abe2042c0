"""Attacks on the user's money: model code that picks a dearer model than the user chose, a name
priced as another model, and fan-out that spends past --max-cost. Real kernels in both
policies, the scripted OpenAI-protocol server with dear prices."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import cli_env
from scripted_server import Call, ScriptedServer, script

from rlm import RLM, ConfigError, read_trajectory
from rlm.pricing import Price, PriceTable
from sandbox import SandboxConfig

POLICIES = ["restricted", "trusted"]


@pytest.fixture
def make_rlm(tmp_path):
    def make(server: ScriptedServer, policy: str = "restricted", **settings):
        settings.setdefault("model", "root")
        settings.setdefault("sub_model", "sub")
        settings.setdefault("notes", False)
        return RLM(base_url=server.url, api_key="test-key", runs_dir=tmp_path / "runs",
                   retry_base_s=0.01, sandbox=SandboxConfig(policy=policy), **settings)

    return make


def cell_output(result) -> str:
    return "".join(e["stdout"] for e in read_trajectory(result.trajectory_path) if e["event"] == "cell")


# ================================================================ a name prices only itself
@pytest.mark.parametrize("name", ["gpt-5-pro", "gpt-5-prototype", "gpt-4o-mini-realtime", "o3-deep-research",
                                  "openai/gpt-5-codex", "gpt-5.1", "gpt-5-2025-08-07-pro", "my-gpt-5"])
def test_a_price_is_never_lent_to_a_longer_name(name):
    table = PriceTable({"o3-deep": (1, 1), "gpt-5-pro": (99, 99)})
    assert table.get(name) is None or name == "gpt-5-pro" and table.get(name) == Price(99, 99, 99)


def test_gpt_5_pro_is_priced_as_itself_and_aliases_are_only_prefix_and_snapshot():
    table = PriceTable()
    assert table.get("gpt-5-pro") == Price(15.0, 15.0, 120.0)
    assert table.get("gpt-5-pro").output == 12 * table.get("gpt-5").output
    assert table.get("openai/gpt-5") == table.get("gpt-5") == table.get("gpt-5-2025-08-07")
    assert table.get("openai/gpt-5-mini-2025-08-07") == table.get("gpt-5-mini")
    assert table.get("gpt-5-codex") is None and table.get("gpt-5-2025-08") is None
    assert table.get("gpt-4o-2024-05-13") == Price(5.0, 5.0, 15.0)  # an old snapshot with its own price
    assert PriceTable({"gpt-5-2025-08-07": (9, 9)}).get("gpt-5-2025-08-07") == Price(9, 9, 9)


# ================================================================ only the configured models
@pytest.mark.parametrize("policy", POLICIES)
def test_model_code_may_not_pick_a_model_the_user_did_not_configure(make_rlm, policy):
    reply = ("```repl\nprint(llm_query('hi', model='gpt-5-pro'))\n"
             "print(llm_query_batched(['a', 'b'], model='x' * 4_000_000)[1][:300])\n"
             "print(llm_query('hi', model='extra'), llm_query('hi', model='sub'))\n```")
    with ScriptedServer({"root": script(reply, "FINAL(done)"), "*": lambda c: "answer"}) as server:
        result = make_rlm(server, policy, models=["extra"]).completion("x", "q?")
        assert sorted(c.model for c in server.calls if not c.is_root) == ["extra", "sub"]
    out = cell_output(result)
    assert "model 'gpt-5-pro' is not one this run may call; allowed: root, sub, extra" in out
    assert "(4,000,000 characters) is not one this run may call" in out
    assert "answer answer" in out
    assert result.trajectory_path.stat().st_size < 200_000  # the long name was not recorded


@pytest.mark.parametrize("policy", POLICIES)
def test_an_unknown_model_is_refused_even_without_a_budget_and_at_the_depth_limit(make_rlm, policy):
    reply = ("```repl\nimport json\nr = llm_query_batched(['q'] * 3, model='root ')\n"
             "print(json.dumps(r)[:400])\nprint(rlm_query('what?', context='abc'))\n```")
    with ScriptedServer({"root": script(reply, "FINAL(done)"), "sub": lambda c: "sub answer"}) as server:
        result = make_rlm(server, policy).completion("x", "q?")
        assert [c.model for c in server.calls if not c.is_root] == ["sub"]
    out = cell_output(result)
    assert out.count("model 'root ' is not one this run may call") == 3 and "sub answer" in out


def test_every_model_a_budgeted_run_may_call_needs_a_price_before_it_starts(make_rlm):
    with ScriptedServer({"root": script("FINAL(x)")}) as server:
        with pytest.raises(ConfigError, match="model 'gpt-5-prototype' has no price"):
            make_rlm(server, model="gpt-5", sub_model="gpt-5-mini", models=["gpt-5-prototype"], max_cost_usd=1)
        with pytest.raises(ConfigError, match="model 'gpt-5-pro-preview' has no price"):
            make_rlm(server, model="gpt-5", sub_model="gpt-5-pro-preview", max_cost_usd=1)
        make_rlm(server, model="gpt-5", sub_model="gpt-5-mini", models=["openai/gpt-5-pro"], max_cost_usd=1)
        for bad in (float("nan"), float("inf"), -1.0, 0):
            with pytest.raises(ConfigError, match="max_cost_usd must be a positive finite number"):
                make_rlm(server, model="gpt-5", sub_model=None, max_cost_usd=bad)


# ================================================================ no run ends above its budget
DEAR = {"root": (0.0, 0.0), "sub": (1000.0, 1000.0)}  # a sub-model token costs $0.001
FAN_OUT = "```repl\nr = llm_query_batched([f'{i:03} ' + 'p' * 396 for i in range(50)])\nprint(sum(a == 'x' * 40 for a in r))\nprint(r[-1])\n```"


@pytest.mark.parametrize("policy", POLICIES)
def test_a_batch_of_50_sub_calls_ends_within_a_small_budget(make_rlm, policy):
    # each sub-call really costs about $0.11 (its 400-character prompt, its 40-character
    # answer); the 50 of one batch would cost $5.50 against a $1 budget
    with ScriptedServer({"root": script(FAN_OUT, "FINAL(done)"), "sub": lambda c: "x" * 40}) as server:
        result = make_rlm(server, policy, max_cost_usd=1.0, prices=DEAR,
                          model_kwargs={"max_tokens": 20}).completion("x", "q?")
        sent = [c for c in server.calls if not c.is_root]
    assert 0 < result.cost_usd <= 1.0 and len(sent) < 50
    out = cell_output(result).splitlines()
    assert int(out[0]) == len(sent)
    assert "the max_cost budget cannot pay for this call's worst case" in out[1]


@pytest.mark.parametrize("policy", POLICIES)
def test_child_runs_and_their_sub_calls_share_one_reserved_budget(make_rlm, policy):
    # each sub-call of a child really costs about $0.10 (10,000 tokens at $10 a million); the
    # 4 children's 50 would cost $20 against a $1.50 budget
    root = script("```repl\nr = rlm_query_batched(['go'] * 4)\nprint(r)\n```", "FINAL(done)")
    fan_out = FAN_OUT.replace("396", "39_996")

    def sub(call: Call) -> str:  # the child runs' model is the sub-model
        if call.is_root:
            return [fan_out, "FINAL(child)"][min(call.turn, 1)]
        return "x" * 40

    with ScriptedServer({"root": root, "sub": sub}) as server:
        result = make_rlm(server, policy, max_depth=2, max_cost_usd=1.5,
                          prices={"root": (0, 0), "sub": (10.0, 10.0)},
                          model_kwargs={"max_tokens": 20}).completion("x", "q?")
        sent = [c for c in server.calls if not c.is_root]
    assert 0.5 < result.cost_usd <= 1.5 and 5 < len(sent) < 200


def test_the_root_model_s_turns_end_within_the_budget(make_rlm):
    prices = {"root": (100.0, 100.0)}  # $0.0001 a token
    with ScriptedServer({"root": script("```repl\nprint('y' * 3000)\n```")}) as server:
        result = make_rlm(server, max_cost_usd=2.5, prices=prices, sub_model=None,
                          model_kwargs={"max_tokens": 50}).completion("x", "q?")
    assert result.status == "max_cost" and result.iterations >= 2
    assert 0 < result.cost_usd <= 2.5


def test_a_budgeted_call_carries_its_output_cap(make_rlm):
    with ScriptedServer({"root": script("```repl\nprint(llm_query('hi'))\n```", "FINAL(x)"),
                         "sub": lambda c: "answer"}) as server:
        result = make_rlm(server, max_cost_usd=5.0, prices={"root": (1, 1), "sub": (1, 1)}).completion("x", "q?")
        sent = {(c.is_root, c.body.get("max_completion_tokens")) for c in server.calls}
    assert result.answer == "x" and sent == {(True, 16_384), (False, 16_384)}


# ================================================================ numbers on the command line
def cli(home, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd or home, capture_output=True, text=True,
                          timeout=120, env=cli_env(home, key="test-key"), check=False)


@pytest.mark.parametrize("bad", ["-5", "0", "nan", "inf", "-inf"])
def test_a_bad_size_to_cache_prune_is_a_usage_error_that_drops_nothing(tmp_path, bad):
    from rlm.cache import CachedReply, CallCache

    home = tmp_path / "home"
    home.mkdir()
    store = CallCache(home / "cache.db")
    store.put("k1", "m", CachedReply("an answer", 1, 1, 0, False))
    store.close()
    done = cli(home, "cache", "prune", "--max-mib", bad)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "--max-mib must be a positive number" in done.stderr
    assert json.loads(cli(home, "cache", "stats", "--json").stdout)["entries"] == 1
    assert cli(home, "cache", "prune", "--max-mib", "200").returncode == 0
    assert json.loads(cli(home, "cache", "stats", "--json").stdout)["entries"] == 1


@pytest.mark.parametrize("option", [("query", "a.txt", "-q", "x?", "--max-cost"), ("query", "a.txt", "-q", "x?", "--max-wall"),
                                    ("runs", "resume", "some-run", "--max-cost"),
                                    ("runs", "resume", "some-run", "--max-tokens"),
                                    ("eval", "run", "tasks", "--max-cost"), ("mcp", "--root", ".", "--max-wall")])
@pytest.mark.parametrize("bad", ["-5", "nan", "0"])
def test_a_budget_that_is_not_a_positive_number_is_a_usage_error(tmp_path, option, bad):
    if bad == "nan" and option[-1] == "--max-tokens":
        bad = "-1"  # an integer option: nan is not an integer at all
    (tmp_path / "a.txt").write_text("hello\n")
    done = cli(tmp_path, *option, bad, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "must be a positive number" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cache_prune_refuses_a_bound_that_would_empty_the_store(tmp_path):
    from rlm.cache import CallCache

    with pytest.raises(ValueError, match="positive number of bytes"):
        CallCache(tmp_path / "c.db").prune(-5 * 2**20)


# ================================================================ rlm mcp --root confines every tool
def test_mcp_runs_tools_see_only_the_runs_of_the_allowed_roots(tmp_path):
    pytest.importorskip("mcp")
    import asyncio

    from mcp import ClientSession, StdioServerParameters, stdio_client

    home, inside, outside = tmp_path / "home", tmp_path / "logs", tmp_path / "private"
    inside.mkdir()
    outside.mkdir()
    (inside / "db.log").write_text("db ok\n")
    (outside / "secret.txt").write_text("THE-PRIVATE-START of a file outside every root\n")
    root = script("```repl\nprint(context[:40])\n```", "FINAL(read it)")
    with ScriptedServer({"root": root}) as server:
        def run(context):
            rlm = RLM(model="root", base_url=server.url, api_key="k", runs_dir=home / "runs", notes=False)
            return rlm.completion(context, "what is it?").run_id

        mine, theirs, typed = run(inside / "db.log"), run(outside / "secret.txt"), run("pasted text")
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "cli", "mcp", "--root", str(inside), "--model", "root",
                                          "--base-url", server.url],
            env=cli_env(home, key="test-key"), cwd=str(tmp_path))

        async def session_run() -> dict:
            out: dict = {}
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                out["list"] = await session.call_tool("runs_list", {"n": 50})
                for name, run_id in (("mine", mine), ("theirs", theirs), ("typed", typed),
                                     ("prefix", theirs[:8]), ("suffix", theirs[-8:])):
                    out[name] = await session.call_tool("runs_show", {"run_id": run_id})
            return out

        out = asyncio.run(asyncio.wait_for(session_run(), 120))
    listed = [r["run_id"] for r in out["list"].structured_content["result"]]
    assert listed == [mine]
    assert not out["mine"].is_error and json.loads(out["mine"].content[0].text)["answer"] == "read it"
    for name in ("theirs", "typed", "suffix"):
        assert out[name].is_error and "no run" in out[name].content[0].text, name
    prefix = out["prefix"].content[0].text  # a prefix of all three: only the run in scope answers
    assert theirs not in prefix and typed not in prefix and "THE-PRIVATE-START" not in prefix
    assert all("THE-PRIVATE-START" not in c.text for o in out.values() for c in o.content)


def test_the_cli_names_the_allowed_models_and_refuses_an_unpriced_one_under_max_cost(tmp_path):
    (tmp_path / "a.txt").write_text("hello\n")
    reply = "```repl\nr = llm_query('hi', model='extra') + ' / ' + llm_query('hi', model='gpt-5-pro')\n```"
    with ScriptedServer({"root": script(reply, "FINAL_VAR(r)"), "extra": lambda c: "extra answer"}) as server:
        base = ("query", "a.txt", "-q", "x?", "-m", "root", "--base-url", server.url, "--no-notes", "--json")
        done = cli(tmp_path, *base, "--allow-model", "extra", cwd=tmp_path)
        refused = cli(tmp_path, *base, "--allow-model", "extra", "--max-cost", "1", cwd=tmp_path)
        assert [c.model for c in server.calls if not c.is_root] == ["extra"]
    answer = json.loads(done.stdout)["answer"]
    assert answer.startswith("extra answer / [llm_query error: model 'gpt-5-pro' is not one this run may call")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "--max-cost is set but model 'root' has no price" in refused.stderr


@pytest.mark.parametrize("bad", [float("nan"), -1.0])
def test_an_mcp_agent_cannot_lift_the_server_s_cost_ceiling_with_a_bad_number(tmp_path, bad):
    pytest.importorskip("mcp")
    from rlm.frontends.mcp_server import RLMService, ServerSettings

    (tmp_path / "a.txt").write_text("hello\n")
    service = RLMService(ServerSettings(roots=[str(tmp_path)], notes=False, overrides={
        "model": "gpt-5", "api_key": "k", "max_cost_usd": 1.0, "runs_dir": str(tmp_path / "runs")}))
    with pytest.raises(ConfigError, match="max_cost_usd must be a positive finite number"):
        service.prepare(["a.txt"], None, bad)
    assert service.prepare(["a.txt"], None, 0.5)[0].config.max_cost_usd == 0.5
    assert service.prepare(["a.txt"], None, float("inf"))[0].config.max_cost_usd == 1.0
