"""Fused training: K seeded copies of one configuration trained side by side as one stacked Keras model.

A confirmation retrains one configuration with K seeds. Their models have the same shapes, so
they train as one model: the lone models, each built and initialised exactly as an unfused
training with its seed builds it (:func:`mtl.training.build_for`), stacked into one network whose
every weight holds K slices (:mod:`mtl.stacked`), trained by :class:`~mtl.copy_trainer.CopyTrainer`
in one ``fit``: each task's loss computed once over the copy axis, per copy as a lone training's,
weighted by the configuration's task weights and summed; the copies share no weight, and Adam's
updates are per element, so one copy's gradients never touch another's weights. Validation is one
pass per epoch over the copy axis (:class:`~mtl.copy_trainer.CopyValidation`), and so are the
final validation and test metrics (one pass over each split with the best weights, every copy at
once, by a lone evaluation's formulas; a Keras evaluation of one output per copy and task cost as
much as the whole training).

Early stopping is per copy (:class:`CopyStopping`): each copy's validation objective is computed
from its own outputs, its best weights are kept, and a copy whose patience runs out is done (its
later updates are undone at the end, when every copy gets its best weights back); ``fit`` ends
when every copy is done or the epochs run out. Each copy's history, validation and test metrics
are split back into a :class:`~mtl.training.TrainResult` of its own, with its lone model holding
its weights, as if trained alone.

Every copy reads its own feed: the training rows shuffled with its own seed, exactly as its
unfused twin's (:func:`copy_feed`; the K feeds' batches are stacked on the copy axis), so copy k
is its lone training up to float rounding, and the copies' scores are as independent as K
trainings one by one (a shared batch order would add one common shift to a round's paired
differences). Each copy weighs its tasks with its own weights and state (:mod:`mtl.copy_weighting`:
every weighting has a stacked form). A warm start loads into every lone copy before stacking, freezes
each frozen layer's stacked twin, and a fine-tuning phase recompiles the stack, as a lone training
recompiles its model.

**Stacks of trials** (:func:`train_stack`). Copies need not share a configuration: tuning trials
of one strategy with unlike widths, depths, dropout, learning rates and task weights train as one
padded stack (:mod:`mtl.padding`, :mod:`mtl.stacked`), each copy with its own Adam learning rate
(:class:`~mtl.copy_trainer.CopyAdam`), task weights and pruner, and each copy that diverges fails
alone while the others train on. A padded stack is checked on a few rows to compute every copy's
lone outputs before it trains.

**A model alone** (:func:`train_alone`) is a stack of one copy: the copy trainer's loop takes about 0.6
of Keras' own ``fit`` (:func:`mtl.training.train`, the lone reference) for the same results to float
rounding, and its epoch logs reach the caller's callbacks live, under a lone training's names
(:class:`CopyLogs`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtl.copy_trainer import CopyAdam, CopyTrainer, CopyValidation
from mtl.copy_weighting import CopyWeightLogger, make_copy_weighting
from mtl.data import Dataset, Splits
from mtl.errors import TrialFailed
from mtl.models import ModelConfig
from mtl.objective import Objective, baseline_losses, per_task_metrics
from mtl.padding import padded_config
from mtl.pipeline import Batch, Feed, training_feed, without_rewrites
from mtl.stacked import CannotPad, build_stacked, copy_weights, stack_weights
from mtl.tasks import Task
from mtl.training import (
    STEP_MS,
    Prune,
    StepClock,
    TrainConfig,
    TrainResult,
    build_for,
    compile_model,
    fit_feeds,
    forget_traced_gradients,
    joined,
)
from mtl.warmstart import WarmStart, freeze, load_weights
from mtl.weighting import WEIGHT_PREFIX
from mtl.weighting.uncertainty import LOG_VAR_PREFIX

COPY_LOG_PREFIXES = (WEIGHT_PREFIX, LOG_VAR_PREFIX)  # per-task epoch logs of a weighting, ``<prefix><copy's task name>``


def copy_name(task: str, copy: int) -> str:
    """The output (and task) name of ``task`` in copy ``copy``."""
    return f"{task}_c{copy}"


def copy_tasks(tasks: tuple[Task, ...], copies: int) -> tuple[Task, ...]:
    """``tasks`` repeated once per copy, named :func:`copy_name`."""
    return tuple(replace(t, name=copy_name(t.name, c)) for c in range(copies) for t in tasks)


def _column(part: tf.Tensor) -> tf.Tensor:
    """An input part with its feature axis: a 1-D string column becomes rows x 1, as Keras feeds it to a model."""
    return part if part.shape.rank > 1 else part[:, None]


def _stacked_targets(elements: Sequence[Batch]) -> Batch:
    """The copies' training batches as one batch of the stacked model: inputs, targets and sample weights all
    stacked on a copy axis after the rows (what :class:`CopyTrainer` reads)."""
    inputs = tf.nest.map_structure(lambda *parts: tf.stack([_column(p) for p in parts], axis=1), *(e[0] for e in elements))
    rest = [tf.nest.map_structure(lambda *parts: tf.stack(parts, axis=1), *(e[i] for e in elements)) for i in range(1, len(elements[0]))]
    return (inputs, *rest)


def copy_feed(data: Dataset, batch_size: int, seeds: Sequence[int]) -> Feed:
    """Training batches for the stacked model: copy k's inputs and targets are the batches of its own
    :func:`~mtl.pipeline.training_feed` with ``seeds[k]``, as its unfused twin reads them, stacked on a copy axis."""
    feeds = [training_feed(data, batch_size, seed) for seed in seeds]
    zipped = tf.data.Dataset.zip(tuple(f.dataset for f in feeds)).map(lambda *elements: _stacked_targets(elements))
    return Feed(without_rewrites(zipped), feeds[0].steps)


def lone_copies(configs: Sequence[ModelConfig], data: Dataset, seeds: Sequence[int],
                warm: WarmStart | None) -> list[keras.Model]:
    """Copy k as a lone training starts it: ``build_for(configs[k], data, seeds[k])`` with ``warm``'s weights loaded."""
    copies = [build_for(config, data, seed) for config, seed in zip(configs, seeds, strict=True)]
    for copy in copies:
        load_weights(copy, warm or WarmStart())
    return copies


