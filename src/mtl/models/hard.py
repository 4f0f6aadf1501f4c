"""Hard parameter sharing: one shared Dense trunk, then one Dense tower per task."""

from __future__ import annotations

import keras

from mtl.models.config import ModelConfig
from mtl.models.layers import dense_stack
from mtl.tasks import Task


def hard_body(x: keras.KerasTensor, config: ModelConfig, tasks: tuple[Task, ...]) -> dict[str, keras.KerasTensor]:
    """Shared trunk of ``shared_depth`` layers (0 allowed), then a tower per task."""
    trunk = dense_stack(x, config.shared_depth, config.shared_width, config.activation, config.dropout, "shared")
    return {
        t.name: dense_stack(trunk, config.tower_depth, config.tower_width, config.activation, config.dropout, f"tower_{t.name}")
        for t in tasks
    }
