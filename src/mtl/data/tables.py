"""User tables (CSV, Parquet, NPZ) turned into a :class:`Dataset` with checked columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mtl.data.dataset import Dataset
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


def _expand(frame: pd.DataFrame, name: str, path: str) -> list[str]:
    if name in frame.columns:
        return [name]
    prefixed = [c for c in frame.columns if c.startswith(f"{name}_") and c[len(name) + 1 :].isdigit()]
    if not prefixed:
        raise DataError(f"data file {path!r}: column {name!r} not found (columns: {', '.join(map(str, frame.columns))})")
    return prefixed


def _target(frame: pd.DataFrame, column: str, kind: str, name: str, path: str) -> tuple[np.ndarray, int]:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
    if not np.isfinite(values).all():
        raise DataError(f"data file {path!r}: target column {column!r} holds missing, non-numeric or infinite values")
    if kind == "binary" and not np.isin(values, (0.0, 1.0)).all():
        raise DataError(f"data file {path!r}: binary target {column!r} must hold only 0 and 1")
    n_classes = 0
    if kind == "multiclass":
        if (values < 0).any() or (values != np.round(values)).any():
            raise DataError(f"data file {path!r}: multiclass target {column!r} must hold class indices 0..K-1")
        n_classes = int(values.max()) + 1
    if kind != "regression" and len(np.unique(values)) < 2:
        raise DataError(f"data file {path!r}: target {column!r} has a single class")
    return values.astype("float32"), n_classes


def load_table(
    path: str | Path,
    targets: Sequence[Mapping[str, str]],
    features: Sequence[str] | None = None,
) -> Dataset:
    """Load ``path``; ``targets`` are ``{name, kind, column?}``; features default to all other columns."""
    frame, where = read_table(path), str(path)
    tasks, y, target_columns = [], {}, []
    for spec in targets:
        column = spec.get("column", spec["name"])
        if column not in frame.columns:
            raise DataError(f"data file {where!r}: target column {column!r} not found")
        values, n_classes = _target(frame, column, spec["kind"], spec["name"], where)
        task = Task(spec["name"], spec["kind"], n_classes)
        tasks.append(task)
        y[task.name] = values
        target_columns.append(column)
    if features is None:
        columns = [c for c in frame.columns if c not in target_columns]
    else:
        columns = [c for name in features for c in _expand(frame, name, where)]
    if not columns:
        raise DataError(f"data file {where!r}: no feature columns")
    for column in columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise DataError(f"data file {where!r}: feature column {column!r} is not numeric")
    x = frame[columns].to_numpy(dtype="float32")
    return Dataset(x, y, tuple(tasks), tuple(map(str, columns)))