def build_fused(config: ModelConfig, data: Dataset, seeds: Sequence[int],
                warm: WarmStart | None = None) -> tuple[keras.Model, keras.Model, list[keras.Model]]:
    """The fused model (:func:`~mtl.stacked.build_stacked` with one output per copy and task, :func:`copy_name`),
    the stacked model inside it, and the lone copies (copy k built as ``build_for(config, data, seeds[k])``, then
    ``warm``'s weights loaded into it as a lone training loads them)."""
    copies = lone_copies([config] * len(seeds), data, seeds, warm)
    stacked = build_stacked(copies)
    outputs = {copy_name(task, copy): value[:, copy] for task, value in stacked.output.items() for copy in range(len(seeds))}
    return keras.Model(stacked.input, outputs, name="fused"), stacked, copies


class CopyStopping(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Early stopping per copy on its own validation objective (``val_objective_c<k>`` in the logs).

    A copy is done once ``patience`` epochs pass without improvement (as Keras' ``EarlyStopping``
    counts them), once its ``prune`` says so (it is then pruned at that epoch), or once its training
    loss or validation objective is not finite (it then diverged, at that epoch, counted from 1);
    training stops when every copy is done, and each copy gets its best weights back.
    """

    def __init__(self, stacked: keras.Model, copies: list[keras.Model], tasks: tuple[Task, ...], objective: Objective,
                 baselines: Mapping[str, float], patience: int, prune: Sequence[Prune | None] | None = None) -> None:
        super().__init__()
        self.stacked = stacked
        self.copies, self.tasks, self.objective, self.baselines, self.patience = copies, tasks, objective, baselines, patience
        count = len(copies)
        self.prune = list(prune) if prune is not None else [None] * count
        self.best = [math.inf if objective.direction == "minimize" else -math.inf] * count
        self.best_epoch = [0] * count
        self.best_weights: list[list[np.ndarray] | None] = [None] * count
        self.wait = [0] * count
        self.done_at: list[int | None] = [None] * count  # the epoch after which the copy stopped
        self.diverged_at: list[int | None] = [None] * count

    def copy_objective(self, logs: Mapping[str, Any], copy: int) -> float:
        """Copy ``copy``'s validation objective from the epoch's logs."""
        renamed = tuple(replace(t, name=copy_name(t.name, copy)) for t in self.tasks)
        per_task = per_task_metrics(logs, renamed, {copy_name(k, copy): v for k, v in self.baselines.items()}, prefix="val_")
        return self.objective.value({t.name: per_task[copy_name(t.name, copy)] for t in self.tasks}, self.tasks)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Score every copy still training; keep its best weights; stop when all are done."""
        if logs is None:
            return
        for copy, model in enumerate(self.copies):
            value = self.copy_objective(logs, copy)
            logs[f"val_objective_c{copy}"] = value
            if self.done_at[copy] is not None:
                continue
            losses = [logs.get(f"{copy_name(t.name, copy)}_loss", 0.0) for t in self.tasks]
            if not all(math.isfinite(v) for v in (*losses, value)):
                self.done_at[copy], self.diverged_at[copy] = epoch, epoch + 1
                continue
            better = value < self.best[copy] if self.objective.direction == "minimize" else value > self.best[copy]
            if better:
                self.best[copy], self.best_epoch[copy], self.wait[copy] = value, epoch, 0
                self.best_weights[copy] = copy_weights(self.stacked, model, copy)
            else:
                self.wait[copy] += 1
                if self.wait[copy] >= self.patience:
                    self.done_at[copy] = epoch
            prune = self.prune[copy]
            if prune is not None and prune(epoch, value):
                self.done_at[copy] = epoch
        if all(done is not None for done in self.done_at):
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Every copy gets its best weights back (its lone model and its slice of the stacked model)."""
        for copy, (model, weights) in enumerate(zip(self.copies, self.best_weights, strict=True)):
            model.set_weights(copy_weights(self.stacked, model, copy) if weights is None else weights)
        stack_weights(self.stacked, self.copies)


def weighting_key(train_config: TrainConfig) -> tuple[str, tuple[tuple[str, float], ...]]:
    """The weighting and its options: trainings that share a stack must have one (every copy weighs alike)."""
    return train_config.weighting, tuple(sorted(train_config.weighting_options.items()))


def why_not_stacked(train_configs: Sequence[TrainConfig]) -> str | None:
    """Why trainings with these settings cannot share one stack; None if they can (copies may differ in learning
    rate, task weights and seed, not in how batches are cut, how long they train or how tasks are weighted)."""
    shared = {(c.batch_size, c.epochs, c.patience) for c in train_configs}
    if len(shared) > 1:
        return "the trainings differ in batch size, epochs or patience"
    if len({weighting_key(c) for c in train_configs}) > 1:
        return "the trainings differ in their weighting or its options"
    return None


def train_fused(config: ModelConfig, splits: Splits, train_config: TrainConfig, seeds: Sequence[int],
                objective: Objective | None = None, callbacks: Sequence[keras.callbacks.Callback] = (),
                warm: WarmStart | None = None) -> list[TrainResult]:
    """Train one copy of ``config`` per seed, side by side (each warm-started as ``warm`` says,
    :func:`train_stack`); one :class:`TrainResult` per seed, in order.

    ``callbacks`` run after the per-copy early stopping (they see ``val_objective_c<k>`` in the logs).

    Copy k is initialised, and reads its batches, as an unfused training with ``seeds[k]`` would.
    Raises :class:`TrialFailed` if any copy's loss diverges (the caller
    can then train the seeds one by one).
    """
    results = train_stack([config] * len(seeds), splits, [replace(train_config, seed=s) for s in seeds], objective, callbacks,
                          warm=warm)
    failed = next((r for r in results if isinstance(r, TrialFailed)), None)
    if failed is not None:
        raise TrialFailed(f"{failed} (fused copies)")
    return [r for r in results if isinstance(r, TrainResult)]


Stack = tuple[keras.Model, keras.Model, list[keras.Model]]  # the fused model, the stacked model, the lone copies


def build_stack(configs: Sequence[ModelConfig], data: Dataset, seeds: Sequence[int], warm: WarmStart | None = None) -> Stack:
    """:func:`build_fused` for copies of one configuration; for copies of several (one stack key), the padded stack,
    checked on a few rows to compute each copy's lone outputs (:class:`CannotPad` if it does not). ``warm``'s weights
    are loaded into every copy (a :class:`~mtl.errors.ConfigError` if they do not fit one). Clears Keras' session
    first, as a training does."""
    forget_traced_gradients()
    keras.backend.clear_session()
    if all(c == configs[0] for c in configs):
        return build_fused(configs[0], data, seeds, warm)
    copies = lone_copies(configs, data, seeds, warm)
    stacked = build_stacked(copies, template=build_for(padded_config(configs), data, 0))
    sample = data.take(np.arange(min(len(data), 8)))
    inputs = tf.nest.map_structure(lambda *parts: tf.stack([_column(tf.constant(p)) for p in parts], axis=1),
                                   *[sample.inputs] * len(copies))
    together = stacked(inputs, training=False)
    for k, copy in enumerate(copies):
        alone = copy(sample.inputs, training=False)
        gap = max(float(np.max(np.abs(np.asarray(together[name])[:, k] - np.asarray(alone[name])))) for name in alone)
        if not gap <= 1e-4:
            raise CannotPad(f"a padded copy's outputs differ from its lone model's by {gap:.2g}")
    outputs = {copy_name(task, copy): value[:, copy] for task, value in stacked.output.items() for copy in range(len(seeds))}
    return keras.Model(stacked.input, outputs, name="fused"), stacked, copies


def train_stack(configs: Sequence[ModelConfig], splits: Splits, train_configs: Sequence[TrainConfig],
                objective: Objective | None = None, callbacks: Sequence[keras.callbacks.Callback] = (),
                prune: Sequence[Prune | None] | None = None, stack: Stack | None = None,
                warm: WarmStart | None = None) -> list[TrainResult | TrialFailed]:
    """Train copy k of ``configs[k]`` with ``train_configs[k]``, all side by side in one stack; per copy its
    :class:`TrainResult`, or the :class:`TrialFailed` of a copy that diverged (the others train on).

    The configurations share a :func:`~mtl.padding.stack_key` (equal ones fuse, others pad) and the settings pass
    :func:`why_not_stacked`. ``prune[k]`` is asked after every epoch of copy k's training (:data:`~mtl.training.Prune`).
    ``stack`` is what :func:`build_stack` built for these configurations, seeds and ``warm`` (None: built here).
    ``warm`` starts every copy as :func:`mtl.training.train` starts a lone model: its weights loaded, its layers
    frozen, and with ``finetune_after`` = N the frozen layers train again after epoch N, from the best weights so far,
    at each copy's learning rate times ``finetune_lr_factor`` (a copy done before epoch N ends without that phase).
    Raises :class:`~mtl.stacked.CannotPad` if the configurations cannot share a padded stack, and
    ``ValueError`` for settings that cannot stack.
    """
    reason = why_not_stacked(train_configs)
    if reason is not None:
        raise ValueError(reason)
    objective = objective or Objective()
    tasks = splits.tasks
    objective.check(tasks)
    seeds = [c.seed for c in train_configs]
    warm = warm or WarmStart()
    _, stacked, copies = stack or build_stack(configs, splits.train, seeds, warm)
    frozen = freeze_stack(stacked, copies, warm.freeze)
    first = train_configs[0]
    weighting = make_copy_weighting(first.weighting, tasks, [c.loss_weights for c in train_configs], first.weighting_options,
                                    seeds)
    weighting.setup(stacked, copies, splits.train.inputs)
    trainer = CopyTrainer(stacked, tasks, weighting)
    compile_copies(trainer, [c.learning_rate for c in train_configs])
    val_baselines, test_baselines = baseline_losses(splits, "val"), baseline_losses(splits, "test")
    stopper = CopyStopping(stacked, copies, tasks, objective, val_baselines, first.patience, prune)
    validation = CopyValidation(trainer, splits.val, copy_name)
    every = [StepClock(), validation, CopyWeightLogger(weighting, copy_name, validation.epoch_losses), stopper, *callbacks]
    switch = warm.finetune_after if frozen and warm.finetune_after is not None and warm.finetune_after < first.epochs else None
    history = fit_feeds(trainer, copy_feed(splits.train, first.batch_size, seeds), None, first.verbose, every,
                        epochs=switch or first.epochs)
    if switch is not None and not trainer.stop_training:  # the fine-tuning phase, from every copy's best weights
        for layer in frozen:
            layer.trainable = True
        compile_copies(trainer, [c.learning_rate * warm.finetune_lr_factor for c in train_configs])
        stopper.wait = [0] * len(copies)  # only the patience count starts afresh, as PhasedEarlyStopping's
        later = fit_feeds(trainer, copy_feed(splits.train, first.batch_size, seeds), None, first.verbose, every,
                          initial_epoch=switch, epochs=first.epochs)
        history = joined(history, later)
    # the copies' final metrics (best weights restored): one pass over each split, every copy at once, with a lone
    # evaluation's formulas; one Keras output per copy and task cost as much as the training itself
    flat_val, flat_test = validation.flat(), CopyValidation(trainer, splits.test, copy_name).flat()
    results: list[TrainResult | TrialFailed] = []
    for copy, (model, settings) in enumerate(zip(copies, train_configs, strict=True)):
        if stopper.diverged_at[copy] is not None:
            results.append(TrialFailed(f"training diverged: non-finite loss in epoch {stopper.diverged_at[copy]}"))
            continue
        val = _copy_metrics(flat_val, tasks, copy, val_baselines)
        test = _copy_metrics(flat_test, tasks, copy, test_baselines)
        compile_model(model, splits, settings)
        model.optimizer.build(model.trainable_variables)
        done = stopper.done_at[copy]
        epochs = len(history.get("loss", [])) if done is None else done + 1
        own = _copy_history(history, tasks, copy, epochs)
        results.append(TrainResult(
            model=model, history=own, best_epoch=stopper.best_epoch[copy], val=val, test=test,
            objective=objective.value(val, tasks), task_scores=objective.task_scores(val, tasks),
            weights={t.name: own[f"{WEIGHT_PREFIX}{t.name}"] for t in tasks if f"{WEIGHT_PREFIX}{t.name}" in own}))
    return results


def compile_copies(trainer: CopyTrainer, learning_rates: Sequence[float]) -> None:
    """Compile the copy trainer with a :class:`~mtl.copy_trainer.CopyAdam` of these rates and build its variables
    now, not inside the first trace (:func:`mtl.training.compile_trainer` says why)."""
    trainer.compile(optimizer=CopyAdam(learning_rates))
    trainer.optimizer.build(trainer.trainable_variables)


def freeze_stack(stacked: keras.Model, copies: Sequence[keras.Model], what: str) -> list[keras.layers.Layer]:
    """Freeze what ``what`` names (:data:`mtl.warmstart.FREEZE`) in every lone copy and its twin in ``stacked``;
    the layers frozen, lone and stacked alike."""
    lone = [layer for copy in copies for layer in freeze(copy, what)]
    twins = {layer.name: stacked.get_layer(layer.name) for layer in lone}
    for twin in twins.values():
        twin.trainable = False
    return lone + list(twins.values())


def _copy_metrics(flat: Mapping[str, float], tasks: tuple[Task, ...], copy: int,
                  baselines: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """One copy's per-task metrics from the fused model's flat evaluation, under the tasks' own names."""
    renamed = tuple(replace(t, name=copy_name(t.name, copy)) for t in tasks)
    grouped = per_task_metrics(flat, renamed, {copy_name(k, copy): v for k, v in baselines.items()})
    return {t.name: grouped[copy_name(t.name, copy)] for t in tasks}


