"""Joint training of a multi-task model: one ``fit`` over all tasks, early stopping on the objective.

The tasks' losses are combined by a weighting scheme (:mod:`mtl.weighting`); the objective
never sees those weights.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from mtl.data import Dataset, Splits
from mtl.errors import TrialFailed
from mtl.models import ModelConfig, build_model
from mtl.objective import Objective, baseline_losses, per_task_metrics
from mtl.pipeline import Feed, evaluation_feed, training_feed
from mtl.tasks import Task
from mtl.warmstart import WarmStart, freeze, load_weights
from mtl.weighting import WEIGHT_PREFIX, WeightedTrainer, WeightLogger, check_weighting, make_weighting

VAL_OBJECTIVE = "val_objective"
STEP_MS = "step_ms"  # an epoch's mean training step time in ms (StepClock)
MAX_EVAL_BATCH = 65536

Prune = Callable[[int, float], bool]  # (epoch, validation objective) -> stop training now (an engine's pruner)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one trial; ``loss_weights`` default to 1.0 per task.

    ``weighting`` names a scheme of :data:`mtl.weighting.WEIGHTINGS`: ``fixed`` uses the
    ``loss_weights`` as they are, ``uncertainty`` and ``dwa`` scale their adaptive weights by
    them, ``gradnorm`` starts from them. ``weighting_options`` are the scheme's settings, for
    example ``{"temperature": 2.0}`` for ``dwa``.
    """

    learning_rate: float = 1e-3
    batch_size: int = 64
    epochs: int = 30
    patience: int = 5
    loss_weights: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    verbose: int = 0
    weighting: str = "fixed"
    weighting_options: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject an unknown weighting or options it does not take (:class:`ConfigError`)."""
        check_weighting(self.weighting, self.weighting_options)


@dataclass
class TrainResult:
    """A trained model with its per-epoch history and final per-task metrics on val and test.

    ``weights`` holds each task's effective loss weight per epoch (also in ``history`` as
    ``weight_<task>``).
    """

    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int
    val: dict[str, dict[str, float]]
    test: dict[str, dict[str, float]]
    objective: float
    task_scores: dict[str, float]
    weights: dict[str, list[float]] = field(default_factory=dict)


class ObjectiveLogger(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Adds ``val_objective`` to the epoch logs so early stopping and pruning can watch it."""

    def __init__(self, objective: Objective, tasks: tuple[Task, ...], baselines: Mapping[str, float]) -> None:
        super().__init__()
        self.objective, self.tasks, self.baselines = objective, tasks, baselines

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Compute the objective from this epoch's validation logs."""
        if logs is None:
            return
        per_task = per_task_metrics(logs, self.tasks, self.baselines, prefix="val_")
        logs[VAL_OBJECTIVE] = self.objective.value(per_task, self.tasks)
        if not math.isfinite(logs[VAL_OBJECTIVE]):
            self.model.stop_training = True


class PruneOnObjective(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Asks ``prune`` after every epoch with its ``val_objective``; stops training when it says so."""

    def __init__(self, prune: Prune) -> None:
        super().__init__()
        self.prune = prune

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Ask the pruner about this epoch's objective."""
        value = (logs or {}).get(VAL_OBJECTIVE)
        if value is not None and self.prune(epoch, float(value)):
            self.model.stop_training = True


class StopOnNonFinite(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Stops training quietly at the first batch whose loss is NaN or infinite."""

    def __init__(self) -> None:
        super().__init__()
        self.diverged_at: int | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Remember the epoch, for the failure message."""
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Check the running loss."""
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = self.epoch + 1
            self.model.stop_training = True


class StepClock(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Adds ``step_ms``: the epoch's mean wall time per training step, from its first step's start to
    its last step's end (validation excluded; the first epoch's includes tracing the step)."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Start counting afresh."""
        self.start: float | None = None
        self.end, self.steps = 0.0, 0

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Note the epoch's first step's start."""
        if self.start is None:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Count the step and note its end."""
        self.end, self.steps = time.perf_counter(), self.steps + 1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Log the epoch's mean step time in milliseconds."""
        if logs is not None and self.start is not None and self.steps:
            logs[STEP_MS] = 1000.0 * (self.end - self.start) / self.steps


def typical_step_ms(history: Mapping[str, list[float]]) -> float | None:
    """The median of the epochs' ``step_ms`` leaving out the first (tracing) where there are others; None without any."""
    values = history.get(STEP_MS, [])
    return float(statistics.median(values[1:] or values)) if values else None


class PhasedEarlyStopping(keras.callbacks.EarlyStopping):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Early stopping that a second ``fit`` (the fine-tuning phase) continues.

    The best value, epoch and weights carry over from the first ``fit``; only the patience count
    starts afresh (the first ``fit`` ends by restoring its best weights).
    """

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Reset everything before the first phase; only the patience count before a later one."""
        if self.best_weights is None:
            super().on_train_begin(logs)
        else:
            self.wait, self.stopped_epoch = 0, 0


def build_for(config: ModelConfig, data: Dataset, seed: int) -> keras.Model:
    """:func:`~mtl.models.build_model` with its input statistics taken from ``data`` (the training split).

    Numeric means and variances ignore missing values (a column missing throughout the split gets
    mean 0, variance 1); with ``data.missing`` the model imputes, with indicators for the columns
    missing somewhere in ``data``; each categorical column's vocabulary is its sorted values.
    """
    x, missing = data.x, None
    if data.missing:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled just below
            mean, var = np.nan_to_num(np.nanmean(x, axis=0)), np.nan_to_num(np.nanvar(x, axis=0), nan=1.0)
        missing = tuple(int(j) for j in np.flatnonzero(np.isnan(x).any(axis=0)))
    else:
        mean, var = x.mean(axis=0), x.var(axis=0)
    vocabularies = {name: tuple(sorted(set(values))) for name, values in data.categorical.items()}
    return build_model(config, data.tasks, mean, var, seed=seed, missing=missing, vocabularies=vocabularies)


def task_metrics(tasks: tuple[Task, ...]) -> dict[str, list[keras.metrics.Metric]]:
    """Fresh metrics per task for ``compile``, logged as ``<task>_<metric>`` however many tasks there are.

    Keras prefixes metric names with the output name only when a model has several outputs, so a
    single task's metrics carry the prefix in their own names.
    """
    return {t.name: t.metrics(f"{t.name}_" if len(tasks) == 1 else "") for t in tasks}


def compile_model(model: keras.Model, splits: Splits, train: TrainConfig) -> None:
    """Compile with per-task losses, metrics and ``loss_weights`` (all keyed by task name)."""
    tasks = splits.tasks
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=train.learning_rate),
        loss={t.name: t.loss for t in tasks},
        loss_weights={t.name: float(train.loss_weights.get(t.name, 1.0)) for t in tasks},
        metrics=task_metrics(tasks),
    )


