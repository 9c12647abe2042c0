"""Each package's facade: every name in `__all__` exists, and the public classes the README
shows are importable from the facade."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["sandbox", "rlm", "rlm.notes", "evals"])
def test_all_names_exist(package):
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    assert len(set(module.__all__)) == len(module.__all__)


def test_readme_names_come_from_the_facades():
    from evals import MethodSettings, generate, make_report, run_eval  # noqa: F401
    from rlm import RLM, ModelError, RunResult, Usage, read_trajectory  # noqa: F401
    from rlm.notes import NotesStore  # noqa: F401
    from sandbox import HostRequest, Sandbox, SandboxConfig  # noqa: F401

    assert RLM.completion.__doc__ and RunResult.__doc__ and NotesStore.__doc__


def test_errors_share_one_base():
    from rlm import BudgetExceeded, ConfigError, ContextError, ModelError, RLMError, SandboxError
    from rlm.notes import NotesError, NotesRefused

    for exc in (BudgetExceeded, ConfigError, ContextError, ModelError, SandboxError, NotesError, NotesRefused):
        assert issubclass(exc, RLMError)
