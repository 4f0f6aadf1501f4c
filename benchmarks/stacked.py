"""Stacked training's speed: K seeds of one configuration as one stacked model, against K lone trainings.

Run by hand: ``python benchmarks/stacked.py [--copies 10] [--rounds 3] [--strategy hard] [--weighting fixed]``
(any weighting: every one has a stacked form). The data
and the model are the default comparison's (``spaces/default.toml``: 600 synthetic rows, 210 to
train on, 3 tasks; a ``hard`` trunk of 2 x 32, towers of 16, batch 32, 40 epochs), trained with
:func:`mtl.training.train` (one seed) and :func:`mtl.fused.train_fused` (K seeds, stacked), without
tracking. Early stopping is off (patience = epochs), so every training runs the same number of
steps and the ratios measure the training itself. Each round times, in one process: one lone
training, K lone trainings one after another, and the K seeds stacked. Prints the medians over
the rounds and the ratios (stacked / sequential, stacked / one lone training); writes
``benchmarks/results/stacked.json`` (``stacked-<weighting>.json`` for another weighting). Goal
(issue #30): K = 10 stacked in at most 2x one lone training's wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from common import RESULTS

from mtl.data import make_synthetic, split
from mtl.fused import train_fused
from mtl.models import ModelConfig
from mtl.training import TrainConfig, train


def main() -> None:
    """Time one lone training, K lone trainings and K stacked copies, ``--rounds`` times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--strategy", default="hard")
    parser.add_argument("--weighting", default="fixed")
    args = parser.parse_args()
    data = make_synthetic(n_samples=600, n_features=16, n_tasks=3, correlation=0.9, noise=1.0, label_fraction=0.34, seed=0)
    splits = split(data, 0.25, 0.4, seed=0)
    config = ModelConfig(args.strategy, shared_depth=2, shared_width=32, tower_depth=1, tower_width=16)
    settings = TrainConfig(learning_rate=3e-3, batch_size=32, epochs=40, patience=40, weighting=args.weighting)
    seeds = list(range(args.copies))
    times: dict[str, list[float]] = {"one": [], "sequential": [], "stacked": []}
    for round_ in range(args.rounds):
        start = time.perf_counter()
        train(config, splits, settings)
        times["one"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for seed in seeds:
            train(config, splits, TrainConfig(**{**settings.__dict__, "seed": seed}))
        times["sequential"].append(time.perf_counter() - start)
        start = time.perf_counter()
        train_fused(config, splits, settings, seeds)
        times["stacked"].append(time.perf_counter() - start)
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    ratios = {"stacked/sequential": median["stacked"] / median["sequential"], "stacked/one": median["stacked"] / median["one"]}
    print(f"medians over {args.rounds} rounds: " + ", ".join(f"{k} {v:.1f} s" for k, v in median.items()))
    print(", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    name = "stacked.json" if args.weighting == "fixed" else f"stacked-{args.weighting}.json"
    (RESULTS / name).write_text(json.dumps({"copies": args.copies, "strategy": args.strategy, "weighting": args.weighting,
                                            "times": times, "median": median, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
