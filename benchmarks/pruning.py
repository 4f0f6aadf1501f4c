"""Pruning: the same wall-clock budget with no pruner and with successive halving, three sampler seeds.

Both arms sweep ``spaces/benchmark.toml`` (TPE) on fresh stores for ``--budget`` seconds per seed;
the pruning arm uses Optuna's successive halving (ASHA: ``min_resource = 3``, ``reduction_factor =
3``), which stops a trial at an epoch rung (3, 9) when it is not in the top third there. A trial counts
when it finishes within the budget (``run_sweep`` starts no trial after it, but the last one
started runs on; it is shown, not counted). Per seed: each arm's best objective within the budget,
trials complete / pruned / failed, and the time at which its best so far first came within 2% of
the no-pruning arm's best. Goal (README): pruning reaches that objective in at most half the time,
taken as the median over seeds of pruning's time / no pruning's time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import common
import matplotlib.pyplot as plt
import optuna

from search.engines import run_sweep
from search.space import Space

TOLERANCE = 0.02
GOAL_FRACTION = 0.5
SEEDS = (0, 1, 2)
ARMS: dict[str, dict[str, Any]] = {
    "none": {"pruner": "none", "pruner_options": {}},
    "halving": {"pruner": "halving", "pruner_options": {"min_resource": 3, "reduction_factor": 3}},
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
    monitor = common.SweepMonitor(echo=False)
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


def compare_seed(base: Space, seed: int, budget: float, minimize: bool) -> dict[str, Any]:
    """Both arms on sampler seed ``seed``: their trials, bests within the budget and times to the target."""
    finished = {}
    for arm, settings in ARMS.items():
        print(f"  seed {seed}, arm {arm}", flush=True)
        finished[arm] = run_arm(common.with_study(base, seed=seed, timeout=None, **settings), budget)
    curves = {arm: best_curve(trials, minimize) for arm, trials in finished.items()}
    within = {arm: [c for c in curve if c[0] <= budget] for arm, curve in curves.items()}
    if not within["none"]:
        raise SystemExit(f"the no-pruning arm completed no trial within {budget:g} s; raise --budget")
    reference = within["none"][-1][1]
    target = reference + TOLERANCE * abs(reference) if minimize else reference - TOLERANCE * abs(reference)
    arms = {}
    for arm, trials in finished.items():
        counted = [t for t in trials if t.seconds <= budget]
        arms[arm] = {
            "best_within_budget": within[arm][-1][1] if within[arm] else None,
            **{state.lower(): sum(t.state == state for t in counted) for state in ("COMPLETE", "PRUNED", "FAIL")},
            "finished_after_budget": len(trials) - len(counted),
            "time_to_target_s": time_to_reach(curves[arm], target, minimize, budget),
            "curve": curves[arm],
            "trials": [vars(t) for t in trials],
        }
    times = [arms[arm]["time_to_target_s"] for arm in ARMS]
    fraction = times[1] / times[0] if times[0] and times[1] is not None else None
    return {"seed": seed, "reference_best": reference, "target": target, "fraction": fraction, "arms": arms}


def main() -> None:
    """Run both arms for every seed, print the tables, write the figures."""
    cli = common.parser(__doc__.splitlines()[0])
    cli.add_argument("--budget", type=float, help="wall-clock seconds per arm and seed (default 120; quick 20)")
    cli.add_argument("--rows", type=int, help="synthetic rows instead of the space's 3,000 (results: pruning-<rows>rows.*)")
    args = cli.parse_args()
    budget = args.budget or (20.0 if args.quick else 120.0)
    seeds = SEEDS[:1] if args.quick else SEEDS
    base = common.default_space()
    if args.rows:
        base = replace(base, data=replace(base.data, options={**base.data.options, "n_samples": args.rows}))
    minimize = base.objective.direction == "minimize"
    print(f"pruning: {budget:g} s per arm and seed on {common.DEFAULT_SPACE.name}, {base.data.options['n_samples']} rows "
          f"({base.study.sampler}, seeds {list(seeds)})")
    common.warm_up()
    per_seed = [compare_seed(base, seed, budget, minimize) for seed in seeds]
    rows = []
    for result in per_seed:
        for arm, figures in result["arms"].items():
            rows.append((result["seed"], arm, figures["best_within_budget"], figures["complete"], figures["pruned"],
                         figures["fail"], figures["time_to_target_s"], result["target"]))
    fractions = [r["fraction"] for r in per_seed]
    known = sorted(f for f in fractions if f is not None)
    median = known[len(known) // 2] if len(known) % 2 else (sum(known[len(known) // 2 - 1:len(known) // 2 + 1]) / 2 if known else None)
    common.print_table(f"{budget:g} s per arm; target = none's best + {TOLERANCE:.0%}",
                       ("seed", "arm", "best", "complete", "pruned", "failed", "time to target s", "target"), rows)
    common.print_table("goal", ("figure", "value"), [
        *[(f"seed {r['seed']}: halving time / none time", r["fraction"]) for r in per_seed],
        ("median over seeds", median),
        (f"goal met (<= {GOAL_FRACTION})", median is not None and median <= GOAL_FRACTION),
    ])
    fig, axes = plt.subplots(1, len(per_seed), figsize=(4.6 * len(per_seed), 3.6), squeeze=False)
    for ax, result in zip(axes[0], per_seed):
        for arm, figures in result["arms"].items():
            curve = figures["curve"]
            if curve:
                xs = [c[0] for c in curve] + [max(budget, curve[-1][0])]
                ys = [c[1] for c in curve] + [curve[-1][1]]
                ax.step(xs, ys, where="post", label=f"{arm} ({figures['complete']} complete, {figures['pruned']} pruned)")
        ax.axhline(result["target"], color="grey", linestyle=":", label=f"none's best + {TOLERANCE:.0%}")
        ax.axvline(budget, color="black", linewidth=0.8)
        ax.set_xlim(left=0)
        ax.set_xlabel("seconds since the sweep began")
        ax.set_ylabel("best objective so far")
        ax.set_title(f"seed {result['seed']}: halving / none time to target = "
                     + (f"{result['fraction']:.2f}" if result["fraction"] is not None else "-"), fontsize=9)
        ax.legend(fontsize=7)
    settings = {"space": str(common.DEFAULT_SPACE.relative_to(common.REPO)), "rows": base.data.options["n_samples"],
                "budget_s": budget, "sampler": base.study.sampler,
                "seeds": list(seeds), "arms": ARMS, "tolerance": TOLERANCE}
    figures = {"per_seed": per_seed, "median_fraction": median, "goal_fraction": GOAL_FRACTION}
    common.save_results(f"pruning-{args.rows}rows" if args.rows else "pruning", args.quick, settings, figures, fig)

if __name__ == "__main__":
    main()
