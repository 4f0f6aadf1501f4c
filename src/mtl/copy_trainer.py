"""Training K stacked copies at once: one loss computation per task over the copy axis, per-copy logs per epoch.

The stacked model's outputs are each task's ``(rows, K, units)``. A training step computes each
task's loss once for all copies: per copy, the mean over its rows of non-zero weight, as a lone
training's loss, so ``(K,)`` values a task, weighted and summed over tasks and copies by each
copy's own weighting (:mod:`mtl.copy_weighting`); each copy may have its own learning rate
(:class:`CopyAdam`). Validation is one pass of the stacked model over the validation rows per
epoch (:class:`CopyValidation`; the same pass gives the final validation and test metrics,
:meth:`CopyValidation.flat`), each copy's loss and metrics computed at once over the copy axis
with the formulas of the Keras metrics a lone training logs (RMSE, MAE, accuracy, and ROC AUC
from Keras' own AUC with one label per copy). So a step or an epoch costs a fixed number of ops
whatever K is, where one output, loss and metric object per copy and task made it grow with K.
The epoch logs carry every copy's numbers under ``<task>_c<k>_<metric>`` (and ``val_...``), as
the fused model's per-copy outputs would name them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtl.copy_weighting import CopyName, CopyWeighting
from mtl.data import Dataset
from mtl.pipeline import split_tensors
from mtl.tasks import Task


def _target(task: Task, y: tf.Tensor) -> tf.Tensor:
    """Targets shaped for the task's loss against ``(rows, K, units)`` predictions."""
    return y if task.kind == "multiclass" else y[..., None]


def copy_losses(tasks: tuple[Task, ...], y: Mapping[str, tf.Tensor], predicted: Mapping[str, tf.Tensor],
                weights: Mapping[str, tf.Tensor] | None) -> tuple[tf.Tensor, tf.Tensor]:
    """Each task's loss per copy, ``(T, K)`` (the mean over the copy's rows of non-zero weight, 0 without any), and
    the rows counted, ``(T, K)``."""
    losses, rows = [], []
    for task in tasks:
        elements = getattr(keras.losses, task.loss)(_target(task, y[task.name]), predicted[task.name])  # (rows, K)
        weight = tf.ones_like(elements) if weights is None else tf.cast(weights[task.name], elements.dtype)
        count = tf.reduce_sum(weight, axis=0)
        losses.append(tf.math.divide_no_nan(tf.reduce_sum(weight * elements, axis=0), count))
        rows.append(count)
    return tf.stack(losses), tf.stack(rows)


class CopyAdam(keras.optimizers.Adam):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Adam with a learning rate per copy: every variable it updates carries the copy axis first, and copy k's slice
    moves as a lone Adam with ``learning_rates[k]`` would move it (the same update, element by element)."""

    def __init__(self, learning_rates: Sequence[float], **kwargs: Any) -> None:
        super().__init__(learning_rate=1.0, **kwargs)
        self.rates = np.asarray(learning_rates, dtype="float32")

    def update_step(self, gradient: tf.Tensor, variable: keras.Variable, learning_rate: tf.Tensor) -> None:
        """Adam's step with each copy's slice scaled by its own rate."""
        if variable.shape[0] != len(self.rates):
            raise ValueError(f"{variable.path} has no copy axis of {len(self.rates)}")
        rates = tf.reshape(tf.constant(self.rates, dtype=variable.dtype), (-1, *[1] * (len(variable.shape) - 1)))
        super().update_step(gradient, variable, tf.cast(learning_rate, variable.dtype) * rates)


class CopyTrainer(keras.Model):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Trains ``stacked`` on every copy's task losses, weighted by ``weighting`` (each copy its own weights and state);
    the copies' epoch losses accumulate in two ``(T, K)`` variables that :class:`CopyValidation` reads and resets."""

    def __init__(self, stacked: keras.Model, tasks: tuple[Task, ...], weighting: CopyWeighting) -> None:
        super().__init__(name="copy_trainer")
        copies = weighting.copies
        self.stacked, self.tasks, self.copies, self.weighting = stacked, tasks, copies, weighting
        zeros = np.zeros((len(tasks), copies), dtype="float32")
        self.loss_sum = keras.Variable(zeros, trainable=False, name="copy_loss_sum")
        self.rows_sum = keras.Variable(zeros, trainable=False, name="copy_rows_sum")

    def call(self, x: Any, training: bool = False) -> dict[str, tf.Tensor]:
        """The stacked model's predictions."""
        predicted: dict[str, tf.Tensor] = self.stacked(x, training=training)
        return predicted

    def train_step(self, data: tuple[Any, ...]) -> dict[str, tf.Tensor]:
        """Forward once, every copy's task losses at once, one update of every copy (then, where the weighting
        relooks, every copy's losses on the batch again)."""
        x, y, weights = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape(persistent=self.weighting.persistent_tape) as tape:
            losses, rows = copy_losses(self.tasks, y, self.weighting.forward(self.stacked, x, training=True), weights)
            total = self.weighting.combine(losses)
        variables = self.trainable_variables
        gradients = self.weighting.gradients(tape, losses, total, variables)
        self.weighting.record_step()
        self.optimizer.apply_gradients(zip(gradients, variables))
        if self.weighting.relooks:
            after, _ = copy_losses(self.tasks, y, self.stacked(x, training=True), weights)
            self.weighting.after_step(losses, after)
        self.weighting.update(tape, losses)
        del tape
        self.loss_sum.assign_add(losses * rows)
        self.rows_sum.assign_add(rows)
        self._loss_tracker.update_state(total)
        return {"loss": self._loss_tracker.result()}


