"""Typed answers: completion(..., schema=) with a pydantic model, a dataclass and a JSON Schema,
against a real kernel and the scripted server: an answer that does not fit is refused with what
failed and the model answers again; the value comes back checked; `rlm query --schema` prints JSON."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from conftest import cli_env
from pydantic import BaseModel
from scripted_server import Call, ScriptedServer

from rlm import RLM, ConfigError

LOG = "".join(f"2026-01-0{1 + i % 3} api {'ERROR' if i % 4 == 0 else 'ok'}\n" for i in range(40))


class Incident(BaseModel):
    service: str
    errors: int
    days: list[str]


@dataclasses.dataclass
class Count:
    errors: int


def fixer(call: Call) -> str:
    """Answers out of shape first (errors as a word), then in shape once told what failed."""
    if "does not fit the required form" in call.prompt:
        return ("```repl\nfixed = {'service': 'api', 'errors': n, 'days': sorted(set(days))}\nprint(fixed)\n```\n"
                if "fixed" not in call.prompt else "FINAL_VAR(fixed)")
    if call.turn == 0:
        return ("```repl\nrows = [l.split() for l in context.splitlines()]\nn = sum(r[2] == 'ERROR' for r in rows)\n"
                "days = [r[0] for r in rows if r[2] == 'ERROR']\nprint(n, sorted(set(days)))\n```")
    return "```repl\nguess = {'service': 'api', 'errors': 'many', 'days': []}\n```\nFINAL_VAR(guess)"


def make(server: ScriptedServer, tmp_path, **kw) -> RLM:
    return RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
               cache=False, answer_check=False, **kw)


def test_an_answer_out_of_shape_is_refused_with_what_failed_and_the_fixed_one_is_the_value(tmp_path):
    with ScriptedServer({"root": fixer}) as server:
        result = make(server, tmp_path).completion(LOG, "Summarise the incident", schema=Incident)
        system = server.calls_to("root")[0].system
        told = [c.prompt for c in server.calls_to("root") if "does not fit" in c.prompt]
    assert result.status == "ok"
    assert isinstance(result.value, Incident)
    assert result.value == Incident(service="api", errors=10, days=["2026-01-01", "2026-01-02", "2026-01-03"])
    assert json.loads(result.answer) == result.value.model_dump() == result.as_dict()["value"]
    assert '"errors"' in system and "The answer must be JSON that fits this JSON Schema" in system
    assert told and "(Incident): at errors: Input should be a valid integer" in told[0]


def test_a_json_schema_and_a_dataclass_are_forms_too(tmp_path):
    schema = {"type": "object", "properties": {"errors": {"type": "integer", "minimum": 0}},
              "required": ["errors"], "additionalProperties": False}
    replies = iter(['FINAL({"errors": -1})', 'FINAL({"errors": 10, "extra": 1})', 'FINAL(```json\n{"errors": 10}\n```)'])

    def root(call: Call) -> str:
        return next(replies, 'FINAL({"errors": 10})')

    with ScriptedServer({"root": root}) as server:
        result = make(server, tmp_path).completion(LOG, "How many errors?", schema=schema)
        prompts = [c.prompt for c in server.calls_to("root")]
    assert result.value == {"errors": 10} and result.answer == '{"errors": 10}'
    assert any("at errors: -1 is less than the minimum of 0" in p for p in prompts)
    assert any("Additional properties are not allowed ('extra' was unexpected)" in p for p in prompts)
    with ScriptedServer({"root": lambda call: "FINAL({'errors': 10})"}) as server:  # a Python literal is read too
        counted = make(server, tmp_path).completion(LOG, "How many errors?", schema=Count)
    assert counted.value == Count(errors=10)


def test_an_answer_that_never_fits_leaves_no_value_and_says_why(tmp_path):
    with ScriptedServer({"root": lambda call: "FINAL(lots)"}) as server:
        result = make(server, tmp_path, max_iterations=2).completion(LOG, "How many errors?", schema=Count)
    assert result.status == "max_iterations" and result.value is None
    assert result.answer == "lots" and "not JSON" in result.value_error


def test_forms_that_cannot_be_schemas_are_refused_before_anything_runs():
    rlm = RLM(model="m", base_url="http://127.0.0.1:9", api_key="k")
    for schema, words in (({"type": "nope"}, "not a valid JSON Schema"), ("schema.json", "load a schema file"),
                          (object(), "schema must be")):
        with pytest.raises(ConfigError, match=words):
            rlm.completion("text", "q?", schema=schema)


def test_rlm_query_with_a_schema_file_prints_the_checked_json(tmp_path):
    (tmp_path / "app.log").write_text(LOG)
    (tmp_path / "form.json").write_text(json.dumps({"type": "object", "required": ["errors"],
                                                    "properties": {"errors": {"type": "integer"}}}))
    (tmp_path / "broken.json").write_text("{not json")
    replies = ['FINAL({"errors": "ten"})', 'FINAL({"errors": 10})']
    with ScriptedServer({"root": lambda call: replies[min(call.turn, 1)]}) as server:
        base = [sys.executable, "-m", "cli", "query", "app.log", "-q", "How many errors?", "-m", "root",
                "--base-url", server.url, "--no-notes", "--no-cache"]
        env = cli_env(tmp_path / "home")
        done = subprocess.run([*base, "--schema", "form.json"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        broken = subprocess.run([*base, "--schema", "broken.json"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"errors": 10}
    assert broken.returncode == 2 and "broken.json is not JSON" in broken.stderr
