"""Building blocks shared by the strategy builders."""

from __future__ import annotations

import keras


def dense_stack(x: keras.KerasTensor, depth: int, width: int, activation: str, dropout: float, prefix: str) -> keras.KerasTensor:
    """``depth`` Dense layers of ``width`` units named ``{prefix}_{i}``, each followed by dropout if > 0."""
    for i in range(depth):
        x = keras.layers.Dense(width, activation=activation, name=f"{prefix}_{i}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{prefix}_{i}_dropout")(x)
    return x
