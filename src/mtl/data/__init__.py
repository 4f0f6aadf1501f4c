"""Data sets: a registry of built-in generators plus user tables, and seeded splits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from mtl.data.builtin import digits, solar_flare, yeast
from mtl.data.dataset import Dataset, Splits
from mtl.data.splits import split
from mtl.data.synthetic import make_synthetic
from mtl.data.tables import load_table
from mtl.errors import DataError

DATASETS: dict[str, Callable[..., Dataset]] = {
    "synthetic": make_synthetic,
    "solar_flare": solar_flare,
    "yeast": yeast,
    "digits": digits,
}


def load_dataset(source: str, options: Mapping[str, Any], seed: int, frame: pd.DataFrame | None = None) -> Dataset:
    """A built-in data set by name (``options`` are its parameters), a table file by path, or ``frame``, a table in memory."""
    if frame is not None:
        return load_table(frame, options.get("targets", ()), options.get("features"), options.get("split_column"))
    if source in DATASETS:
        try:
            return DATASETS[source](**options, seed=seed)
        except TypeError as exc:
            raise DataError(f"data set {source!r}: {exc}") from None
    return load_table(source, options.get("targets", ()), options.get("features"), options.get("split_column"))


__all__ = ["DATASETS", "Dataset", "DataError", "Splits", "load_dataset", "load_table", "make_synthetic", "split"]
