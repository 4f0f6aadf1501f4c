"""Train / validation / test splits: seeded, stratified on a classification task, or fixed by a split column."""

from __future__ import annotations

import numpy as np

from mtl.data.dataset import FOLDS, Dataset, Splits
from mtl.errors import DataError


def split(data: Dataset, val_fraction: float, test_fraction: float, seed: int, stratify: str | None = None,
          development_seed: int | None = None) -> Splits:
    """Cut ``data`` into train / validation / test parts.

    Rows with a fixed ``fold`` (a split column) go to their fold and the fractions are unused.
    Otherwise rows are shuffled with ``seed``; with ``stratify`` (a binary or multiclass task) each
    class (and the rows missing that target, as one more group) is cut in the same proportions.
    With ``development_seed``, the test rows stay those of ``seed`` and the training and validation
    rows are pooled and cut again, in the same sizes, with ``development_seed`` (a re-split that
    never moves a test row). Every task must keep at least one present target in every part.
    """
    if data.fold is not None:
        if stratify is not None:
            raise DataError("stratify cannot be combined with a split column")
        parts = {fold: np.flatnonzero(data.fold == fold) for fold in FOLDS}
        empty = [fold for fold, rows in parts.items() if not len(rows)]
        if empty:
            raise DataError(f"the split column gives no {' / '.join(empty)} rows")
    elif stratify is not None:
        parts = _stratified(data, val_fraction, test_fraction, seed, stratify)
    else:
        parts = _shuffled(len(data), val_fraction, test_fraction, seed)
    if development_seed is not None:
        pool = np.random.default_rng(development_seed).permutation(np.concatenate([parts["train"], parts["val"]]))
        parts = {"train": pool[len(parts["val"]):], "val": pool[: len(parts["val"])], "test": parts["test"]}
    splits = Splits(train=data.take(parts["train"]), val=data.take(parts["val"]), test=data.take(parts["test"]))
    for name, part in (("training", splits.train), ("validation", splits.val), ("test", splits.test)):
        for task in data.tasks:
            if np.isnan(part.y[task.name]).all():
                raise DataError(f"target {task.name!r} has no values in the {name} split")
    return splits


def _cut(order: np.ndarray, val_fraction: float, test_fraction: float) -> dict[str, np.ndarray]:
    n_val, n_test = int(round(len(order) * val_fraction)), int(round(len(order) * test_fraction))
    return {"train": order[n_val + n_test :], "val": order[:n_val], "test": order[n_val : n_val + n_test]}


def _shuffled(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    if n_val < 1 or n_test < 1 or n - n_val - n_test < 2:
        raise DataError(
            f"{n} rows cannot be split into train/validation/test with fractions {val_fraction}/{test_fraction}"
        )
    return _cut(np.random.default_rng(seed).permutation(n), val_fraction, test_fraction)


def _stratified(data: Dataset, val_fraction: float, test_fraction: float, seed: int, task_name: str) -> dict[str, np.ndarray]:
    task = next((t for t in data.tasks if t.name == task_name), None)
    if task is None or task.kind == "regression":
        raise DataError(f"stratify: {task_name!r} is not a binary or multiclass task")
    labels = np.nan_to_num(data.y[task_name], nan=-1.0)
    rng = np.random.default_rng(seed)
    pieces = [_cut(rng.permutation(np.flatnonzero(labels == value)), val_fraction, test_fraction) for value in np.unique(labels)]
    parts = {fold: np.concatenate([piece[fold] for piece in pieces]) for fold in FOLDS}
    if len(parts["val"]) < 1 or len(parts["test"]) < 1 or len(parts["train"]) < 2:
        raise DataError(
            f"{len(data)} rows cannot be split into train/validation/test with fractions {val_fraction}/{test_fraction}"
        )
    return parts
