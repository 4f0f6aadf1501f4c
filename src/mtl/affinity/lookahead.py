"""Inter-task affinity by lookahead (Fifty et al., "Efficiently Identifying Task Groupings for
Multi-Task Learning", NeurIPS 2021: Task Affinity Grouping, TAG).

A hard-shared model trains on the sum of its task losses. Every ``every`` steps, on the current
batch, for each task i the shared variables take one plain gradient step on task i's loss alone,
``theta_s' = theta_s - lookahead * grad_{theta_s} L_i``, and every task j's loss is evaluated again
with the task-specific variables unchanged. The affinity of i onto j is

    A[i, j] = 1 - L_j(theta_s', theta_j) / L_j(theta_s, theta_j),

positive when i's step lowers j's loss (i helps j), negative when it raises it. The shared
variables are put back before the real training step. ``A`` is the median over the measured steps
(TAG averages them; the ratio is heavy-tailed where a batch happens to fit task j almost exactly, and
on planted clusters the median separates them in runs where the mean does not: README, "Which tasks
should share"); a task with no labelled row in a batch (missing targets) is left out of that batch.
The shared variables are the ones every task output depends on (:func:`mtl.weighting.shared.shared_variables`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from mtl.data import Splits
from mtl.models import ModelConfig
from mtl.pipeline import training_feed
from mtl.training import build_for, forget_traced_gradients
from mtl.weighting.shared import shared_variables
from mtl.weighting.trainer import loss_object


@dataclass(frozen=True)
class AffinitySettings:
    """How the pass trains (Adam, ``epochs``, ``learning_rate``, ``batch_size``) and measures: a lookahead
    step of size ``lookahead`` every ``every`` training steps (0: never, a plain training)."""

    epochs: int = 10
    every: int = 5
    lookahead: float = 0.1
    learning_rate: float = 1e-3
    batch_size: int = 64


@dataclass(frozen=True)
class Affinity:
    """``matrix[i, j]``: the median affinity of task ``tasks[i]``'s lookahead step onto ``tasks[j]``'s loss,
    over ``measurements`` measured steps of ``steps`` training steps; ``seconds``: the whole pass;
    ``samples``: every measured step's matrix (measurements x T x T, NaN where a task had no label in
    the batch), which :mod:`mtl.affinity.uncertainty` resamples."""

    tasks: tuple[str, ...]
    matrix: np.ndarray
    measurements: int
    steps: int
    seconds: float
    samples: np.ndarray


def task_affinity(config: ModelConfig, splits: Splits, settings: AffinitySettings = AffinitySettings(), seed: int = 0,
                  after_step: Callable[[], None] = lambda: None) -> Affinity:
    """Train ``config`` (its strategy must share a trunk among all tasks: ``hard``) on ``splits.train``
    as ``settings`` say, measuring the lookahead affinity; initialisation and batch order from ``seed``.
    ``after_step`` runs after every training step, in Python (where a deferred interruption can be raised)."""
    start = time.perf_counter()
    forget_traced_gradients()
    keras.backend.clear_session()
    net = build_for(config, splits.train, seed)
    names = tuple(t.name for t in splits.tasks)
    losses = [loss_object(t.loss) for t in splits.tasks]
    shared = shared_variables(net, splits.train.inputs)
    if not shared:
        raise ValueError(f"affinity needs variables shared by every task; strategy {config.strategy!r} has none")
    optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate)
    optimizer.build(net.trainable_variables)

    def task_losses(x: tf.Tensor, y: dict[str, tf.Tensor], weights: dict[str, tf.Tensor] | None) -> list[tf.Tensor]:
        predictions = net(x, training=True)
        return [fn(y[n], predictions[n], None if weights is None else weights[n]) for n, fn in zip(names, losses)]

    @tf.function  # type: ignore[untyped-decorator]  # TensorFlow ships no type hints
    def train_step(x: tf.Tensor, y: dict[str, tf.Tensor], weights: dict[str, tf.Tensor] | None) -> None:
        with tf.GradientTape() as tape:
            total = tf.add_n(task_losses(x, y, weights))
        optimizer.apply_gradients(zip(tape.gradient(total, net.trainable_variables), net.trainable_variables))

    @tf.function  # type: ignore[untyped-decorator]  # TensorFlow ships no type hints
    def measure(x: tf.Tensor, y: dict[str, tf.Tensor], weights: dict[str, tf.Tensor] | None) -> tf.Tensor:
        # Traced once whatever the number of tasks: one vectorised Jacobian for every task's gradient,
        # then a graph loop over the tasks (an unrolled Python loop traced T copies of the model).
        with tf.GradientTape() as tape:
            before = tf.stack(task_losses(x, y, weights))
        gradients = tape.jacobian(before, shared, experimental_use_pfor=True)
        saved = [tf.identity(v) for v in shared]
        rows = tf.TensorArray(tf.float32, size=len(names))
        for i in tf.range(len(names)):
            for v, old, g in zip(shared, saved, gradients):
                v.assign(old - settings.lookahead * tf.gather(g, i))
            after = tf.stack(task_losses(x, y, weights))
            rows = rows.write(i, tf.where(before > 0, 1.0 - after / tf.maximum(before, 1e-12), np.nan))
        for v, old in zip(shared, saved):
            v.assign(old)
        return rows.stack()

    feed = training_feed(splits.train, settings.batch_size, seed)
    measured: list[np.ndarray] = []
    steps = feed.steps * settings.epochs
    for step, batch in enumerate(feed.dataset.take(steps)):
        x, y, weights = (*batch, None) if len(batch) == 2 else batch
        if settings.every and step % settings.every == 0:
            measured.append(measure(x, y, weights).numpy())
        train_step(x, y, weights)
        after_step()
    matrix = np.full((len(names),) * 2, np.nan)
    stacked = np.array(measured).reshape(-1, len(names), len(names))
    seen = np.isfinite(stacked).any(axis=0)
    matrix[seen] = np.nanmedian(stacked[:, seen], axis=0)
    return Affinity(names, matrix, len(measured), steps, time.perf_counter() - start, stacked)
