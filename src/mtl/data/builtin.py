"""Real multi-task data sets read offline from files that pip packages ship (nothing downloads).

* ``solar_flare``: UCI Solar Flare (1,066 active regions, river's bundled ``solar-flare.csv.zip``); three
  regression tasks, the number of C-, M- and X-class flares in the next 24 hours.
* ``yeast``: the MULAN Yeast multi-label set (2,417 genes, 103 numeric features, river's bundled
  ``yeast.csv.gz``); 14 binary tasks, one per functional category.
* ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images, 64 pixel features); three tasks
  derived from the label: the digit itself (10 classes), whether it is odd, whether it is above 4.

The data are fixed, so ``seed`` is accepted (the registry passes it to every built-in) but unused.
Features are not rescaled here: the model standardises its inputs.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

import numpy as np
import pandas as pd

from mtl.data.dataset import Dataset
from mtl.errors import DataError
from mtl.tasks import Task

SOLAR_FLARE_TARGETS = {"c-class-flares": "c_class", "m-class-flares": "m_class", "x-class-flares": "x_class"}
SOLAR_FLARE_CATEGORICAL = ("zurich-class", "largest-spot-size", "spot-distribution")
YEAST_LABELS = tuple(f"Class{i}" for i in range(1, 15))


def _river_file(dataset: str, filename: str) -> Traversable:
    """Path of a data file bundled with river, or a :class:`DataError` saying how to install it."""
    try:
        import river.datasets  # noqa: F401  (only to check that the package is there)
    except ImportError:
        raise DataError(f"data set {dataset!r} needs the river package: pip install river") from None
    path = resources.files("river.datasets").joinpath(filename)
    if not path.is_file():
        raise DataError(f"data set {dataset!r}: river does not ship {filename}; install river>=0.21")
    return path


def _read_csv(dataset: str, path: Traversable) -> pd.DataFrame:
    try:
        with resources.as_file(path) as real:
            return pd.read_csv(real)
    except (OSError, ValueError) as exc:
        raise DataError(f"data set {dataset!r}: cannot read {path}: {exc}") from None


def solar_flare(seed: int = 0) -> Dataset:
    """UCI Solar Flare: 1,066 rows, 3 count targets (``c_class``, ``m_class``, ``x_class``) as regression.

    The three letter-coded columns (modified Zurich class, largest spot size, spot distribution) are
    one-hot encoded with :func:`pandas.get_dummies` (one 0/1 column ``<column>=<value>`` per value seen);
    the integer-coded columns are kept as numbers; a column with a single value in the whole file
    (``largest-spot-area``) is dropped because it carries no information.
    """
    del seed  # fixed data
    frame = _read_csv("solar_flare", _river_file("solar_flare", "solar-flare.csv.zip"))
    missing = [c for c in (*SOLAR_FLARE_TARGETS, *SOLAR_FLARE_CATEGORICAL) if c not in frame.columns]
    if missing:
        raise DataError(f"data set 'solar_flare': river's file lacks columns {missing}")
    features = frame.drop(columns=list(SOLAR_FLARE_TARGETS))
    features = features.loc[:, features.nunique() > 1]
    features = pd.get_dummies(features, columns=list(SOLAR_FLARE_CATEGORICAL), prefix_sep="=", dtype="float32")
    tasks = tuple(Task(name, "regression") for name in SOLAR_FLARE_TARGETS.values())
    y = {name: frame[column].to_numpy("float32") for column, name in SOLAR_FLARE_TARGETS.items()}
    return Dataset(features.to_numpy("float32"), y, tasks, tuple(str(c) for c in features.columns))


def yeast(seed: int = 0) -> Dataset:
    """MULAN Yeast: 2,417 rows, 103 numeric features ``Att1..Att103``, 14 binary tasks ``class1..class14``."""
    del seed  # fixed data
    frame = _read_csv("yeast", _river_file("yeast", "yeast.csv.gz"))
    missing = [c for c in YEAST_LABELS if c not in frame.columns]
    if missing:
        raise DataError(f"data set 'yeast': river's file lacks label columns {missing}")
    features = frame.drop(columns=list(YEAST_LABELS))
    tasks = tuple(Task(label.lower(), "binary") for label in YEAST_LABELS)
    y = {label.lower(): frame[label].astype(int).to_numpy("float32") for label in YEAST_LABELS}
    return Dataset(features.to_numpy("float32"), y, tasks, tuple(str(c) for c in features.columns))


def digits(seed: int = 0) -> Dataset:
    """scikit-learn digits: 1,797 rows, 64 pixel features (0..16), tasks ``digit`` (10 classes),
    ``parity`` (binary: the digit is odd) and ``large`` (binary: the digit is above 4)."""
    del seed  # fixed data
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("data set 'digits' needs the scikit-learn package: pip install scikit-learn") from None
    bunch = load_digits()
    label = np.asarray(bunch.target, dtype=int)
    tasks = (Task("digit", "multiclass", n_classes=10), Task("parity", "binary"), Task("large", "binary"))
    y = {
        "digit": label.astype("float32"),
        "parity": (label % 2 == 1).astype("float32"),
        "large": (label > 4).astype("float32"),
    }
    names = tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8))
    return Dataset(np.asarray(bunch.data, dtype="float32"), y, tasks, names)
