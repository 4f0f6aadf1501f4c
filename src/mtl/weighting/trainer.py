"""The training wrapper: fits a plain functional model on the weighted sum of its per-task losses."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtl.tasks import Task
from mtl.weighting.base import Weighting, stack


def loss_object(name: str) -> keras.losses.Loss:
    """The Keras loss class behind a loss function name (``mean_squared_error`` -> ``MeanSquaredError``).

    It aligns ranks as ``compile`` does with the name; it averages over the batch, or with sample
    weights over their sum (rows of weight 0, missing targets, do not count).
    """
    class_name = "".join(part.title() for part in name.split("_"))
    return keras.losses.get({"class_name": class_name, "config": {"reduction": "mean_with_sample_weight"}})


class WeightedTrainer(keras.Model):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Wraps ``net`` (whose outputs are keyed by task name) and trains it with ``weighting``.

    Logs each task's unweighted loss as ``<task>_loss`` (Keras' own names) and the weighted
    training loss as ``loss``. Only ``net`` is meant to be saved: the wrapper and the
    weighting's variables exist for training alone.
    """

    def __init__(self, net: keras.Model, tasks: tuple[Task, ...], weighting: Weighting, **kwargs: Any) -> None:
        super().__init__(name=f"{net.name}_trainer", **kwargs)
        self.net = net
        self.weighting = weighting
        self.task_names = tuple(t.name for t in tasks)
        self.task_losses = [loss_object(t.loss) for t in tasks]
        self.loss_trackers = [keras.metrics.Mean(name=f"{t.name}_loss") for t in tasks]

    def call(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """The wrapped model's predictions."""
        predictions: dict[str, tf.Tensor] = self.net(x, training=training)
        return predictions

    def batch_losses(
        self, y: dict[str, tf.Tensor], y_pred: dict[str, tf.Tensor], sample_weight: dict[str, tf.Tensor] | tf.Tensor | None
    ) -> dict[str, tf.Tensor]:
        """Each task's unweighted loss on the batch: the mean over rows of non-zero weight (0 if there are none)."""
        return {
            name: loss_fn(y[name], y_pred[name], sample_weight[name] if isinstance(sample_weight, dict) else sample_weight)
            for name, loss_fn in zip(self.task_names, self.task_losses)
        }

    def per_task_losses(
        self, y: dict[str, tf.Tensor], y_pred: dict[str, tf.Tensor], sample_weight: dict[str, tf.Tensor] | tf.Tensor | None
    ) -> dict[str, tf.Tensor]:
        """:meth:`batch_losses`, also fed to the ``<task>_loss`` trackers, weighted by the rows of non-zero
        weight so an epoch's value is their mean."""
        losses = self.batch_losses(y, y_pred, sample_weight)
        for name, tracker in zip(self.task_names, self.loss_trackers):
            weight = sample_weight[name] if isinstance(sample_weight, dict) else sample_weight
            rows = tf.shape(y_pred[name])[0] if weight is None else tf.reduce_sum(tf.cast(weight, "float32"))
            tracker.update_state(losses[name], sample_weight=rows)
        return losses

    def train_step(self, data: tuple[Any, ...]) -> dict[str, tf.Tensor]:
        """Forward, weight, step the optimiser, then let the weighting adapt.

        The weighting makes the gradients from the tape (:meth:`~Weighting.gradients`: those of the
        weighted loss, unless it aggregates task gradients); one that ``relooks`` gets the batch's
        losses again, after the step.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape(persistent=self.weighting.persistent_tape) as tape:
            y_pred = self.weighting.forward(self.net, x, training=True)
            losses = self.per_task_losses(y, y_pred, sample_weight)
            total = self.weighting.combine(losses)
        self._loss_tracker.update_state(total, sample_weight=tf.shape(y_pred[self.task_names[0]])[0])
        variables = self.trainable_variables
        gradients = self.weighting.gradients(tape, losses, total, variables)
        self.weighting.record_step()
        self.optimizer.apply_gradients(zip(gradients, variables))
        if self.weighting.relooks:
            after = self.batch_losses(y, self(x, training=True), sample_weight)
            self.weighting.after_step(stack(losses, self.task_names), stack(after, self.task_names))
        self.weighting.update(tape, losses, self.net)
        del tape
        metrics: dict[str, tf.Tensor] = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return metrics

    def test_step(self, data: tuple[Any, ...]) -> dict[str, tf.Tensor]:
        """Per-task and weighted losses plus metrics, without any update."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        total = self.weighting.combine(self.per_task_losses(y, y_pred, sample_weight))
        self._loss_tracker.update_state(total, sample_weight=tf.shape(y_pred[self.task_names[0]])[0])
        metrics: dict[str, tf.Tensor] = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return metrics
