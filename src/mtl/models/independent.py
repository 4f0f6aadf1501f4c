"""No sharing: every task gets its own trunk and tower, the baseline that sharing must beat."""

from __future__ import annotations

import keras

from mtl.models.config import ModelConfig
from mtl.models.layers import dense_stack
from mtl.tasks import Task


def independent_body(x: keras.KerasTensor, config: ModelConfig, tasks: tuple[Task, ...]) -> dict[str, keras.KerasTensor]:
    """Per task, a private trunk ``trunk_<task>_<i>`` shaped like hard's shared one, then its tower."""
    features = {}
    for t in tasks:
        trunk = dense_stack(x, config.shared_depth, config.shared_width, config.activation, config.dropout, f"trunk_{t.name}")
        features[t.name] = dense_stack(
            trunk, config.tower_depth, config.tower_width, config.activation, config.dropout, f"tower_{t.name}"
        )
    return features
