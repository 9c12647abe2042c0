"""Long-context eval suites (sniah, oolong, pairs, multidoc, codeqa): generators, scorers,
methods (rlm and the paper's baselines), a resumable parallel runner, reports, and the
continual-learning stream.

    from evals import generate, run_eval, make_report, MethodSettings
    path = generate("sniah", 32_000, n=50, seed=0, out_dir=Path("tasks"))
    run_eval(path, ["rlm", "direct"], MethodSettings.of(model="gpt-5-mini"), Path("results.jsonl"))
    make_report(Path("results.jsonl"), Path("report"))
"""

from evals.methods import METHODS, MethodSettings, Outcome, eval_config, run_method
from evals.report import make_report
from evals.runner import run_eval
from evals.scorers import score
from evals.suites import SUITES, generate
from evals.tasks import EvalError, Task, format_length, parse_length, read_tasks

__all__ = [
    "METHODS",
    "SUITES",
    "EvalError",
    "MethodSettings",
    "Outcome",
    "Task",
    "eval_config",
    "format_length",
    "generate",
    "make_report",
    "parse_length",
    "read_tasks",
    "run_eval",
    "run_method",
    "score",
]
