"""Does sharing truly help on the default data? A bare-Keras check, beside the harness, with nothing of ours but the data.

Run by hand: ``python benchmarks/sharing_check.py [--space F] [--seeds 5]``. It generates the
default space's synthetic data (``spaces/default.toml``: the same generator options and seed),
splits it with the space's fractions and seed, and trains two plain Keras designs per seed:
``independent`` (one network per task) and ``hard`` (one shared trunk, a linear head per task),
the same layer sizes, Adam, early stopping on the validation loss; a missing label weighs 0. It prints each task's test
mean squared error per design (mean ± std over the seeds) and the paired difference, and writes
``benchmarks/results/sharing_check.json``. The harness's own verdict on the same data should agree.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tomllib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mtl.data import make_synthetic, split  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _mlp(inputs: keras.KerasTensor, width: int, depth: int, name: str) -> keras.KerasTensor:
    x = inputs
    for i in range(depth):
        x = keras.layers.Dense(width, activation="relu", name=f"{name}_{i}")(x)
    return x


def build(design: str, n_features: int, tasks: list[str], width: int, depth: int) -> keras.Model:
    """``independent``: one MLP per task; ``hard``: one shared MLP, a linear head per task."""
    inputs = keras.Input((n_features,))
    if design == "hard":
        trunk = _mlp(inputs, width, depth, "shared")
        outputs = [keras.layers.Dense(1, name=t)(trunk) for t in tasks]
    else:
        outputs = [keras.layers.Dense(1, name=t)(_mlp(inputs, width, depth, f"own_{t}")) for t in tasks]
    return keras.Model(inputs, outputs)


def main() -> None:
    """Train both designs for every seed; print and save the per-task test errors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default=str(ROOT / "spaces" / "default.toml"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=2)
    args = parser.parse_args()
    doc = tomllib.loads(Path(args.space).read_text())
    options, seed = doc["data"]["options"], doc["study"].get("seed", 0)
    data = make_synthetic(**options, seed=seed)
    splits = split(data, doc["data"].get("val_fraction", 0.2), doc["data"].get("test_fraction", 0.2), seed=seed)
    mean, std = splits.train.x.mean(axis=0), splits.train.x.std(axis=0) + 1e-8
    x = {part: (getattr(splits, part).x - mean) / std for part in ("train", "val", "test")}
    tasks = [t.name for t in data.tasks]
    labels = {part: [getattr(splits, part).y[t] for t in tasks] for part in ("train", "val", "test")}
    # a missing label (``label_fraction`` < 1) is a 0 with sample weight 0: out of the loss and the test error
    y = {part: [np.nan_to_num(v) for v in values] for part, values in labels.items()}
    present = {part: [(~np.isnan(v)).astype("float32") for v in values] for part, values in labels.items()}
    errors: dict[str, list[list[float]]] = {"independent": [], "hard": []}
    started = time.perf_counter()
    for s in range(args.seeds):
        for design in errors:
            keras.utils.set_random_seed(1000 + s)
            model = build(design, x["train"].shape[1], tasks, args.width, args.depth)
            model.compile(keras.optimizers.Adam(3e-3), loss=["mse"] * len(tasks))
            stop = keras.callbacks.EarlyStopping(patience=8, restore_best_weights=True)
            model.fit(x["train"], y["train"], sample_weight=present["train"], epochs=150, batch_size=32, callbacks=[stop],
                      validation_data=(x["val"], y["val"], present["val"]), verbose=0)
            predictions = model.predict(x["test"], verbose=0)
            errors[design].append([float(np.average((p[:, 0] - t) ** 2, weights=w))
                                   for p, t, w in zip(predictions, y["test"], present["test"], strict=True)])
    seconds = time.perf_counter() - started
    labelled = [int(w.sum()) for w in present["train"]]
    print(f"{len(splits.train.x)} training rows (labelled per task: {labelled}), {len(tasks)} tasks, {args.seeds} seeds, "
          f"{seconds:.0f} s")
    summary = {}
    for i, task in enumerate(tasks):
        ind, hard = (np.array([e[i] for e in errors[d]]) for d in ("independent", "hard"))
        diff = hard - ind
        summary[task] = {"independent": [float(ind.mean()), float(ind.std(ddof=1))],
                         "hard": [float(hard.mean()), float(hard.std(ddof=1))],
                         "hard_minus_independent": [float(diff.mean()), float(diff.std(ddof=1))],
                         "hard_better_on_seeds": int((diff < 0).sum())}
        print(f"{task}: test MSE independent {ind.mean():.3f} ± {ind.std(ddof=1):.3f}, hard {hard.mean():.3f} ± "
              f"{hard.std(ddof=1):.3f}; hard - independent {diff.mean():+.3f} ({100 * diff.mean() / ind.mean():+.0f}%), "
              f"hard better on {(diff < 0).sum()}/{args.seeds} seeds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sharing_check.json").write_text(json.dumps(
        {"space": args.space, "seeds": args.seeds, "width": args.width, "depth": args.depth,
         "train_rows": len(splits.train.x), "labelled_train_rows": labelled, "seconds": seconds, "tasks": summary}, indent=1))


if __name__ == "__main__":
    main()
