"""What the task-affinity pass costs: its time as a ratio to one plain training of the same model.

Run by hand: ``python benchmarks/affinity_cost.py [--quick]``.

For each case the pass trains the model ``python -m search affinity`` trains (the space's baseline
settings, ``hard``, dropout 0, the space's epochs and seed) three ways, alternating, ``--repeats``
times each: plain (``every = 0``: no lookahead, the baseline), the default (a lookahead every 5
steps) and every step (``every = 1``). Cases: ``spaces/clusters.toml`` (6 tasks) and
``spaces/yeast.toml`` (14 tasks). Prints the median seconds, the extra seconds over plain and the
ratio to plain; writes
``benchmarks/results/affinity_cost.json`` and ``.png``. Goal: the default near one training
(ratio at most 1.5).
"""

from __future__ import annotations

import statistics
from dataclasses import replace

import matplotlib.pyplot as plt
from common import REPO, parser, print_table, save_results

from mtl.affinity import AffinitySettings, task_affinity
from search.space import load_space
from search.trial import baseline_config, baseline_settings, prepare_data

CASES = {"clusters (6 tasks)": "spaces/clusters.toml", "yeast (14 tasks)": "spaces/yeast.toml"}
WAYS = {"plain": 0, "every 5 steps (default)": 5, "every step": 1}


def main() -> None:
    """Time every way on every case; print, save."""
    args = parser(__doc__.splitlines()[0]).parse_args()
    repeats = 1 if args.quick else 3
    rows, figures = [], {}
    for case, path in CASES.items():
        space = load_space(REPO / path)
        splits = prepare_data(space)
        settings = baseline_settings(space)
        config = baseline_config({**settings, "dropout": 0.0})
        base = AffinitySettings(epochs=1 if args.quick else space.training.epochs, learning_rate=settings["learning_rate"],
                                batch_size=settings["batch_size"])
        task_affinity(config, splits, replace(base, epochs=1), seed=0)  # warm-up: TensorFlow's first traces
        seconds: dict[str, list[float]] = {way: [] for way in WAYS}
        for _ in range(repeats):
            for way, every in WAYS.items():
                seconds[way].append(task_affinity(config, splits, replace(base, every=every), seed=0).seconds)
        medians = {way: statistics.median(values) for way, values in seconds.items()}
        figures[case] = {"epochs": base.epochs, "tasks": len(splits.tasks), "rows": len(splits.train),
                         "seconds": seconds, "ratio": {way: medians[way] / medians["plain"] for way in WAYS}}
        rows += [(case, way, medians[way], medians[way] - medians["plain"], medians[way] / medians["plain"]) for way in WAYS]
    print_table("affinity pass: median seconds, extra seconds and ratio to one plain training",
                ("case", "way", "seconds", "extra", "ratio"), rows)
    figure, ax = plt.subplots(figsize=(7, 4))
    for offset, way in enumerate(WAYS):
        ax.bar([i + 0.27 * (offset - 1) for i in range(len(CASES))], [figures[c]["ratio"][way] for c in CASES], 0.25, label=way)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(CASES)), list(CASES))
    ax.set_ylabel("time / plain training")
    ax.set_title("Task-affinity pass: cost relative to one training")
    ax.legend()
    save_results("affinity_cost", args.quick, {"repeats": repeats, "ways": WAYS}, figures, figure)


if __name__ == "__main__":
    main()
