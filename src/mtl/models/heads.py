"""Task outputs: one Dense head per task, or one tied head instance applied to every tower.

Every output is finally passed through an ``Identity`` layer named after its task, so Keras keys
losses, metrics and history by task name even when one head instance serves all tasks.
"""

from __future__ import annotations

import keras

from mtl.errors import ConfigError
from mtl.models.roles import TIED_HEAD
from mtl.tasks import Task


def check_tying(tasks: tuple[Task, ...]) -> None:
    """Raise :class:`ConfigError` unless all tasks have the same output width and activation."""
    signatures = {t.output_signature for t in tasks}
    if len(signatures) > 1:
        detail = ", ".join(f"{t.name}: {t.units} x {t.activation}" for t in tasks)
        raise ConfigError(f"tie_outputs needs tasks with one output shape and activation ({detail})")


def add_heads(features: dict[str, keras.KerasTensor], tasks: tuple[Task, ...], tied: bool) -> dict[str, keras.KerasTensor]:
    """Map each task's tower output to its named prediction."""
    if tied:
        check_tying(tasks)
        widths = {tuple(features[t.name].shape[1:]) for t in tasks}
        if len(widths) > 1:
            raise ConfigError(f"tie_outputs needs towers of one width, got {sorted(widths)}")
        head = keras.layers.Dense(tasks[0].units, activation=tasks[0].activation, name=TIED_HEAD)
        raw = {t.name: head(features[t.name]) for t in tasks}
    else:
        raw = {
            t.name: keras.layers.Dense(t.units, activation=t.activation, name=f"head_{t.name}")(features[t.name])
            for t in tasks
        }
    return {t.name: keras.layers.Identity(name=t.name)(raw[t.name]) for t in tasks}
