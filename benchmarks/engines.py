"""Engines: Optuna TPE with pruning vs keras-tuner Hyperband and Bayesian, at equal wall-clock budgets.

Each arm sweeps the same space file on fresh stores for ``--budget`` seconds, on the synthetic
benchmark (``spaces/benchmark.toml``) and on a real data set (``spaces/digits.toml``), with three
seeds (the space's seed replaced). Optuna uses the space's TPE sampler and median pruner; the
keras-tuner arms use the same space through ``run --engine keras-tuner``'s code path. The curves
are read back from each arm's MLflow store, the same for both engines: a trial counts at its child
run's end time (seconds since the parent run started) with its logged ``objective``, if its state
is COMPLETE and it ended within the budget (pruned trials have no final objective). Reported: the
best objective per arm and seed at the budget, its mean over seeds, and trials completed.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
import matplotlib.pyplot as plt
import numpy as np
from mlflow.tracking import MlflowClient

from search.engines import run_sweep, run_tuner_sweep
from search.space import Space, load_space

SPACES = {"synthetic": common.REPO / "spaces" / "benchmark.toml", "digits": common.REPO / "spaces" / "digits.toml"}
ARMS = ("optuna-tpe+median", "kt-hyperband", "kt-bayesian")
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Arm:
    """One sweep's outcome: (seconds, objective) of each complete trial in end order, and all its trials."""

    curve: list[tuple[float, float]]
    trials: int


def sweep(arm: str, space: Space, budget: float) -> Arm:
    """Run ``arm`` on ``space`` for ``budget`` seconds on fresh stores; read its trials back from MLflow."""
    with tempfile.TemporaryDirectory(prefix="mtl-engines-") as folder:
        tracking = f"sqlite:///{folder}/mlflow.db"
        if arm.startswith("optuna"):
            run_sweep(space, trials=1_000_000, timeout=budget, printer=common.silent, storage=f"sqlite:///{folder}/optuna.db",
                      tracking_uri=tracking)
        else:
            run_tuner_sweep(space, tracking_uri=tracking, trials=1_000_000, oracle=arm.removeprefix("kt-"),
                            project_root=Path(folder) / "kt", printer=common.silent, timeout=budget)
        return read_back(tracking, space.study.name)


def read_back(tracking: str, study: str) -> Arm:
    """The complete trials of the study's MLflow experiment, timed from its parent run's start."""
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name(study)
    runs = client.search_runs([experiment.experiment_id], max_results=50_000)
    parent = next(r for r in runs if r.data.tags.get("kind") == "sweep")
    children = [r for r in runs if r.data.tags.get("kind") == "trial"]
    start = parent.info.start_time
    done = [((r.info.end_time - start) / 1000, r.data.metrics["objective"]) for r in children
            if r.data.tags.get("state") == "COMPLETE" and "objective" in r.data.metrics]
    return Arm(sorted(done), len(children))


def best_at(curve: list[tuple[float, float]], seconds: float, minimize: bool) -> float | None:
    """The best objective among trials ended by ``seconds`` (None if none)."""
    values = [v for t, v in curve if t <= seconds]
    if not values:
        return None
    return min(values) if minimize else max(values)


def measure(budget: float, seeds: tuple[int, ...]) -> dict[str, Any]:
    """Every arm on every data set and seed: per data set and arm, the bests at the budget and the curves."""
    figures: dict[str, Any] = {}
    for data, path in SPACES.items():
        base = load_space(path)
        minimize = base.objective.direction == "minimize"
        figures[data] = {"direction": base.objective.direction}
        for arm in ARMS:
            runs = []
            for seed in seeds:
                print(f"  {data} / {arm} / seed {seed}", flush=True)
                runs.append(sweep(arm, common.with_study(base, seed=seed, timeout=None), budget))
            figures[data][arm] = {"best_at_budget": [best_at(r.curve, budget, minimize) for r in runs],
                                  "trials_started": [r.trials for r in runs],
                                  "complete_within_budget": [sum(t <= budget for t, _ in r.curve) for r in runs],
                                  "curves": [r.curve for r in runs]}
    return figures


def report(figures: dict[str, Any], budget: float) -> plt.Figure:
    """Print one table per data set; the figure: best so far against time, one panel per data set."""
    fig, axes = plt.subplots(1, len(SPACES), figsize=(6.0 * len(SPACES), 3.8))
    grid = np.linspace(0, budget, 240)
    for ax, data in zip(np.atleast_1d(axes), SPACES):
        direction = figures[data]["direction"]
        rows = []
        for arm in ARMS:
            result = figures[data][arm]
            reached = [f for f in result["best_at_budget"] if f is not None]
            rows.append((arm, float(np.mean(reached)) if reached else None, float(np.std(reached)) if reached else None,
                         float(np.mean(result["complete_within_budget"]))))
            curves = [[tuple(point) for point in curve] for curve in result["curves"]]
            traces = np.array([[np.nan if (b := best_at(c, t, direction == "minimize")) is None else b for t in grid]
                               for c in curves])
            with warnings.catch_warnings():  # before a seed's first complete trial its curve is NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                low, high = np.nanmin(traces, axis=0), np.nanmax(traces, axis=0)
            line = ax.plot(grid, traces.mean(axis=0), label=arm)[0]  # the mean once every seed has a trial
            ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.15)
        common.print_table(f"{data}: best objective at {budget:g} s over {len(figures[data][ARMS[0]]['curves'])} seed(s)",
                           ("arm", "mean best", "std", "complete trials"), rows)
        ax.set_yscale("log")
        ax.set_title(f"{data}: best objective so far (mean over seeds; band: min-max)", fontsize=9)
        ax.set_xlabel("seconds since the sweep began")
        ax.set_ylabel(f"best val objective ({direction}, log scale)")
        ax.legend(fontsize=8)
    return fig


def main() -> None:
    """Run every arm on every data set and seed (or reload the saved results), print the tables, write the figures."""
    cli = common.parser(__doc__.splitlines()[0])
    cli.add_argument("--budget", type=float, help="wall-clock seconds per sweep (default 60; quick 15)")
    cli.add_argument("--replot", action="store_true", help="redraw the tables and figure from the saved JSON; train nothing")
    args = cli.parse_args()
    if args.replot:
        saved = json.loads((common.RESULTS / ("engines-quick.json" if args.quick else "engines.json")).read_text())
        settings, figures = saved["settings"], saved["figures"]
    else:
        budget = args.budget or (15.0 if args.quick else 60.0)
        seeds = SEEDS[:1] if args.quick else SEEDS
        print(f"engines: {budget:g} s per sweep, {len(SPACES)} data sets x {len(ARMS)} arms x {len(seeds)} seeds")
        common.warm_up()
        figures = measure(budget, seeds)
        settings = {"spaces": {k: str(v.relative_to(common.REPO)) for k, v in SPACES.items()}, "budget_s": budget,
                    "seeds": list(seeds), "arms": list(ARMS)}
    common.save_results("engines", args.quick, settings, figures, report(figures, settings["budget_s"]))

if __name__ == "__main__":
    main()
