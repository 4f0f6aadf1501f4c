"""User tables (CSV, Parquet, NPZ) turned into a :class:`Dataset` with checked columns (see :mod:`mtl.data.columns`)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mtl.data import columns
from mtl.data.dataset import NUMERIC_INPUT, Dataset
from mtl.errors import DataError
from mtl.tasks import Task

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, Parquet or NPZ file into a data frame (2-D NPZ arrays become ``name_0..name_k``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            return _npz_frame(path)
        if suffix not in READERS:
            raise DataError(f"data file {str(path)!r}: unknown format {suffix!r} (use .csv, .parquet or .npz)")
        frame = READERS[suffix](path)
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise DataError(f"data file {str(path)!r} is not a readable table: {exc}") from None
    if frame.empty:
        raise DataError(f"data file {str(path)!r} holds no rows")
    return frame


def _npz_frame(path: Path) -> pd.DataFrame:
    with np.load(path, allow_pickle=False) as archive:
        columns: dict[str, np.ndarray] = {}
        for key in archive.files:
            array = archive[key]
            if array.ndim == 1:
                columns[key] = array
            elif array.ndim == 2:
                columns.update({f"{key}_{j}": array[:, j] for j in range(array.shape[1])})
            else:
                raise DataError(f"data file {str(path)!r}: array {key!r} has {array.ndim} dimensions")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise DataError(f"data file {str(path)!r}: arrays have different lengths {sorted(lengths)}")
    return pd.DataFrame(columns)


def _expand(frame: pd.DataFrame, name: str, where: str) -> list[str]:
    if name in frame.columns:
        return [name]
    prefixed = [c for c in frame.columns if c.startswith(f"{name}_") and c[len(name) + 1 :].isdigit()]
    if not prefixed:
        raise DataError(f"{where}: column {name!r} not found (columns: {', '.join(map(str, frame.columns))})")
    return prefixed


def _fold(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """The split column's values as ``train`` / ``val`` / ``test`` (``validation`` is accepted for ``val``)."""
    if column not in frame.columns:
        raise DataError(f"{where}: split column {column!r} not found")
    names = {"train": "train", "val": "val", "validation": "val", "test": "test"}
    labels = frame[column].astype(str).str.strip().str.lower()
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise DataError(f"{where}: split column {column!r} holds {unknown[0]!r}; use train, val or test")
    fold: np.ndarray = labels.map(names).to_numpy(dtype=object)
    return fold


def _features(frame: pd.DataFrame, names: list[Hashable], where: str) -> tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray]]:
    """The numeric matrix, its column names, and the categorical columns among ``names``."""
    numeric, categorical = [], {}
    for name in names:
        columns.check_not_all_missing(frame[name], "feature", where)
        if not columns.is_categorical(frame[name]):
            numeric.append(name)
        elif str(name) == NUMERIC_INPUT or "/" in str(name):
            raise DataError(f"{where}: categorical column {name!r} needs another name (not {NUMERIC_INPUT!r}, no '/')")
        else:
            categorical[str(name)] = columns.categorical_feature(frame[name])
    if not numeric:
        return np.zeros((len(frame), 0), dtype="float32"), (), categorical
    x = np.stack([columns.numeric_feature(frame[name], where) for name in numeric], axis=1)
    return x, tuple(map(str, numeric)), categorical


def load_table(
    path: str | Path | pd.DataFrame,
    targets: Sequence[Mapping[str, str]],
    features: Sequence[str] | None = None,
    split_column: str | None = None,
) -> Dataset:
    """Load ``path`` (or an in-memory data frame); ``targets`` are ``{name, kind, column?}``; features default to all other columns.

    Numeric feature columns may hold missing values; any other column is categorical (see
    :mod:`mtl.data.columns`). ``split_column`` names a column of ``train`` / ``val`` / ``test``
    labels that fixes each row's split; it is never a feature.
    """
    if isinstance(path, pd.DataFrame):
        if path.empty:
            raise DataError("the data frame holds no rows")
        frame, where = path, "data frame"
    else:
        frame, where = read_table(path), f"data file {str(path)!r}"
    tasks, y, used = [], {}, [split_column] if split_column else []
    fold = None if split_column is None else _fold(frame, split_column, where)
    for spec in targets:
        column = spec.get("column", spec["name"])
        if column not in frame.columns:
            raise DataError(f"{where}: target column {column!r} not found")
        values, n_classes, labels = columns.target(frame[column], spec["kind"], where)
        tasks.append(Task(spec["name"], spec["kind"], n_classes, labels))
        y[spec["name"]] = values
        used.append(column)
    if features is None:
        names = [c for c in frame.columns if c not in used]
    else:
        names = [c for name in features for c in _expand(frame, name, where)]
    if split_column in names:
        raise DataError(f"{where}: split column {split_column!r} cannot also be a feature")
    if not names:
        raise DataError(f"{where}: no feature columns")
    x, numeric, categorical = _features(frame, names, where)
    dtypes = {str(name): str(frame[name].dtype) for name in names}
    return Dataset(x, y, tuple(tasks), numeric, categorical, missing=True, fold=fold, dtypes=dtypes)