def _copy_history(history: Mapping[str, list[float]], tasks: tuple[Task, ...], copy: int, epochs: int) -> dict[str, list[float]]:
    """One copy's per-epoch history, cut where the copy stopped, under the names an unfused training logs."""
    own: dict[str, list[float]] = {}
    for key, values in history.items():
        for t in tasks:
            name = copy_name(t.name, copy)
            if name in key and (key.startswith((f"{name}_", f"val_{name}_")) or key in {p + name for p in COPY_LOG_PREFIXES}):
                own[key.replace(name, t.name)] = list(values[:epochs])
        if key == f"val_objective_c{copy}":
            own["val_objective"] = list(values[:epochs])
        if key == STEP_MS:  # the stack's step, which trains every copy at once
            own[STEP_MS] = list(values[:epochs])
    for prefix in ("", "val_"):  # the weighted total, with the weights the epoch trained with (mean over its steps)
        if all(f"{prefix}{t.name}_loss" in own for t in tasks):
            own[f"{prefix}loss"] = [sum(own[f"{WEIGHT_PREFIX}{t.name}"][i] * own[f"{prefix}{t.name}_loss"][i] for t in tasks)
                                    for i in range(epochs)]
    return own


class CopyLogs(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Passes copy ``copy``'s epoch logs to ``callbacks`` under the names a lone training logs (``<task>_loss``,
    ``val_objective``, ``weight_<task>``, ``loss``...), as each epoch ends, and the end of training."""

    def __init__(self, tasks: tuple[Task, ...], copy: int, callbacks: Sequence[keras.callbacks.Callback]) -> None:
        super().__init__()
        self.tasks, self.copy, self.callbacks = tasks, copy, list(callbacks)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Rename this epoch's logs to the copy's own and hand them on."""
        own = {key: values[0] for key, values in
               _copy_history({k: [v] for k, v in (logs or {}).items()}, self.tasks, self.copy, 1).items()}
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, own)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Tell the callbacks that training ended."""
        for callback in self.callbacks:
            callback.on_train_end(logs)


def train_alone(config: ModelConfig, splits: Splits, train_config: TrainConfig, objective: Objective | None = None,
                callbacks: Sequence[keras.callbacks.Callback] = (), epoch_callbacks: Sequence[keras.callbacks.Callback] = (),
                prune: Prune | None = None, warm: WarmStart | None = None) -> TrainResult:
    """Train one model as a stack of one copy (:func:`train_stack`, ``warm`` as it says); raise :class:`TrialFailed`
    if it diverges.

    ``callbacks`` see every step of the stack's ``fit`` (a signal guard, say); ``epoch_callbacks`` get only each
    epoch's end, with the logs a lone training's callbacks see (:class:`CopyLogs`), and the end of training.
    ``prune`` is asked after every epoch (:data:`~mtl.training.Prune`).
    """
    every = [*callbacks, CopyLogs(splits.tasks, 0, epoch_callbacks)]
    (result,) = train_stack([config], splits, [train_config], objective, every, [prune], warm=warm)
    if isinstance(result, TrialFailed):
        raise result
    return result
