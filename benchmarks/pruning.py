"""Pruning: the same wall-clock budget with no pruner and with the median pruner, same sampler seed.

Both arms sweep ``spaces/default.toml`` (TPE, seed 0) on fresh stores for ``--budget`` seconds;
the median arm prunes with ``n_startup_trials = 5, n_warmup_steps = 3``. A trial counts when it
finishes within the budget (``run_sweep`` starts no trial after it, but the last one started runs
on; it is shown, not counted). Reported per arm: the best objective within the budget, trials
complete / pruned / failed, and the time at which the best so far first came within 2% of the no-
pruning arm's best. Goal (README): pruning reaches that objective in at most half the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import common
import matplotlib.pyplot as plt
import optuna

from search.space import Space
from search.sweep import run_sweep

TOLERANCE = 0.02
GOAL_FRACTION = 0.5
ARMS: dict[str, dict[str, Any]] = {
    "none": {"pruner": "none", "pruner_options": {}},
    "median": {"pruner": "median", "pruner_options": {"n_startup_trials": 5, "n_warmup_steps": 3}},
}


@dataclass(frozen=True)
class Finished:
    """One finished trial of an arm: when it finished (s since the sweep began), its state and value."""

    number: int
    seconds: float
    state: str
    value: float | None


def run_arm(space: Space, budget: float) -> list[Finished]:
    """Sweep ``space`` for ``budget`` seconds on fresh stores; every finished trial in order."""
    monitor = common.SweepMonitor(echo=True)
    with common.temp_stores() as stores:
        result = run_sweep(space, space.study.name, trials=1_000_000, timeout=budget, printer=monitor, **stores)
    values = {t.number: t.value for t in result.study.trials if t.state == optuna.trial.TrialState.COMPLETE}
    return [Finished(m.trial, m.seconds, m.state, values.get(m.trial)) for m in monitor.trials()]


def better(a: float, b: float, minimize: bool) -> bool:
    """Whether objective ``a`` beats ``b``."""
    return a < b if minimize else a > b


def best_curve(trials: list[Finished], minimize: bool) -> list[tuple[float, float]]:
    """(seconds, best objective so far) at every complete trial that improved it."""
    curve: list[tuple[float, float]] = []
    for trial in trials:
        if trial.value is not None and (not curve or better(trial.value, curve[-1][1], minimize)):
            curve.append((trial.seconds, trial.value))
    return curve


def time_to_reach(curve: list[tuple[float, float]], target: float, minimize: bool, budget: float) -> float | None:
    """The first time (within ``budget``) the best so far is at least as good as ``target``; None if never."""
    for seconds, best in curve:
        if seconds <= budget and not better(target, best, minimize):
            return seconds
    return None


def main() -> None:
    """Run both arms, print the table, write the figures."""
    cli = common.parser(__doc__.splitlines()[0])
    cli.add_argument("--budget", type=float, help="wall-clock seconds per arm (default 240; quick 30)")
    args = cli.parse_args()
    budget = args.budget or (30.0 if args.quick else 240.0)
    base = common.default_space()
    minimize = base.objective.direction == "minimize"

    print(f"pruning: {budget:g} s per arm on {common.DEFAULT_SPACE.name} ({base.study.sampler}, seed {base.study.seed})")
    common.warm_up()
    finished: dict[str, list[Finished]] = {}
    for arm, settings in ARMS.items():
        print(f"  arm {arm}:", flush=True)
        finished[arm] = run_arm(common.with_study(base, timeout=None, **settings), budget)

    curves = {arm: best_curve(trials, minimize) for arm, trials in finished.items()}
    within = {arm: [c for c in curve if c[0] <= budget] for arm, curve in curves.items()}
    if not within["none"]:
        raise SystemExit(f"the no-pruning arm completed no trial within {budget:g} s; raise --budget")
    reference = within["none"][-1][1]
    target = reference + TOLERANCE * abs(reference) if minimize else reference - TOLERANCE * abs(reference)
    figures: dict[str, Any] = {"reference_best": reference, "target": target, "arms": {}}
    rows = []
    for arm, trials in finished.items():
        counted = [t for t in trials if t.seconds <= budget]
        states = {s: sum(t.state == s for t in counted) for s in ("COMPLETE", "PRUNED", "FAIL")}
        best = within[arm][-1][1] if within[arm] else None
        reached = time_to_reach(curves[arm], target, minimize, budget)
        figures["arms"][arm] = {
            "best_within_budget": best,
            "complete": states["COMPLETE"],
            "pruned": states["PRUNED"],
            "failed": states["FAIL"],
            "finished_after_budget": len(trials) - len(counted),
            "last_finish_s": trials[-1].seconds if trials else None,
            "time_to_target_s": reached,
            "trials": [vars(t) for t in trials],
        }
        rows.append((arm, best, states["COMPLETE"], states["PRUNED"], states["FAIL"], reached))
    none_time, median_time = (figures["arms"][arm]["time_to_target_s"] for arm in ("none", "median"))
    fraction = median_time / none_time if none_time and median_time is not None else None
    figures.update({"median_over_none_time": fraction, "goal_fraction": GOAL_FRACTION})
    common.print_table(f"{budget:g} s per arm; target = none's best + {TOLERANCE:.0%} = {target:.4f}",
                       ("arm", "best", "complete", "pruned", "failed", "time to target s"), rows)
    common.print_table("goal", ("figure", "value"), [
        ("median time / none time to target", fraction),
        (f"goal met (<= {GOAL_FRACTION})", fraction is not None and fraction <= GOAL_FRACTION),
    ])

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for arm, curve in curves.items():
        if curve:
            xs = [c[0] for c in curve] + [max(budget, curve[-1][0])]
            ys = [c[1] for c in curve] + [curve[-1][1]]
            ax.step(xs, ys, where="post", label=f"{arm} ({figures['arms'][arm]['complete']} complete, {figures['arms'][arm]['pruned']} pruned)")
    ax.axhline(target, color="grey", linestyle=":", label=f"none's best + {TOLERANCE:.0%}")
    ax.axvline(budget, color="black", linewidth=0.8, label="budget")
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the sweep began")
    ax.set_ylabel("best objective so far")
    ax.set_title("best so far: no pruning vs median pruner", fontsize=10)
    ax.legend(fontsize=8)
    settings = {"space": str(common.DEFAULT_SPACE.relative_to(common.REPO)), "budget_s": budget, "sampler": base.study.sampler,
                "seed": base.study.seed, "arms": ARMS, "tolerance": TOLERANCE}
    common.save_results("pruning", args.quick, settings, figures, fig)


if __name__ == "__main__":
    main()
