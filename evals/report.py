"""Reports from a results JSONL: a Markdown table (method x suite x length: mean score with a
95% interval, evidence precision and recall, mean and median cost, tokens, wall time, failures)
and PNG plots of score and cost against length per method, one panel per suite (the paper's Figure 1 shape)."""

from __future__ import annotations

import base64
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from evals.methods import FAILED_STATUSES
from evals.runner import latest_rows
from evals.tasks import EvalError, format_length
from rlm import read_jsonl
from rlm.events import BUDGET_STOPS, Status
from rlm.writable import ensure_dir

# two-sided 95% critical values of Student's t for 1..30 degrees of freedom
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042]


def ci95(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% interval); the half-width is 0 for one value."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    t = _T95[len(values) - 2] if len(values) - 1 <= 30 else 1.96
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def score_interval(values: list[float], low: float = 0.0, high: float = 100.0) -> tuple[float, float, float]:
    """(mean, lower, upper) of the 95% interval, inside the score range: scores are bounded, so
    the t interval is clipped to [low, high] (an interval past 100 would claim what no score can)."""
    mean, half = ci95(values)
    return mean, max(low, mean - half), min(high, mean + half)


def unpriced(rows: list[dict[str, Any]]) -> bool:
    """Rows that spent tokens on a model without a price: their cost is not $0, it is unknown."""
    return any(r.get("priced") is False and (r.get("tokens") or 0) > 0 for r in rows)


def read_results(path: Path) -> list[dict[str, Any]]:
    """The rows of a results file, one per pair: a failed row that was retried gives way to its retry."""
    return latest_rows(read_jsonl(path))


def method_labels(rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(method, settings id) -> the method's name in a report: the name alone when all its rows
    share settings, else the name and the settings that differ ("rlm (max_iterations=10)")."""
    by_method: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        by_method[r["method"]][str(r.get("settings_id") or "")] = r.get("settings") or {}
    labels = {}
    for method, variants in by_method.items():
        keys = sorted({k for v in variants.values() for k in v})
        differ = [k for k in keys if len({json.dumps(v.get(k), default=str) for v in variants.values()}) > 1]
        for sid, settings in variants.items():
            if len(variants) == 1:
                labels[(method, sid)] = method
            elif not settings:
                labels[(method, sid)] = f"{method} (settings not recorded)"
            else:
                labels[(method, sid)] = f"{method} ({', '.join(f'{k}={settings.get(k)}' for k in differ)})"
    return labels


def evidence_mean(rows: list[dict[str, Any]], key: str) -> float | None:
    """The mean of `key` (evidence_precision or evidence_recall) over the rows that have one, or
    None when none has: precision over the runs that cited something on a task with a gold
    location, recall over every run of a citing method on such a task (none cited: 0)."""
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    return statistics.fmean(values) if values else None


def evidence_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean score with its 95% interval, cost, tokens, wall time, failures and truncations per
    method x suite x length; rows made with different settings are separate methods."""
    labels = method_labels(rows)
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(labels[(r["method"], str(r.get("settings_id") or ""))], r["suite"], int(r["length"]))].append(r)
    out = []
    for (method, suite, length), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        scores = [float(r["score"]) for r in rs]
        mean, half = ci95(scores)
        _, lower, upper = score_interval(scores)
        costs = [float(r.get("cost_usd") or 0.0) for r in rs]
        out.append({
            "method": method, "suite": suite, "length": length, "n": len(rs),
            "score": mean, "ci95": half, "ci_low": lower, "ci_high": upper, "unpriced": unpriced(rs),
            "evidence_precision": evidence_mean(rs, "evidence_precision"),
            "evidence_recall": evidence_mean(rs, "evidence_recall"),
            "cost_mean": statistics.fmean(costs), "cost_median": statistics.median(costs),
            "tokens_mean": statistics.fmean(float(r.get("tokens") or 0) for r in rs),
            "wall_mean": statistics.fmean(float(r.get("wall_s") or 0) for r in rs),
            "failures": sum(1 for r in rs if r.get("status") in FAILED_STATUSES),
            "truncated": sum(1 for r in rs if r.get("truncated")),
        })
    return out


