"""The in-memory data set every model trains on and its checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mtl.errors import DataError
from mtl.tasks import Task

NUMERIC_INPUT = "features"  # the model input holding the numeric feature matrix
MISSING_CATEGORY = ""  # a missing categorical value: its own category where training saw it, else out-of-vocabulary
FOLDS = ("train", "val", "test")

ModelInputs = np.ndarray | dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: mtl.pipeline caches tensors per object
class Dataset:
    """Numeric features ``x`` (rows x features, float32), categorical feature columns, one target array per task.

    ``categorical`` maps a column name to its values as an object array of ``str`` (missing values are
    :data:`MISSING_CATEGORY`). With ``missing`` (user tables), NaN marks a missing numeric feature
    value (the model imputes it) or a missing target (masked out of that task's loss and metrics);
    elsewhere NaN is an error. ``fold`` is a fixed ``train``/``val``/``test`` label per row (a split
    column), or None. ``dtypes`` maps each feature column of a user table to its pandas dtype as read
    (``int64``, ``Int64``, ``bool``, ``category``, ``str``...), for the saved model's signature; empty
    for arrays that never were a table.
    """

    x: np.ndarray
    y: dict[str, np.ndarray]
    tasks: tuple[Task, ...]
    feature_names: tuple[str, ...]
    categorical: dict[str, np.ndarray] = field(default_factory=dict)
    missing: bool = False
    fold: np.ndarray | None = None
    dtypes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_arrays(self.x, self.y, self.feature_names, self.missing)
        for name, values in self.categorical.items():
            if len(values) != len(self.x):
                raise DataError(f"categorical column {name!r} has {len(values)} rows but the features have {len(self.x)}")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, rows: np.ndarray) -> Dataset:
        """The rows at ``rows`` as a new data set."""
        return Dataset(
            self.x[rows],
            {k: v[rows] for k, v in self.y.items()},
            self.tasks,
            self.feature_names,
            {k: v[rows] for k, v in self.categorical.items()},
            self.missing,
            None if self.fold is None else self.fold[rows],
            self.dtypes,
        )

    @property
    def inputs(self) -> ModelInputs:
        """What the model takes: the numeric matrix alone, or with categorical columns a dict of named
        inputs (:data:`NUMERIC_INPUT` for the numeric matrix, where there is one; each categorical column
        by its name: a 1-D object array of ``str``, which Keras feeds to the rows x 1 string input)."""
        if not self.categorical:
            return self.x
        return {NUMERIC_INPUT: self.x, **self.categorical} if self.x.shape[1] else dict(self.categorical)

    @property
    def targets(self) -> dict[str, np.ndarray]:
        """Target arrays by task, missing values (NaN) replaced by 0; :attr:`sample_weights` masks them."""
        return {t.name: np.nan_to_num(self.y[t.name], nan=0.0) for t in self.tasks}

    @property
    def sample_weights(self) -> dict[str, np.ndarray] | None:
        """Per task, 1 where its target is present and 0 where missing; None when no target is missing."""
        if not any(np.isnan(self.y[t.name]).any() for t in self.tasks):
            return None
        return {t.name: (~np.isnan(self.y[t.name])).astype("float32") for t in self.tasks}


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


def check_arrays(x: np.ndarray, y: dict[str, np.ndarray], feature_names: tuple[str, ...], missing: bool = False) -> None:
    """Raise :class:`DataError` naming the first feature or target column with infinite values, or with NaN
    unless ``missing`` allows missing values."""
    if x.ndim != 2 or x.shape[1] != len(feature_names):
        raise DataError(f"features must be a 2-D array with {len(feature_names)} columns, got shape {x.shape}")
    invalid, what = (np.isinf, "infinite values") if missing else ((lambda a: ~np.isfinite(a)), "NaN or infinite values")
    bad = invalid(x).any(axis=0)
    if bad.any():
        raise DataError(f"feature column {feature_names[int(np.argmax(bad))]!r} holds {what}")
    for name, values in y.items():
        if len(values) != len(x):
            raise DataError(f"target {name!r} has {len(values)} rows but the features have {len(x)}")
        if invalid(values).any():
            raise DataError(f"target {name!r} holds {what}")
