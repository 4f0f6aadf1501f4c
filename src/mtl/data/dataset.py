"""The in-memory data set every model trains on, its checks and its seeded splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtl.errors import DataError
from mtl.tasks import Task


@dataclass(frozen=True)
class Dataset:
    """Features ``x`` (rows x features, float32) and one target array per task."""

    x: np.ndarray
    y: dict[str, np.ndarray]
    tasks: tuple[Task, ...]
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        check_arrays(self.x, self.y, self.feature_names)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, rows: np.ndarray) -> "Dataset":
        """The rows at ``rows`` as a new data set."""
        return Dataset(self.x[rows], {k: v[rows] for k, v in self.y.items()}, self.tasks, self.feature_names)


@dataclass(frozen=True)
class Splits:
    """Train, validation (for selection) and test (for reporting only) parts of one data set."""

    train: Dataset
    val: Dataset
    test: Dataset

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The tasks shared by all three splits."""
        return self.train.tasks


def check_arrays(x: np.ndarray, y: dict[str, np.ndarray], feature_names: tuple[str, ...]) -> None:
    """Raise :class:`DataError` naming the first non-finite feature or target column."""
    if x.ndim != 2 or x.shape[1] != len(feature_names):
        raise DataError(f"features must be a 2-D array with {len(feature_names)} columns, got shape {x.shape}")
    bad = ~np.isfinite(x).all(axis=0)
    if bad.any():
        raise DataError(f"feature column {feature_names[int(np.argmax(bad))]!r} holds NaN or infinite values")
    for name, values in y.items():
        if len(values) != len(x):
            raise DataError(f"target {name!r} has {len(values)} rows but the features have {len(x)}")
        if not np.isfinite(values).all():
            raise DataError(f"target {name!r} holds NaN or infinite values")


def split(data: Dataset, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Shuffle rows with ``seed`` and cut them into train / validation / test parts."""
    n = len(data)
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    if n_val < 1 or n_test < 1 or n - n_val - n_test < 2:
        raise DataError(
            f"{n} rows cannot be split into train/validation/test with fractions {val_fraction}/{test_fraction}"
        )
    order = np.random.default_rng(seed).permutation(n)
    return Splits(
        train=data.take(order[n_val + n_test :]),
        val=data.take(order[:n_val]),
        test=data.take(order[n_val : n_val + n_test]),
    )