def compile_trainer(trainer: keras.Model, learning_rate: float, metrics: dict[str, list[keras.metrics.Metric]]) -> None:
    """Compile the training wrapper with Adam and build the optimizer's variables now.

    Metrics are weighted, so rows with a missing target (weight 0) are left out of that task's
    metrics. Built inside the first trace instead, the optimizer would create variables there and
    TensorFlow would trace the train step a second time.
    """
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), weighted_metrics=metrics)
    trainer.optimizer.build(trainer.trainable_variables)


def eval_batch_size(data: Dataset) -> int:
    """One batch for the whole split where it fits: Keras averages per-output losses per batch,
    so a ragged last batch would bias them; evaluating in one batch gives the exact mean."""
    return max(1, min(len(data), MAX_EVAL_BATCH))


def evaluate_flat(model: keras.Model, data: Dataset) -> dict[str, float]:
    """Keras' flat ``{task}_{metric}`` evaluation of ``model`` on ``data`` (each over its present targets)."""
    return evaluate_feed(model, evaluation_feed(data, eval_batch_size(data)))


def evaluate_feed(model: keras.Model, feed: Feed) -> dict[str, float]:
    """Keras' flat ``{task}_{metric}`` evaluation of ``model`` on one pass of ``feed``."""
    flat: dict[str, float] = model.evaluate(feed.dataset, steps=feed.steps, verbose=0, return_dict=True)
    return flat


