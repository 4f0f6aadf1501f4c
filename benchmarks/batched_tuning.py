"""Batched tuning: the default comparison's tuning with ``[study] batch`` = 1, ``"startup"`` (the default space's), 4 and 8.

Run by hand: ``python benchmarks/batched_tuning.py [--quick] [--batches 1,startup,4,8]``.

Each batch size tunes every arm of ``spaces/default.toml`` (8 trials each, as the README's first
command does) into throwaway stores, in one process. Prints, per batch size, the tuning time, the
trials per hour, its ratio to batch 1, how many trials trained in stacks, and each arm's best
validation objective (the trials differ from batch 1's where the sampler would have used earlier
results: TPE starts modelling after 5 trials, and a batch asks before it has them). Writes
``benchmarks/results/batched_tuning.json`` and ``.png``.
"""

from __future__ import annotations

import time
import tomllib
from typing import Any

import matplotlib.pyplot as plt
from common import REPO, parser, print_table, save_results, silent, temp_stores, warm_up

from search.engines import best_trial, mean_objective, open_sweep, tune_sweep
from search.space import Space
from search.tracking import RUN_ID_ATTR, Tracker


def space_with_batch(batch: int | str, quick: bool) -> Space:
    """``spaces/default.toml`` with ``[study] batch = batch``."""
    doc: dict[str, Any] = tomllib.loads((REPO / "spaces" / "default.toml").read_text())
    doc["study"] |= {"name": f"batched-{batch}", "batch": batch}
    if quick:
        doc["study"]["trials"] = 4
        doc["training"] = {"epochs": 5, "patience": 5}
    return Space.from_dict(doc, f"<batched {batch}>")


def run_batch_size(batch: int | str, quick: bool) -> dict[str, Any]:
    """Tune the default comparison with ``batch``: its figures."""
    with temp_stores() as stores:
        sweep = open_sweep(space_with_batch(batch, quick), **stores)
        started = time.perf_counter()
        tune_sweep(sweep, printer=silent)
        seconds = time.perf_counter() - started
        tracker = Tracker(stores["tracking_uri"], sweep.study.study_name)
        trials = [t for arm in sweep.arms for t in arm.study.get_trials(deepcopy=False)]
        stacked = sum(tracker.get_run(t.user_attrs[RUN_ID_ATTR]).data.tags.get("stacked") == "true"
                      for t in trials if RUN_ID_ATTR in t.user_attrs)
        best = {arm.label: round(mean_objective(b), 4) for arm in sweep.arms if (b := best_trial(arm.study)) is not None}
    return {"tuning_s": round(seconds, 1), "trials": len(trials), "stacked": stacked,
            "trials_per_hour": round(len(trials) / seconds * 3600), "best_val_objective": best}


def main() -> None:
    """Tune at each batch size, print the table, save the figures and a bar chart."""
    cli = parser("The default comparison's tuning with batches of 1, the start-up trials, 4 and 8 trials.")
    cli.add_argument("--batches", default="1,startup,4,8",
                     help="comma-separated batch sizes or startup (the first is the baseline)")
    args = cli.parse_args()
    batches: list[int | str] = [int(b) if b.strip().isdigit() else b.strip() for b in args.batches.split(",")]
    warm_up()
    figures = {}
    for batch in batches:
        print(f"batch {batch}: tuning ...", flush=True)
        figures[str(batch)] = run_batch_size(batch, args.quick)
    base = figures[str(batches[0])]["tuning_s"]
    arms = list(figures[str(batches[0])]["best_val_objective"])
    rows = [(b, f["tuning_s"], round(f["tuning_s"] / base, 2), f["trials_per_hour"], f"{f['stacked']}/{f['trials']}",
             *(f["best_val_objective"].get(a, "-") for a in arms)) for b, f in figures.items()]
    print_table("tuning the default comparison", ["batch", "seconds", f"x batch {batches[0]}", "trials/hour", "stacked",
                                                  *(f"best {a}" for a in arms)], rows)
    figure, axes = plt.subplots(figsize=(5, 3))
    axes.bar([str(b) for b in batches], [figures[str(b)]["trials_per_hour"] for b in batches], color="#4c72b0")
    axes.set_xlabel("[study] batch")
    axes.set_ylabel("tuning trials per hour")
    axes.set_title("Default comparison's tuning (2-core CPU)")
    save_results("batched_tuning", args.quick, {"batches": batches}, figures, figure)


if __name__ == "__main__":
    main()