class CopyValidation(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Per epoch: every copy's training loss per task (from :class:`CopyTrainer`'s sums), and its validation loss
    and metrics from one pass of the stacked model over ``data``, into the logs under ``copy_name``'s names."""

    def __init__(self, trainer: CopyTrainer, data: Dataset, copy_name: CopyName) -> None:
        super().__init__()
        self.trainer, self.copy_name = trainer, copy_name
        tensors = split_tensors(data)
        count = trainer.copies
        x = tf.nest.map_structure(lambda t: tf.stack([t if t.shape.rank > 1 else t[:, None]] * count, axis=1), tensors[0])
        y = {k: tf.stack([v] * count, axis=1) for k, v in tensors[1].items()}
        weights = {k: tf.stack([v] * count, axis=1) for k, v in tensors[2].items()} if len(tensors) > 2 else None
        self.aucs = {t.name: keras.metrics.AUC(multi_label=True, num_labels=count) for t in trainer.tasks if t.kind == "binary"}
        self.evaluate = tf.function(lambda: self._metrics(x, y, weights))

    def flat(self) -> dict[str, float]:
        """Every copy's loss and metrics on the split now, flat as a Keras evaluation names them:
        ``<copy's task name>_<metric>`` (``copy_name``'s names)."""
        return {f"{self.copy_name(task, c)}_{metric}": float(v) for key, values in self.evaluate().items()
                for task, metric in [key.split("/")] for c, v in enumerate(np.asarray(values))}

    def _metrics(self, x: Any, y: Mapping[str, tf.Tensor], weights: Mapping[str, tf.Tensor] | None) -> dict[str, tf.Tensor]:
        """Each ``<task>/<metric>``'s ``(K,)`` values on the validation rows."""
        predicted = self.trainer.stacked(x, training=False)
        losses, _ = copy_losses(self.trainer.tasks, y, predicted, weights)
        out = {f"{t.name}/loss": losses[i] for i, t in enumerate(self.trainer.tasks)}
        for task in self.trainer.tasks:
            p, target = predicted[task.name], tf.cast(y[task.name], predicted[task.name].dtype)
            w = tf.ones_like(target) if weights is None else tf.cast(weights[task.name], p.dtype)
            if task.kind == "multiclass":
                out[f"{task.name}/accuracy"] = _mean(w, tf.cast(tf.equal(tf.cast(tf.argmax(p, axis=-1), p.dtype), target), p.dtype))
            elif task.kind == "binary":
                out[f"{task.name}/accuracy"] = _mean(w, tf.cast(tf.equal(tf.cast(p[..., 0] > 0.5, p.dtype), target), p.dtype))
                auc = self.aucs[task.name]
                for variable in auc.variables:
                    variable.assign(tf.zeros_like(variable))
                auc.update_state(target, p[..., 0], sample_weight=w)
                out[f"{task.name}/auc"] = roc_auc_by_label(auc)
            else:
                error = p[..., 0] - target
                out[f"{task.name}/rmse"] = tf.sqrt(_mean(w, tf.square(error)))
                out[f"{task.name}/mae"] = _mean(w, tf.abs(error))
        return out

    def epoch_losses(self) -> np.ndarray:
        """Every copy's mean training loss per task over the epoch so far, ``(T, K)`` (0 where no row counted)."""
        sums, rows = np.asarray(self.trainer.loss_sum), np.asarray(self.trainer.rows_sum)
        means: np.ndarray = np.divide(sums, rows, out=np.zeros_like(sums), where=rows > 0)
        return means

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Start the epoch's loss sums at zero."""
        self.trainer.loss_sum.assign(tf.zeros_like(self.trainer.loss_sum))
        self.trainer.rows_sum.assign(tf.zeros_like(self.trainer.rows_sum))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Log every copy's epoch training loss per task and its validation loss and metrics."""
        if logs is None:
            return
        means = self.epoch_losses()
        for t, task in enumerate(self.trainer.tasks):
            logs.update({f"{self.copy_name(task.name, c)}_loss": float(means[t, c]) for c in range(self.trainer.copies)})
        for key, values in self.evaluate().items():
            task, metric = key.split("/")
            logs.update({f"val_{self.copy_name(task, c)}_{metric}": float(v) for c, v in enumerate(np.asarray(values))})


def _mean(weights: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """Per copy, the weighted mean over rows of ``values`` (rows x K); 0 where no row has weight."""
    return tf.math.divide_no_nan(tf.reduce_sum(weights * values, axis=0), tf.reduce_sum(weights, axis=0))


def roc_auc_by_label(auc: keras.metrics.AUC) -> tf.Tensor:
    """Each label's ROC AUC from a multi-label Keras ``AUC``'s counts, by its own interpolation rule (what its
    ``result`` averages over the labels)."""
    recall = tf.math.divide_no_nan(auc.true_positives, auc.true_positives + auc.false_negatives)
    fp_rate = tf.math.divide_no_nan(auc.false_positives, auc.false_positives + auc.true_negatives)
    heights = (recall[:-1] + recall[1:]) / 2.0
    return tf.reduce_sum((fp_rate[:-1] - fp_rate[1:]) * heights, axis=0)