def evaluate(model: keras.Model, data: Dataset, baselines: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Per-task loss, metrics and normalised loss of ``model`` on ``data`` (each over its present targets)."""
    return per_task_metrics(evaluate_flat(model, data), data.tasks, baselines)


def forget_traced_gradients() -> None:
    """Drop the custom-gradient entries earlier trials' traced functions left in TensorFlow's registry.

    Each traced train step registers a ``CustomGradient-*`` function in a process-global registry
    that is never cleared and keeps its whole graph alive: about 8 MB per trial, so long sweeps
    grow without bound (tensorflow/tensorflow#80895). The registry is private, hence the guard.
    """
    try:
        from tensorflow.python.framework import ops
    except ImportError:
        return
    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if isinstance(registry, dict):
        for name in [key for key in registry if str(key).startswith("CustomGradient-")]:
            del registry[name]


def fit_trainer(
    trainer: keras.Model, splits: Splits, train_config: TrainConfig, callbacks: list[keras.callbacks.Callback], **epochs: int
) -> dict[str, list[float]]:
    """One ``fit`` over the training split (``epochs`` and ``initial_epoch``); its history as floats.

    The splits are fed through :mod:`mtl.pipeline` (tensors made once, one iterator per ``fit``).

    Running out of memory raises :class:`TrialFailed`.
    """
    feed = training_feed(splits.train, train_config.batch_size, train_config.seed)
    val_feed = evaluation_feed(splits.val, eval_batch_size(splits.val))
    return fit_feeds(trainer, feed, val_feed, train_config.verbose, callbacks, **epochs)


def fit_feeds(trainer: keras.Model, feed: Feed, val_feed: Feed | None, verbose: int, callbacks: list[keras.callbacks.Callback],
              **epochs: int) -> dict[str, list[float]]:
    """One ``fit`` on a training feed, validated on ``val_feed`` (None: a callback validates); its history as floats
    (:func:`fit_trainer`)."""
    try:
        fitted = trainer.fit(
            feed.dataset,
            steps_per_epoch=feed.steps,
            validation_data=None if val_feed is None else val_feed.dataset,
            validation_steps=None if val_feed is None else val_feed.steps,
            shuffle=False,  # each epoch of the training feed is already a new permutation
            verbose=verbose,
            callbacks=callbacks,
            **epochs,
        )
    except MemoryError as exc:
        raise TrialFailed(f"out of memory: {exc}") from None
    except Exception as exc:
        if type(exc).__name__ == "ResourceExhaustedError":
            raise TrialFailed(f"out of memory: {exc}") from None
        raise
    return {k: [float(v) for v in values] for k, values in fitted.history.items()}


def joined(first: Mapping[str, list[float]], later: Mapping[str, list[float]]) -> dict[str, list[float]]:
    """The history of two ``fit`` calls in a row (the fine-tuning phase after the first), key by key."""
    return {k: first.get(k, []) + later.get(k, []) for k in {**first, **later}}


def train(
    config: ModelConfig,
    splits: Splits,
    train_config: TrainConfig,
    objective: Objective | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    warm: WarmStart | None = None,
    prune: Prune | None = None,
) -> TrainResult:
    """Build, compile and fit one model with Keras' own ``fit``; raise :class:`TrialFailed` if the loss diverges or
    memory runs out.

    This is the lone reference trainer: the harness trains a model alone as a stack of one copy
    (:func:`mtl.fused.train_alone`, about 0.6 of this one's time; this one only where ``MTL_STACK=0``), and the
    stacked trainer is tested against this one. The model trains inside a :class:`~mtl.weighting.WeightedTrainer` with
    the configured weighting; the returned model is the plain functional one, compiled by :func:`compile_model`.
    ``callbacks`` run after the weight and objective loggers, so they see ``weight_<task>`` and
    ``val_objective`` in the logs; ``prune`` is asked after every epoch (:data:`Prune`).

    ``warm`` loads weights into the built model by role and freezes layers before compiling; with
    ``finetune_after`` = N (and something frozen), training stops after epoch N, the frozen layers
    train again, and it goes on from the best weights so far at ``learning_rate * finetune_lr_factor``
    (early stopping and pruning before epoch N end training without that phase).
    """
    objective = objective or Objective()
    warm = warm or WarmStart()
    tasks = splits.tasks
    objective.check(tasks)
    forget_traced_gradients()
    keras.backend.clear_session()  # also runs the garbage collector
    model = build_for(config, splits.train, train_config.seed)
    load_weights(model, warm)
    frozen = freeze(model, warm.freeze)
    weighting = make_weighting(train_config.weighting, tasks, train_config.loss_weights, train_config.weighting_options,
                               train_config.seed)
    weighting.setup(model, splits.train.inputs)
    trainer = WeightedTrainer(model, tasks, weighting)
    metrics = task_metrics(tasks)
    compile_trainer(trainer, train_config.learning_rate, metrics)
    val_baselines, test_baselines = baseline_losses(splits, "val"), baseline_losses(splits, "test")
    stopper = PhasedEarlyStopping(
        monitor=VAL_OBJECTIVE,
        mode="min" if objective.direction == "minimize" else "max",
        patience=train_config.patience,
        restore_best_weights=True,
    )
    guard = StopOnNonFinite()
    every = [guard, StepClock(), WeightLogger(weighting), ObjectiveLogger(objective, tasks, val_baselines), stopper, *callbacks,
             *([PruneOnObjective(prune)] if prune is not None else [])]
    switch = warm.finetune_after if frozen and warm.finetune_after is not None and warm.finetune_after < train_config.epochs else None
    history = fit_trainer(trainer, splits, train_config, every, epochs=switch or train_config.epochs)
    if switch is not None and not trainer.stop_training:
        for layer in frozen:
            layer.trainable = True
        rate = train_config.learning_rate * warm.finetune_lr_factor
        compile_trainer(trainer, rate, metrics)
        later = fit_trainer(trainer, splits, train_config, every, initial_epoch=switch, epochs=train_config.epochs)
        history = joined(history, later)
    finite = all(math.isfinite(v) for k in ("loss", VAL_OBJECTIVE) for v in history.get(k, [math.nan]))
    if guard.diverged_at is not None or not finite:
        epoch = guard.diverged_at or len(history.get("loss", [])) or 1
        raise TrialFailed(f"training diverged: non-finite loss in epoch {epoch}")
    compile_model(model, splits, train_config)
    model.optimizer.build(model.trainable_variables)  # so a saved model's optimizer matches the one loading builds
    val = evaluate(trainer, splits.val, val_baselines)  # the trainer's test step is traced already
    test = evaluate(trainer, splits.test, test_baselines)
    return TrainResult(
        model=model,
        history=history,
        best_epoch=int(stopper.best_epoch),
        val=val,
        test=test,
        objective=objective.value(val, tasks),
        task_scores=objective.task_scores(val, tasks),
        weights={t.name: history[f"{WEIGHT_PREFIX}{t.name}"] for t in tasks},
    )
