"""What each weighting scheme costs per training step, as a ratio to ``fixed`` in the same run.

Run by hand: ``python benchmarks/step_time.py [--quick]``.

For 2 and 6 synthetic tasks (4,000 rows, 16 features) and ``yeast`` (14 tasks), every scheme of
:data:`mtl.weighting.WEIGHTINGS` trains the same ``hard`` model (2 x 64 trunk, 1 x 16 towers,
batch 64, 6 epochs, no early stopping), the schemes taking turns, ``--repeats`` rounds. A training's
step time is :func:`mtl.training.typical_step_ms` (the median of its epochs' mean training step,
the first epoch, which traces, left out): what the report's ``ms/step`` column shows. Prints the
median over rounds in ms for ``fixed`` and as a ratio to ``fixed`` for the others; writes
``benchmarks/results/step_time.json`` and ``.png``. A measurement, no goal.
"""

from __future__ import annotations

import statistics

import matplotlib.pyplot as plt
import numpy as np
from common import parser, print_table, save_results

from mtl.data import Splits, load_dataset, make_synthetic, split
from mtl.models import ModelConfig
from mtl.training import TrainConfig, train, typical_step_ms
from mtl.weighting import WEIGHTINGS

CONFIG = ModelConfig("hard", shared_depth=2, shared_width=64, tower_depth=1, tower_width=16)


def cases(quick: bool) -> dict[str, Splits]:
    """The data of each case, split 60/20/20 with seed 0."""
    rows = 800 if quick else 4000
    synthetic = {f"{t} tasks": make_synthetic(n_samples=rows, n_features=16, n_tasks=t, seed=0) for t in (2, 6)}
    every = {**synthetic, "yeast (14 tasks)": load_dataset("yeast", {}, seed=0)}
    return {name: split(data, 0.2, 0.2, seed=0) for name, data in every.items()}


def main() -> None:
    """Time every scheme on every case; print, save."""
    args = parser(__doc__.splitlines()[0]).parse_args()
    repeats, epochs = (1, 3) if args.quick else (3, 6)
    settings = {name: TrainConfig(weighting=name, epochs=epochs, patience=epochs, batch_size=64) for name in WEIGHTINGS}
    figures: dict[str, dict[str, list[float]]] = {}
    for case, splits in cases(args.quick).items():
        train(CONFIG, splits, settings["fixed"])  # warm-up: TensorFlow's first traces
        times: dict[str, list[float]] = {name: [] for name in WEIGHTINGS}
        for _ in range(repeats):
            for name, config in settings.items():
                step_ms = typical_step_ms(train(CONFIG, splits, config).history)
                assert step_ms is not None
                times[name].append(step_ms)
        figures[case] = times
    medians = {case: {name: statistics.median(v) for name, v in times.items()} for case, times in figures.items()}
    rows = [(name, *(medians[c][name] if name == "fixed" else medians[c][name] / medians[c]["fixed"] for c in figures))
            for name in WEIGHTINGS]
    print_table("median ms per training step (fixed) and ratio to fixed (the others)", ("weighting", *figures), rows)
    figure, ax = plt.subplots(figsize=(9, 4.5))
    positions = np.arange(len(WEIGHTINGS))
    for offset, case in enumerate(figures):
        ratios = [medians[case][name] / medians[case]["fixed"] for name in WEIGHTINGS]
        ax.bar(positions + 0.27 * (offset - 1), ratios, 0.25, label=case)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(positions, list(WEIGHTINGS), rotation=40, ha="right")
    ax.set_ylabel("step time / fixed")
    ax.set_title("Training step time of each weighting, relative to fixed")
    ax.legend()
    figure.tight_layout()
    save_results("step_time", args.quick, {"repeats": repeats, "epochs": epochs, "model": str(CONFIG)}, figures, figure)


if __name__ == "__main__":
    main()