def markdown(stats: list[dict[str, Any]], title: str = "Eval results") -> str:
    lines = [f"# {title}", "",
             "Scores are 0-100 (suite scorers in evals/scorers.py): the mean over n tasks and its 95% "
             "interval, clipped to 0-100; a pair that failed to run (see failures; the next run retries it) "
             "counts 0. Cost is 'unpriced' where a model has no price (add one under "
             "[prices] in rlm.toml): it is unknown, not zero. " + EVIDENCE_NOTE, "",
             "| suite | length | method | n | score | 95% interval | evidence precision | evidence recall "
             "| mean cost | median cost | mean tokens | mean wall s | failures | truncated |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in stats:
        lines.append(
            f"| {s['suite']} | {format_length(s['length'])} | {s['method']} | {s['n']} | "
            f"{s['score']:.1f} | {interval_text(s)} | {evidence_text(s.get('evidence_precision'))} | "
            f"{evidence_text(s.get('evidence_recall'))} | {cost_text(s, 'cost_mean')} | "
            f"{cost_text(s, 'cost_median')} | "
            f"{s['tokens_mean']:,.0f} | {s['wall_mean']:.1f} | {s['failures']} | {s['truncated']} |")
    return "\n".join(lines) + "\n"


EVIDENCE_NOTE = ("Evidence precision (0-1): of the passages a run cited, the share that overlap a passage the "
                 "answer rests on, averaged over the runs that cited any; recall (0-1): the share of those "
                 "passages cited, averaged over every run of a method that can cite (rlm, rlm-nosub) on a suite "
                 "with a gold location (sniah, multidoc, codeqa); '-': no such run (the baselines cannot cite).")


def interval_text(s: dict[str, Any]) -> str:
    return f"{s.get('ci_low', s['score']):.1f}-{s.get('ci_high', s['score']):.1f}"


def cost_text(s: dict[str, Any], key: str) -> str:
    return "unpriced" if s.get("unpriced") else f"${s[key]:.4f}"


# one look per method that stays distinguishable in print and where lines coincide
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINES = ("-", "--", ":", "-.")


def plots(stats: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = sorted({s["suite"] for s in stats})
    methods = sorted({s["method"] for s in stats})
    paths = []
    for metric, label, fname in (("score", "score (0-100)", "score_vs_length.png"),
                                 ("cost_mean", "mean cost (USD)", "cost_vs_length.png")):
        fig, axes = plt.subplots(1, len(suites), figsize=(4.5 * len(suites), 3.6), squeeze=False)
        for ax, suite in zip(axes[0], suites, strict=False):
            missing = []
            for i, method in enumerate(methods):
                here = sorted((s for s in stats if s["suite"] == suite and s["method"] == method),
                              key=lambda s: s["length"])
                if not here:
                    continue
                if metric == "cost_mean" and any(s["unpriced"] for s in here):
                    missing.append(method)  # an unknown cost is not drawn as $0
                    continue
                # methods side by side at each length (a small offset on the log axis), so that
                # equal results do not hide each other
                shift = 2 ** ((i - (len(methods) - 1) / 2) * 0.06)
                xs = [s["length"] * shift for s in here]
                ys = [s[metric] for s in here]
                err = None
                if metric == "score":
                    err = [[s["score"] - s["ci_low"] for s in here], [s["ci_high"] - s["score"] for s in here]]
                ax.errorbar(xs, ys, yerr=err, marker=_MARKERS[i % len(_MARKERS)],
                            linestyle=_LINES[i % len(_LINES)], capsize=3, label=method, alpha=0.85)
            if missing:
                ax.text(0.02, 0.97, "unpriced (cost unknown): " + ", ".join(missing), transform=ax.transAxes,
                        fontsize="x-small", va="top", color="tab:red")
            ax.set_xscale("log", base=2)
            ax.set_title(suite)
            ax.set_xlabel("context length (tokens)")
            ax.set_ylabel(label)
            if metric == "score":
                ax.set_ylim(-5, 105)
            ax.grid(alpha=0.3)
        with_lines = [ax for ax in axes[0] if ax.get_legend_handles_labels()[0]]
        if with_lines:
            with_lines[0].legend(fontsize="small")
        fig.tight_layout()
        path = out_dir / fname
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _status_class(status: Any) -> str:
    return "ok" if status == Status.OK else "stop" if str(status) in BUDGET_STOPS else "bad"


def html_report(stats: list[dict[str, Any]], rows: list[dict[str, Any]], pngs: list[Path], out_dir: Path,
                title: str) -> Path:
    """report.html: the table, the plots (inlined) and every task, each linked to its run's page
    (written to runs/ beside it, self-contained like `rlm runs view`)."""
    from html import escape

    from rlm.frontends.viewer import page, write_run_html

    def cell(value: Any, cls: str = "") -> str:
        return f'<td class="{cls}">{escape(str(value))}</td>' if cls else f"<td>{escape(str(value))}</td>"

    head = ("<tr>" + "".join(f'<th class="num">{h}</th>' if i > 2 else f"<th>{h}</th>" for i, h in enumerate(
        ("suite", "length", "method", "n", "score", "95% interval", "evidence precision", "evidence recall",
         "mean cost", "median cost", "mean tokens", "mean wall s", "failures", "truncated"))) + "</tr>")
    body_rows = "".join(
        "<tr>" + cell(s["suite"]) + cell(format_length(s["length"])) + cell(s["method"]) + cell(s["n"], "num")
        + cell(f"{s['score']:.1f}", "num") + cell(interval_text(s), "num")
        + cell(evidence_text(s.get("evidence_precision")), "num") + cell(evidence_text(s.get("evidence_recall")), "num")
        + cell(cost_text(s, "cost_mean"), "num")
        + cell(cost_text(s, "cost_median"), "num") + cell(f"{s['tokens_mean']:,.0f}", "num")
        + cell(f"{s['wall_mean']:.1f}", "num") + cell(s["failures"], "num") + cell(s["truncated"], "num") + "</tr>"
        for s in stats)
    images = "".join(
        f'<p><img alt="{escape(p.stem)}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        "</p>" for p in pngs)
    runs_dir = out_dir / "runs"
    task_rows = []
    for r in sorted(rows, key=lambda r: (r.get("suite", ""), int(r.get("length") or 0), r.get("method", ""),
                                         r.get("task_id", ""))):
        link = escape(str(r.get("task_id", "")))
        trajectory, run_id = r.get("trajectory_path"), r.get("run_id")
        if trajectory and run_id and Path(trajectory).is_file():
            target = runs_dir / f"{Path(str(run_id)).name}.html"
            try:
                if not target.exists():
                    write_run_html(Path(trajectory), target, back_link="../report.html")
                link = f'<a href="runs/{escape(target.name)}">{link}</a>'
            except (OSError, ValueError):
                pass  # a trajectory that cannot be read: the task is listed without its page
        status = str(r.get("status", ""))
        task_rows.append(
            f"<tr><td>{link}</td>" + cell(r.get("suite", "")) + cell(format_length(int(r.get("length") or 0)))
            + cell(r.get("method", ""))
            + f'<td><span class="badge {_status_class(status)}">{escape(status)}</span></td>'
            + cell(f"{float(r.get('score') or 0):.1f}", "num")
            + cell(evidence_text(r.get("evidence_precision")), "num")
            + cell(evidence_text(r.get("evidence_recall")), "num")
            + cell("-" if r.get("citations") is None else r["citations"], "num")
            + cell("unpriced" if unpriced([r]) else f"${float(r.get('cost_usd') or 0):.4f}", "num")
            + cell(f"{int(r.get('tokens') or 0):,}", "num") + cell(f"{float(r.get('wall_s') or 0):.1f}", "num")
            + cell(str(r.get("answer") or "")[:160]) + cell(str(r.get("gold") or "")[:160]) + "</tr>")
    tasks_head = ("<tr><th>task</th><th>suite</th><th>length</th><th>method</th><th>status</th>"
                  '<th class="num">score</th><th class="num">evidence precision</th>'
                  '<th class="num">evidence recall</th><th class="num">citations</th><th class="num">cost</th>'
                  '<th class="num">tokens</th><th class="num">wall s</th><th>answer</th><th>gold</th></tr>')
    body = (f'<header class="top"><span class="title">{escape(title)}</span></header><main>'
            '<section class="card"><h2>Results</h2><p class="meta">Scores are 0-100 (suite scorers in '
            "evals/scorers.py): the mean over n tasks and its 95% interval, clipped to 0-100 (a pair that "
            "failed to run counts 0; see failures); "
            f"'unpriced': a model without a price, its cost unknown. {escape(EVIDENCE_NOTE)}</p>"
            f'<table class="grid">{head}{body_rows}</table></section>'
            f'<section class="card plots"><h2>Score and cost against length</h2>{images}</section>'
            f'<section class="card"><h2>Tasks ({len(rows):,})</h2><p class="meta">Each task links to its run'
            " (rlm methods), a page of its own.</p>"
            f'<table class="grid">{tasks_head}{"".join(task_rows)}</table></section></main>')
    out = out_dir / "report.html"
    out.write_text(page(title, body), encoding="utf-8")
    return out


def make_report(results_path: Path, out_dir: Path, *, html: bool = False) -> tuple[Path, list[Path]]:
    """report.md, summary.json and the PNG plots in `out_dir` (and report.html with `html`);
    returns report.md and the files written besides it."""
    if results_path.is_dir():  # a tasks directory, as `rlm eval run` takes: its results.jsonl
        results_path = results_path / "results.jsonl"
    if not results_path.is_file():
        raise EvalError(f"no such results file: {results_path} (rlm eval run writes results.jsonl)")
    raw = list(read_jsonl(results_path))
    if not raw:
        raise EvalError(f"{results_path} holds no results")
    if not all("task_id" in r and "method" in r and "score" in r for r in raw):
        raise EvalError(f"{results_path} is not a results file (a tasks file? report takes what "
                        "rlm eval run wrote)")
    rows = latest_rows(raw)
    ensure_dir(out_dir, "the report", setting="out_dir", option="-o DIR")
    stats = aggregate(rows)
    title = f"Eval results: {results_path.name}"
    md = out_dir / "report.md"
    md.write_text(markdown(stats, title), encoding="utf-8")
    (out_dir / "summary.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    pngs = plots(stats, out_dir)
    if html:
        return md, [*pngs, html_report(stats, rows, pngs, out_dir, title)]
    return md, pngs
