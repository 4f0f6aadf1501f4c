"""Cross-stitch networks (Misra et al., CVPR 2016): one column per task, mixed by learned units after each layer."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from mtl.errors import ConfigError
from mtl.models.config import ModelConfig
from mtl.models.layers import dense_stack
from mtl.tasks import Task

CROSS_STITCH_OPTIONS: dict[str, tuple[type, object]] = {"cross_stitch_self": (float, 0.9)}


def initial_mix(n_columns: int, self_weight: float) -> np.ndarray:
    """The (n x n) starting mix: ``self_weight`` on the diagonal, ``(1 - self_weight) / (n - 1)`` elsewhere."""
    off = (1.0 - self_weight) / (n_columns - 1) if n_columns > 1 else 0.0
    return np.full((n_columns, n_columns), off) + np.eye(n_columns) * (self_weight - off)


@keras.saving.register_keras_serializable(package="mtl")
class CrossStitch(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Learned linear mix of ``n`` columns of shape (batch, width): ``out_i = sum_j a_ij * in_j``."""

    def __init__(self, self_weight: float = 0.9, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.self_weight = float(self_weight)

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        """Create the (n x n) mixing matrix, ``n`` being the number of input columns."""
        if len({tuple(s[1:]) for s in input_shape}) != 1:
            raise ConfigError(f"{self.name}: columns of unlike shapes {input_shape}")
        n = len(input_shape)
        start = initial_mix(n, self.self_weight)
        self.mix = self.add_weight(
            shape=(n, n), initializer=lambda shape, dtype=None: ops.convert_to_tensor(start, dtype=dtype), name="mix"
        )
        self.built = True

    def call(self, inputs: list[keras.KerasTensor]) -> list[keras.KerasTensor]:
        """Mix the columns' activations."""
        mixed = ops.einsum("ij,bjw->biw", self.mix, ops.stack(inputs, axis=1))
        return [mixed[:, i] for i in range(len(inputs))]

    def compute_output_shape(self, input_shape: list[tuple[int | None, ...]]) -> list[tuple[int | None, ...]]:
        """One output per column, of the columns' shape."""
        return [tuple(s) for s in input_shape]

    def get_config(self) -> dict[str, Any]:
        """The base config plus the initial self weight."""
        return {**super().get_config(), "self_weight": self.self_weight}


def column_layer(x: keras.KerasTensor, config: ModelConfig, name: str) -> keras.KerasTensor:
    """One Dense layer ``name`` of ``shared_width`` units, followed by dropout ``{name}_dropout`` if > 0."""
    x = keras.layers.Dense(config.shared_width, activation=config.activation, name=name)(x)
    return keras.layers.Dropout(config.dropout, name=f"{name}_dropout")(x) if config.dropout > 0 else x


def cross_stitch_body(x: keras.KerasTensor, config: ModelConfig, tasks: tuple[Task, ...]) -> dict[str, keras.KerasTensor]:
    """Columns of ``shared_depth`` Dense layers ``column_<task>_<i>``, unit ``cross_stitch_<i>`` after each, then towers."""
    self_weight = config.options.get("cross_stitch_self", CROSS_STITCH_OPTIONS["cross_stitch_self"][1])
    if isinstance(self_weight, bool) or not isinstance(self_weight, (int, float)) or not 0.0 <= self_weight <= 1.0:
        raise ConfigError(f"cross_stitch: option 'cross_stitch_self' must be a number in [0, 1], got {self_weight!r}")
    columns = [x for _ in tasks]
    for i in range(config.shared_depth):
        columns = [column_layer(h, config, f"column_{t.name}_{i}") for h, t in zip(columns, tasks)]
        columns = CrossStitch(self_weight, name=f"cross_stitch_{i}")(columns)
    return {
        t.name: dense_stack(h, config.tower_depth, config.tower_width, config.activation, config.dropout, f"tower_{t.name}")
        for h, t in zip(columns, tasks)
    }
