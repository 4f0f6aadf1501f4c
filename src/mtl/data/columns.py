"""One table column turned into model data: a numeric or categorical feature, or a task's target.

Conventions shared by training and ``predict``: a numeric feature is float32 with NaN where missing;
a categorical feature (any non-numeric column, booleans included) is an object array of ``str`` with
:data:`~mtl.data.dataset.MISSING_CATEGORY` where missing. A target is float32 with NaN where
missing; string class labels become indices into their sorted labels.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from mtl.data.dataset import MISSING_CATEGORY
from mtl.errors import DataError


def is_categorical(series: pd.Series) -> bool:
    """True for a column the model encodes by lookup rather than standardises: any non-numeric or boolean one."""
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def numeric_feature(series: pd.Series, where: str) -> np.ndarray:
    """A numeric feature column as float32, NaN where missing; :class:`DataError` for infinite values."""
    values: np.ndarray = series.to_numpy(dtype="float32", na_value=np.nan)
    if np.isinf(values).any():
        raise DataError(f"{where}: feature column {series.name!r} holds infinite values")
    return values


def numeric_rows(series: pd.Series, where: str, trained: str | None = None) -> np.ndarray:
    """A numeric feature column of rows to predict as float32, NaN where missing, whatever its numeric dtype:
    int64, nullable Int64 with missing values, float32, float64, or an object column holding only numbers
    and missing values (what a model server or a nullable column passed through MLflow gives).

    Anything else holding values (strings, booleans, a ``category`` column) is :class:`DataError`: one line
    naming the column, what it holds and what is expected (``trained``: the training column's dtype).
    """
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric:
        values: np.ndarray = series.to_numpy(dtype="float32", na_value=np.nan)
        return values
    present = series[series.notna()]
    wrong = [v for v in present if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real)]
    if wrong or (len(present) and series.dtype != object):
        example = f" such as {wrong[0]!r:.40}" if wrong else ""
        expected = f"numbers (the training column was {trained})" if trained else "numbers"
        raise DataError(f"{where}: column {series.name!r} holds {series.dtype} values{example}, expected {expected}")
    values = pd.to_numeric(series.astype(object).where(series.notna(), np.nan)).to_numpy(dtype="float32", na_value=np.nan)
    return values


def categorical_feature(series: pd.Series) -> np.ndarray:
    """A categorical feature column as an object array of ``str``, missing values as ``MISSING_CATEGORY``."""
    return np.array([MISSING_CATEGORY if pd.isna(v) else str(v) for v in series], dtype=object)


def check_not_all_missing(series: pd.Series, what: str, where: str) -> None:
    """:class:`DataError` if every value of the column is missing."""
    if not series.notna().any():
        raise DataError(f"{where}: {what} column {series.name!r} is all missing")


def target(series: pd.Series, kind: str, where: str) -> tuple[np.ndarray, int, tuple[str, ...]]:
    """A target column as (float32 values with NaN where missing, number of classes, class labels).

    Numeric classification targets must already be 0/1 (binary) or indices 0..K-1 (multiclass) and
    get no labels; string labels are sorted and mapped to their index.
    """
    column = series.name
    check_not_all_missing(series, "target", where)
    present = series.notna().to_numpy()
    if kind != "regression" and is_categorical(series):
        labels = tuple(sorted({str(v) for v in series[present]}))
        index = {label: i for i, label in enumerate(labels)}
        values = np.array([index[str(v)] if ok else np.nan for v, ok in zip(series, present)], dtype="float32")
        if kind == "binary" and len(labels) > 2:
            raise DataError(f"{where}: binary target {column!r} has {len(labels)} labels, not 2")
    else:
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if np.isnan(numbers[present]).any() or np.isinf(numbers).any():
            raise DataError(f"{where}: target column {column!r} holds non-numeric or infinite values")
        values, labels, known = numbers.astype("float32"), (), numbers[present]
        if kind == "binary" and not np.isin(known, (0.0, 1.0)).all():
            raise DataError(f"{where}: binary target {column!r} must hold only 0 and 1 (or two string labels)")
        if kind == "multiclass" and ((known < 0).any() or (known != np.round(known)).any()):
            raise DataError(f"{where}: multiclass target {column!r} must hold class indices 0..K-1 (or string labels)")
    seen = np.unique(values[present])
    if kind != "regression" and len(seen) < 2:
        raise DataError(f"{where}: target {column!r} has a single class")
    n_classes = (len(labels) or int(seen.max()) + 1) if kind == "multiclass" else 0
    return values, n_classes, labels
