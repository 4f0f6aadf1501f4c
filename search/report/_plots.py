"""The report's figures: Optuna's optimisation history, parameter importances, parallel coordinates
and Pareto front, and per-group per-task metric bars with the repeats' spread as error bars.

Every figure is a PNG (matplotlib, Agg); Optuna's own plots are also drawn with its plotly
backend as interactive HTML pages.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from optuna.exceptions import ExperimentalWarning  # noqa: E402
from optuna.importance import FanovaImportanceEvaluator  # noqa: E402
from optuna.trial import TrialState  # noqa: E402
from optuna.visualization import matplotlib as optuna_plots  # noqa: E402

from search.affinity import affinity_figure  # noqa: E402
from search.compare import BETTER, NO_DIFFERENCE, WORSE  # noqa: E402
from search.engines import mean_objective  # noqa: E402
from search.report._data import GroupRow, Report  # noqa: E402

HISTORY, METRICS, IMPORTANCES, PARALLEL, PARETO = ("optimization_history.png", "task_metrics.png",
                                                   "param_importances.png", "parallel_coordinate.png", "pareto_front.png")
AFFINITY = "task_affinity.png"  # the study's task-affinity heatmap, where it has an affinity run
EFFECTS = "effects.png"  # a comparison's answer: each arm's difference from the reference, per task
BUDGET = "budget_curves.png"  # beside it: each arm's expected best validation objective after n tuning trials
ANSWER = (EFFECTS, BUDGET)  # the plots shown with the verdict, beside each other
WORD_COLOURS = {BETTER: "tab:green", WORSE: "tab:red", NO_DIFFERENCE: "tab:gray"}
SPLITS = ("val", "test")


def _study(report: Report) -> optuna.Study:
    """An in-memory study holding the report's trials, for Optuna's plot functions."""
    n_objectives = max((len(t.values) for t in _complete(report)), default=1)
    study = optuna.create_study(study_name=report.study_name, directions=[report.direction] * n_objectives)
    study.add_trials(report.trials)
    return study


def _target(report: Report) -> Callable[[optuna.trial.FrozenTrial], float] | None:
    """With one objective per task, plots show the mean objective (Optuna's plots need one target)."""
    return (lambda t: mean_objective(t)) if report.pareto else None


def _complete(report: Report) -> list[optuna.trial.FrozenTrial]:
    return [t for t in report.trials if t.state == TrialState.COMPLETE]


def _figure(draw: Callable[[], Axes], width: float = 7.0, height: float = 4.5) -> Figure:
    """The figure Optuna drew into, resized and laid out."""
    fig = cast(Figure, draw().figure)  # Optuna draws on a top-level figure, never a SubFigure
    fig.set_size_inches(width, height)
    fig.tight_layout()
    return fig


def _has_complete(report: Report) -> bool:
    return bool(_complete(report))


def _importances_possible(report: Report) -> bool:
    complete = _complete(report)
    common = set.intersection(*(set(t.params) for t in complete)) if complete else set()
    return len(complete) >= 2 and len(common) >= 2


def _pareto_possible(report: Report) -> bool:
    return bool(report.pareto) and len(report.tasks) in (2, 3)


# name -> (whether the report can draw it, how to draw it with an Optuna plotting module)
OPTUNA_PLOTS: dict[str, tuple[Callable[[Report], bool], Callable[[Any, Report], Any]]] = {
    HISTORY: (_has_complete, lambda plots, r: plots.plot_optimization_history(
        _study(r), target=_target(r), target_name="objective")),
    IMPORTANCES: (_importances_possible, lambda plots, r: plots.plot_param_importances(
        _study(r), evaluator=FanovaImportanceEvaluator(seed=0), target=_target(r), target_name="objective")),
    PARALLEL: (lambda r: any(t.params for t in _complete(r)), lambda plots, r: plots.plot_parallel_coordinate(
        _study(r), target=_target(r), target_name="objective")),
    PARETO: (_pareto_possible, lambda plots, r: plots.plot_pareto_front(
        _study(r), target_names=[f"{task} objective" for task in r.tasks])),
}


def optuna_figure(name: str, report: Report) -> Figure | None:
    """Optuna's matplotlib version of plot ``name``; None when the report lacks what it needs.

    The parallel-coordinate plot gets an inch per parameter and slanted axis names, which Optuna
    otherwise prints on top of each other.
    """
    possible, draw = OPTUNA_PLOTS[name]
    if not possible(report):
        return None
    if name != PARALLEL:
        return _figure(lambda: draw(optuna_plots, report))
    n_params = len({p for t in _complete(report) for p in t.params})
    fig = _figure(lambda: _slanted(draw(optuna_plots, report)), width=max(8.0, 1.1 * (n_params + 1)), height=5.0)
    return fig


def _slanted(ax: Axes) -> Axes:
    """``ax`` with its x tick labels slanted and small enough to stay apart."""
    for label in ax.get_xticklabels():
        label.set_rotation(35)
        label.set_horizontalalignment("right")
        label.set_fontsize(8)
    return ax


def effect_plot(report: Report) -> Figure | None:
    """One panel per task (and the mean objective): each arm's improvement over the reference in %, 95% CI, zero line."""
    verdict = report.verdict
    comparisons = [c for c in verdict.comparisons if c.reference == verdict.reference] if verdict else []
    if verdict is None or not comparisons:
        return None
    targets = list(dict.fromkeys(c.target for c in comparisons))
    arms = list(dict.fromkeys(c.arm for c in comparisons))
    fig, axes = plt.subplots(1, len(targets), squeeze=False, sharey=True,
                             figsize=(max(3.2 * len(targets), 6.0), 1.2 + 0.55 * len(arms)))
    for ax, target in zip(axes[0], targets, strict=True):
        for y, arm in enumerate(arms):
            c = next(c for c in comparisons if c.arm == arm and c.target == target)
            mid, low, high = c.improvement(verdict.minimize)
            if math.isnan(mid):
                continue
            whisker = [[mid - low], [high - mid]] if math.isfinite(low) and math.isfinite(high) else None
            ax.errorbar([mid], [y], xerr=whisker, fmt="o", capsize=4, color=WORD_COLOURS[c.word])
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_title(target, fontsize=10)
        ax.set_xlabel(f"better than {verdict.reference} (%)", fontsize=8)
        ax.set_yticks(range(len(arms)), arms, fontsize=9)
        ax.set_ylim(-0.6, len(arms) - 0.4)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Improvement over {verdict.reference} on the test split: mean and Fieller 95% CI, up to {verdict.seeds} paired seeds\n"
                 "green: better, red: worse, grey: no detectable difference (Holm-corrected)", fontsize=9)
    fig.tight_layout()
    return fig


