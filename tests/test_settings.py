"""Settings have one path: `RLM(config, **overrides)` -> `resolve` (arguments, then the
environment, then rlm.toml, then defaults) -> `RLMConfig.validate`; every way it can go wrong
is a ConfigError. No model is called here."""

from __future__ import annotations

import decimal
from pathlib import Path

import pytest

from rlm import RLM, ConfigError, ContextError, RLMConfig, RLMError, SandboxConfig


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No RLM_* / OPENAI_* settings from the host, no rlm.toml but the test's own."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "RLM_MODEL", "RLM_SUB_MODEL", "RLM_SUB_BASE_URL",
                "RLM_SUB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RLM_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def own_toml(tmp_path: Path) -> Path:
    """The user's own rlm.toml (in RLM_HOME): trusted as it is, unlike a project's ./rlm.toml."""
    (tmp_path / "home").mkdir(exist_ok=True)
    return tmp_path / "home" / "rlm.toml"


def test_unknown_override_names_the_key_and_its_close_matches(clean_env):
    with pytest.raises(ConfigError, match=r"unknown setting 'max_iteration'; did you mean max_iterations"):
        RLM(model="m", api_key="k", max_iteration=3)
    with pytest.raises(ConfigError, match=r"unknown setting 'colour'; known: model, sub_model, .*sandbox"):
        RLM(RLMConfig(model="m", api_key="k"), colour="blue")


def test_a_positional_model_name_points_at_the_keyword(clean_env):
    with pytest.raises(ConfigError, match=r"not str \(pass the model by name: RLM\(model=...\)\)"):
        RLM("gpt-5-mini")  # type: ignore[arg-type]


def test_precedence_arguments_then_environment_then_toml_then_defaults(clean_env, tmp_path):
    toml = tmp_path / "settings.toml"
    toml.write_text('model = "toml-model"\nsub_model = "toml-sub"\nmax_iterations = 5\nmax_depth = 3\n'
                    'api_key = "toml-key"\n')
    clean_env.setenv("RLM_MODEL", "env-model")
    # config_file may be a str; the environment beats rlm.toml; rlm.toml beats the defaults
    rlm = RLM(config_file=str(toml))
    assert (rlm.config.model, rlm.config.sub_model, rlm.config.max_iterations, rlm.config.max_depth,
            rlm.config.max_children) == ("env-model", "toml-sub", 5, 3, 4)
    # a given config is the base: its fields beat the environment and rlm.toml (None ones are filled)
    base = RLMConfig(model="base-model", max_iterations=7)
    rlm = RLM(base, config_file=toml)
    assert (rlm.config.model, rlm.config.max_iterations, rlm.config.sub_model, rlm.config.api_key) == (
        "base-model", 7, "toml-sub", "toml-key")
    # and an override beats the config it is given with
    assert RLM(base, config_file=toml, model="override", max_iterations=2).config.model == "override"
    assert base.model == "base-model"  # the given config is not changed


@pytest.mark.parametrize("table, message", [
    ('policy = "bogus"', "policy must be 'restricted' or 'trusted'"),
    ("cell_timeout_s = -1", "cell_timeout_s must be positive"),
    ("no_such_knob = 1", "no_such_knob"),
])
def test_a_bad_sandbox_table_is_a_config_error(clean_env, tmp_path, table, message):
    toml = own_toml(tmp_path)
    toml.write_text(f'model = "m"\napi_key = "k"\n[sandbox]\n{table}\n')
    with pytest.raises(ConfigError, match=message) as info:
        RLM()
    assert str(info.value).startswith(f"{toml}: [sandbox]")
    assert isinstance(info.value.__cause__, (TypeError, ValueError))  # the sandbox layer's own error


@pytest.mark.parametrize("toml_line, message", [
    ('max_iterations = "ten"', "max_iterations must be an integer, not str 'ten'"),
    ("max_cost_usd = true", "max_cost_usd must be a number"),
    ("request_timeout_s = [1]", "request_timeout_s must be a number"),
    ("prices = [1, 2]", "prices must map model names to prices"),
    ("model_kwargs = 3", "model_kwargs must be a mapping"),
    ("sandbox = 3", r"\[sandbox\]"),
    ('preflight = "no"', "preflight must be true or false"),
    ("model = 5", "model must be a string"),
    ("= broken", "cannot read"),
])
def test_a_value_of_the_wrong_type_in_rlm_toml_is_a_config_error(clean_env, tmp_path, toml_line, message):
    own_toml(tmp_path).write_text(f'api_key = "k"\n{toml_line}\n')
    with pytest.raises(ConfigError, match=message):
        RLM(model="m") if not toml_line.startswith("model =") else RLM()


@pytest.mark.parametrize("overrides, message", [
    ({"max_iterations": 2.5}, "max_iterations must be an integer"),
    ({"max_tokens": "1000"}, "max_tokens must be a number"),
    ({"sandbox": {"policy": "trusted"}}, "sandbox must be a SandboxConfig"),
    ({"runs_dir": 5}, "runs_dir must be a directory"),
    ({"model_kwargs": {"temperature": decimal.Decimal("0.2")}}, "model_kwargs cannot be sent as JSON"),
])
def test_an_override_of_the_wrong_type_is_a_config_error(clean_env, overrides, message):
    with pytest.raises(ConfigError, match=message):
        RLM(model="m", api_key="k", **overrides)


def test_values_of_the_right_types_are_accepted(clean_env, tmp_path):
    import datetime

    rlm = RLM(model="m", api_key="k", max_cost_usd=1, max_wall_s=30, runs_dir=str(tmp_path / "runs"),
              notes=str(tmp_path / "notes"), prices={"m": (1, 2)}, sandbox=SandboxConfig(policy="trusted"),
              model_kwargs={"temperature": 0, "metadata": {"since": datetime.date(2026, 1, 1)}})
    assert rlm.config.runs_dir == Path(tmp_path / "runs") and rlm.config.sandbox.policy == "trusted"


def test_direct_rlmconfig_validate_raises_config_error_not_type_error():
    with pytest.raises(ConfigError, match="max_iterations must be an integer, not NoneType"):
        RLMConfig(model="m", api_key="k", max_iterations=None).validate()  # type: ignore[arg-type]


def test_an_empty_question_is_an_rlm_error(clean_env):
    rlm = RLM(model="m", api_key="k", preflight=False)
    for query in ("", "   "):
        with pytest.raises(ContextError, match="non-empty string") as info:
            rlm.completion("some context", query)
        assert isinstance(info.value, RLMError) and isinstance(info.value, ValueError)


def test_eval_settings_share_the_path_and_check_methods_first(clean_env):
    from evals import EvalError, MethodSettings, eval_config
    from evals.methods import check_methods

    clean_env.setenv("OPENAI_API_KEY", "sk-from-env")
    config = eval_config(model="m", max_iterations=None)
    assert (config.api_key, config.max_iterations, config.notes, config.request_timeout_s) == (
        "sk-from-env", 30, False, 300.0)
    assert MethodSettings.of(model="m", notes=None).rlm.notes is False  # None: not given
    with pytest.raises(ConfigError, match="no model given"):
        eval_config()
    with pytest.raises(EvalError, match="unknown method 'rlm-fast'"):
        check_methods(["rlm", "rlm-fast"])
