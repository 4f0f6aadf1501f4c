"""The model's input side: raw rows in, one standardised vector out, all inside the saved model.

Numeric features: with ``missing`` set (user tables), NaN is replaced by the training mean
(:class:`FillMissing`) and every column listed in ``missing`` (those with NaN in the training
split) adds a 0/1 indicator (:class:`MissingIndicator`); then a ``Normalization`` layer with the
training mean and variance standardises them (an imputed value becomes 0).

Categorical features: one string input per column; a ``StringLookup`` on the training split's
values with one out-of-vocabulary index (unseen values map there), one-hot encoded up to
:data:`ONE_HOT_MAX` indices, above that an ``Embedding`` of :func:`embedding_dim` units.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from mtl.data.dataset import NUMERIC_INPUT

ONE_HOT_MAX = 16  # lookup indices (vocabulary + 1 out-of-vocabulary) up to which a column is one-hot encoded
EMBEDDING_MAX_DIM = 16


@keras.saving.register_keras_serializable(package="mtl")
class FillMissing(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Replaces NaN in column j by ``values[j]`` (the training mean)."""

    def __init__(self, values: Iterable[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values = [float(v) for v in values]

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        """``x`` with NaN filled in."""
        return ops.where(ops.isnan(x), ops.convert_to_tensor(self.values, dtype=x.dtype), x)

    def get_config(self) -> dict[str, Any]:
        """Serialisable settings."""
        return {**super().get_config(), "values": self.values}


@keras.saving.register_keras_serializable(package="mtl")
class MissingIndicator(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """1.0 where the listed ``columns`` of the input are NaN, else 0.0 (one output per listed column)."""

    def __init__(self, columns: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = [int(c) for c in columns]

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        """The indicators, rows (x copies) x len(columns)."""
        return ops.cast(ops.isnan(ops.take(x, self.columns, axis=-1)), x.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The input's leading axes (rows, or rows and copies) x number of indicated columns."""
        return (*input_shape[:-1], len(self.columns))

    def get_config(self) -> dict[str, Any]:
        """Serialisable settings."""
        return {**super().get_config(), "columns": self.columns}


def embedding_dim(n_indices: int) -> int:
    """Embedding width for a lookup of ``n_indices``: ``ceil(sqrt(n))``, at most :data:`EMBEDDING_MAX_DIM`."""
    return min(EMBEDDING_MAX_DIM, math.ceil(math.sqrt(n_indices)))


def _layer_name(index: int, column: str) -> str:
    return f"{index}_{re.sub(r'[^A-Za-z0-9_]', '_', column)}"


def encoded_inputs(
    feature_mean: np.ndarray,
    feature_var: np.ndarray,
    missing: Sequence[int] | None = None,
    vocabularies: Mapping[str, Sequence[str]] | None = None,
) -> tuple[keras.KerasTensor | dict[str, keras.KerasTensor], keras.KerasTensor]:
    """The model's inputs (one tensor, or a dict of named inputs when there are categorical columns)
    and the encoded vector the strategy body starts from.

    ``missing`` None builds no imputation (NaN stays NaN); a sequence imputes every numeric column
    and adds indicators for the listed ones. ``vocabularies`` maps each categorical column to its
    training values.
    """
    inputs: dict[str, keras.KerasTensor] = {}
    parts: list[keras.KerasTensor] = []
    if len(feature_mean):
        numeric = inputs[NUMERIC_INPUT] = keras.Input(shape=(len(feature_mean),), name=NUMERIC_INPUT)
        filled = numeric if missing is None else FillMissing(feature_mean, name="fill_missing")(numeric)
        variance = np.maximum(feature_var, 1e-12)
        parts.append(keras.layers.Normalization(mean=feature_mean, variance=variance, name="standardize")(filled))
        if missing:
            parts.append(MissingIndicator(missing, name="missing_indicator")(numeric))
    for i, (column, vocabulary) in enumerate((vocabularies or {}).items()):
        raw = inputs[column] = keras.Input(shape=(1,), dtype="string", name=column)
        size, name = len(vocabulary) + 1, _layer_name(i, column)
        if size <= ONE_HOT_MAX:
            parts.append(keras.layers.StringLookup(vocabulary=list(vocabulary), output_mode="one_hot", name=f"one_hot_{name}")(raw))
        else:
            index = keras.layers.StringLookup(vocabulary=list(vocabulary), name=f"lookup_{name}")(raw)
            embedded = keras.layers.Embedding(size, embedding_dim(size), name=f"embedding_{name}")(index)
            parts.append(keras.layers.Flatten(name=f"flatten_{name}")(embedded))
    encoded = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="encoded_inputs")(parts)
    return (inputs if vocabularies else inputs[NUMERIC_INPUT]), encoded