def budget_plot(report: Report) -> Figure | None:
    """One line per arm: the expected best validation objective of n tuning trials (n = 1..N), a band of one
    standard deviation either side (:func:`mtl.budget.expected_best`); None outside comparisons."""
    curves = {arm: c for arm, c in (report.budgets or {}).items() if c.trials}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6.0, 1.2 + 0.55 * max(len(curves), 4)))
    for arm, curve in curves.items():
        n = np.arange(1, curve.trials + 1)
        mean, std = np.array(curve.mean), np.array(curve.std)
        (line,) = ax.plot(n, mean, marker="o", markersize=3, label=arm)
        ax.fill_between(n, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("tuning trials per arm (n)", fontsize=8)
    ax.set_ylabel(f"expected best validation objective ({report.direction})", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Expected best of n tuning trials, drawn from each arm's own (Dodge et al. 2019)\nband: ± one standard "
                 "deviation; no retraining", fontsize=9)
    fig.tight_layout()
    return fig


def interactive_figures(report: Report) -> dict[str, Any]:
    """Optuna's plotly versions of the plots the report can draw, keyed by HTML file name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.filterwarnings("ignore", "Attempting to set identical low and high", UserWarning)
        return {name.replace(".png", ".html"): draw(optuna.visualization, report)
                for name, (possible, draw) in OPTUNA_PLOTS.items() if possible(report)}


def _bar(row: GroupRow, split: str, task: str, metric: str) -> tuple[float, float]:
    """Height and error of one bar: the repeats' mean and std where they exist, else the best trial's value."""
    stat = getattr(row.repeats, split).get(task, {}).get(metric) if row.repeats else None
    if stat is not None and stat.n > 0:
        return stat.mean, 0.0 if math.isnan(stat.std) else stat.std
    return getattr(row.best, split).get(task, {}).get(metric, math.nan), 0.0


def task_metrics(report: Report) -> Figure | None:
    """One panel per (metric, task): validation and test bars per group, error bars = repeats' std."""
    rows = [row for row in report.rows if row.best]
    metrics = report.metrics()
    if not rows or not metrics:
        return None
    fig, axes = plt.subplots(len(metrics), len(report.tasks), squeeze=False,
                             figsize=(max(4.0, 1.1 * len(rows)) * len(report.tasks), 2.8 * len(metrics)))
    x, width = np.arange(len(rows)), 0.38
    for ax_row, metric in zip(axes, metrics):
        for ax, task in zip(ax_row, report.tasks):
            for offset, split in zip((-width / 2, width / 2), SPLITS):
                heights, errors = zip(*(_bar(row, split, task, metric) for row in rows))
                ax.bar(x + offset, heights, width, yerr=errors, capsize=3, label=split)
            ax.set_xticks(x, [row.label for row in rows], rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{task}: {metric}", fontsize=9)
    axes[0][0].legend(fontsize=7)
    repeated = any(row.repeats for row in rows)
    fig.suptitle("mean of the repeats (error bar: std), else the best trial" if repeated else "best trial of each group",
                 fontsize=9)
    fig.tight_layout()
    return fig


def report_figures(report: Report) -> dict[str, Figure]:
    """Every figure the report can draw, keyed by its PNG file name; those lacking trials are left out.

    Optuna's plots switch matplotlib to its ggplot style (undone on return) and warn that they are
    experimental or that a parameter took one value; those warnings are silenced.
    """
    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.filterwarnings("ignore", "Attempting to set identical low and high", UserWarning)
        drawn = {name: optuna_figure(name, report) for name in OPTUNA_PLOTS}
        drawn[METRICS] = task_metrics(report)
        drawn[EFFECTS] = effect_plot(report)
        drawn[BUDGET] = budget_plot(report)
    if report.affinity is not None:
        drawn[AFFINITY] = affinity_figure(report.affinity.matrix, report.affinity.tasks)
    return {name: fig for name, fig in drawn.items() if fig is not None}


def close(fig: Figure) -> None:
    """Release a figure's memory."""
    plt.close(fig)
