"""The interface of a weighting for K stacked copies, and the callback that logs and adapts it per epoch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtl.tasks import Task
from mtl.weighting import WEIGHT_PREFIX, WEIGHTINGS

CopyName = Callable[[str, int], str]  # (task, copy) -> the copy's name of the task in a stack's logs


def task_selector(task: int, tasks: int, per_copy: np.ndarray) -> tf.Tensor:
    """Output gradients for a stack's ``(T, K)`` task losses that select row ``task``, copy k's scaled by
    ``per_copy[k]``: the tape's gradient of the losses with them is that of ``sum_k per_copy[k] L_task,k``, whose slice k
    of a stacked variable (or activation) is copy k's own (a slice of the losses taken outside the tape has no gradient)."""
    return tf.one_hot(task, tasks)[:, None] * tf.constant(per_copy, tf.float32)[None]


class CopyWeighting(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Per copy, task weights for a stack's ``(T, K)`` task losses: each copy's fixed constants, ``(K, T)``, by default.

    Every trainable variable carries the copy axis first (what :class:`~mtl.copy_trainer.CopyAdam`
    needs of anything it trains). The mean of each epoch's step weights is what gets logged, as
    alone. The hooks mirror the lone :class:`~mtl.weighting.Weighting`'s, over the copy axis:
    ``setup``, ``forward``, ``gradients``, ``update`` (with ``persistent_tape``), ``after_step``
    (with ``relooks``) and ``end_epoch``.
    """

    SCHEME = "fixed"
    relooks = False  # the trainer computes the batch's losses again after the step for after_step
    persistent_tape = False  # update reads the step's tape again

    def __init__(self, tasks: tuple[Task, ...], constants: Sequence[Mapping[str, float]], options: Mapping[str, float],
                 seeds: Sequence[int]) -> None:
        super().__init__(name=f"copy_weighting_{self.SCHEME}")
        self.tasks, self.task_names = tasks, tuple(t.name for t in tasks)
        self.copies, self.seeds = len(constants), tuple(seeds)
        self.options = WEIGHTINGS[self.SCHEME].resolve_options(options)
        self.constants = np.array([[float(c.get(n, 1.0)) for n in self.task_names] for c in constants], dtype="float32")  # (K, T)
        shape = (self.copies, len(self.task_names))
        self.step_weights = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="epoch_weight_sum")
        self.steps_seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="epoch_steps")
        self.built = True

    def effective(self) -> tf.Tensor:
        """Each copy's current weight of each task, ``(K, T)``."""
        return tf.constant(self.constants)

    def combine(self, losses: tf.Tensor) -> tf.Tensor:
        """The training loss of every copy together from the ``(T, K)`` task losses: ``sum_k sum_t w_kt * L_tk``."""
        return tf.reduce_sum(self.effective() * tf.transpose(losses))

    def setup(self, stacked: keras.Model, copies: Sequence[keras.Model], x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Inspect the stacked model, the lone copies it stacks and a few training rows before training; nothing by
        default."""

    def gradients(self, tape: tf.GradientTape, losses: tf.Tensor, total: tf.Tensor,
                  variables: list[keras.Variable]) -> list[tf.Tensor | None]:
        """The step's gradient for each of ``variables`` from the step's tape, the ``(T, K)`` task losses and the
        training loss ``total``: that of ``total`` by default."""
        return list(tape.gradient(total, variables))

    def forward(self, stacked: keras.Model, x: Any, training: bool) -> dict[str, tf.Tensor]:
        """The training step's predictions of ``stacked`` on ``x`` (keyed by task); a plain call by default."""
        predicted: dict[str, tf.Tensor] = stacked(x, training=training)
        return predicted

    def update(self, tape: tf.GradientTape, losses: tf.Tensor) -> None:
        """Adapt after each training step from its tape and the ``(T, K)`` task losses, inside the step's graph;
        nothing by default."""

    def after_step(self, before: tf.Tensor, after: tf.Tensor) -> None:
        """Adapt from every copy's batch losses ``(T, K)`` before and after the step, inside the step's graph; called
        only where ``relooks``; nothing by default."""

    def record_step(self) -> None:
        """Add the step's weights to the epoch's running sum (inside the step's graph)."""
        self.step_weights.assign_add(self.effective())
        self.steps_seen.assign_add(1.0)

    def start_epoch(self) -> None:
        """Clear the epoch's running sum of step weights."""
        self.step_weights.assign(tf.zeros_like(self.step_weights))
        self.steps_seen.assign(0.0)

    def weights_now(self) -> np.ndarray:
        """Each copy's task weights averaged over the epoch's steps so far (the current ones before any), ``(K, T)``."""
        steps = float(keras.ops.convert_to_numpy(self.steps_seen))
        if steps:
            return np.asarray(keras.ops.convert_to_numpy(self.step_weights)) / steps
        return np.asarray(keras.ops.convert_to_numpy(self.effective()))

    def extra_logs(self, copy_name: CopyName) -> dict[str, float]:
        """Scheme-specific values per copy, named as a lone training names them with the copy's task names."""
        return {}

    def end_epoch(self, epoch_losses: np.ndarray) -> None:
        """Adapt between epochs from every copy's epoch training losses ``(T, K)``; nothing by default."""


class CopyWeightLogger(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Per epoch and copy, ``weight_<task>`` (the epoch's mean step weight) and the scheme's extra logs under the copy's
    task names (``copy_name``); then the weighting adapts from every copy's epoch losses (``epoch_losses()``, ``(T, K)``)."""

    def __init__(self, weighting: CopyWeighting, copy_name: CopyName, epoch_losses: Callable[[], np.ndarray]) -> None:
        super().__init__()
        self.weighting, self.copy_name, self.epoch_losses = weighting, copy_name, epoch_losses

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Start the epoch's average of step weights afresh."""
        self.weighting.start_epoch()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Log every copy's weights, then adapt them."""
        if logs is None:
            return
        weights = self.weighting.weights_now()
        logs.update({f"{WEIGHT_PREFIX}{self.copy_name(n, k)}": float(weights[k, t])
                     for k in range(self.weighting.copies) for t, n in enumerate(self.weighting.task_names)})
        logs.update(self.weighting.extra_logs(self.copy_name))
        self.weighting.end_epoch(self.epoch_losses())
