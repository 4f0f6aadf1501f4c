"""One trial, engine-agnostic: sample -> train -> track. Returns the objective or raises on failure."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from mtl.data import Splits
from mtl.errors import TrialFailed
from mtl.fused import train_alone
from mtl.models import ModelConfig
from mtl.partition import canonical, strategy_partition
from mtl.training import TrainConfig, TrainResult, train
from search.signals import PreemptionGuard, interruption_behind, signals_deferred
from search.space import Sampled, Space, Suggest, sample
from search.tracking import BackgroundWriter, EpochLogger, Tracker
from search.trial._warm import Sources, warm_start

# Each trial builds a new model, so tf.function retracing across trials is expected, not a problem.
logging.getLogger("tensorflow").setLevel(logging.ERROR)


class BestSoFar:
    """The best complete trial this process has run: its objective, run id and learning history.

    Drawing learning curves costs about 0.2 s a trial, as much as several epochs of a small model,
    so a sweep draws them once, at its end, for its best trial (:meth:`log_curves`); MLflow charts
    every trial's per-epoch metrics itself.
    """

    def __init__(self, direction: str) -> None:
        self.minimize = direction == "minimize"
        self.value: float | None = None
        self.run_id: str | None = None
        self.history: dict[str, list[float]] = {}
        self.best_epoch = 0

    def offer(self, run_id: str, result: TrainResult) -> None:
        """Keep ``result``'s run id and history if its objective beats the best so far."""
        value = result.objective
        if self.value is not None and (value >= self.value if self.minimize else value <= self.value):
            return
        self.value, self.run_id, self.history, self.best_epoch = value, run_id, result.history, result.best_epoch

    def log_curves(self, ctx: TrialContext) -> None:
        """Draw the best trial's learning curves into its run (nothing if no trial completed)."""
        if self.run_id is not None:
            ctx.write(partial(ctx.tracker.log_curves, self.run_id, self.history, ctx.splits.tasks, self.best_epoch))


@dataclass(frozen=True)
class TrialContext:
    """What a trial needs besides its sampled values: the data, the space, where to log and the
    warm-start weights its space names (:func:`search.trial.resolve_init`)."""

    space: Space
    splits: Splits
    tracker: Tracker
    parent_run_id: str
    study_name: str
    engine: str = "optuna"
    sources: Sources | None = None
    writer: BackgroundWriter | None = None  # MLflow writes after a run's start go through it; None: inline
    best: BestSoFar | None = None  # learning curves for its trial only, at the sweep's end; None: every trial's at once
    arm: str | None = None  # the comparison arm being tuned or confirmed (tag ``arm``); None outside comparisons
    replicate: int | None = None  # the comparison's replicate (tag ``replicate``); None outside comparisons
    curves_of: frozenset[int] | None = None  # where ``best`` is None: the trial numbers whose runs draw curves; None: all

    def draws_curves(self, number: int) -> bool:
        """Whether trial ``number``'s run draws its learning curves as it closes (else at the sweep's end, or never)."""
        return self.best is None and (self.curves_of is None or number in self.curves_of)

    def write(self, job: Callable[[], None]) -> None:
        """Run ``job`` (an MLflow write) through the background writer, or now if there is none."""
        if self.writer is None:
            job()
        else:
            self.writer.submit(job)


class Pruning(Protocol):
    """An engine's pruner (:data:`mtl.training.Prune`): asked after every epoch; ``pruned_at`` is the epoch it stopped
    training at (None: it did not)."""

    pruned_at: int | None

    def __call__(self, epoch: int, value: float) -> bool:
        """Whether to stop training after ``epoch``, whose validation objective is ``value``."""
        ...


STACK_SWITCH = "MTL_STACK"  # "0": every training alone, with Keras' own fit (the reference trainer), nothing stacked


def why_not_fused(ctx: TrialContext) -> str | None:
    """Why models cannot train as stacked copies in this context (seeds side by side, trials in stacks, a model alone
    as a stack of one); None if they can: everything stacks (every weighting, :mod:`mtl.copy_weighting`; warm starts,
    :func:`mtl.fused.train_stack`) unless ``MTL_STACK=0`` asks for Keras' own ``fit``."""
    if os.environ.get(STACK_SWITCH) == "0":
        return f"{STACK_SWITCH}=0 is set"
    return None


@dataclass(frozen=True)
class TrialOutcome:
    """A trained trial: its result, its sampled values, and the epoch it was pruned at (None if not)."""

    result: TrainResult
    sampled: Sampled
    pruned_at: int | None = None


def fixed_params(space: Space) -> dict[str, Any]:
    """Settings every trial shares, logged beside the sampled ones."""
    return {
        "data.source": space.data.source,
        "epochs": space.training.epochs,
        "patience": space.training.patience,
        "seed": space.study.seed,
        "objective": "normalized_loss" if space.objective.metrics is None else "metrics",
        "direction": space.objective.direction,
    } | ({"finetune_after": space.training.finetune_after, "finetune_lr_factor": space.training.finetune_lr_factor}
         if space.training.finetune_after is not None else {})


def run_trial(
    ctx: TrialContext,
    number: int,
    suggest: Suggest,
    on_run: Callable[[str], None] = lambda run_id: None,
    pruning: Pruning | None = None,
    kind: str = "trial",
    tags: Mapping[str, object] | None = None,
    run_name: str | None = None,
) -> TrialOutcome:
    """Sample, train and log trial ``number``; ``on_run`` receives the MLflow run id as soon as it exists.

    The MLflow run always ends: FINISHED on success or pruning (tag ``state`` says which), FAILED
    if training failed, KILLED on interruption; exceptions are re-raised for the engine to record.
    A pruned trial still logs the metrics it reached. A warm-started trial's run is tagged with
    where its weights came from (``init.trunk``, ``init.tower.<task>``: run ids or files).

    Weights are initialised with seed ``space seed + number``. Runs of another ``kind`` (repeats,
    confirmations) have no ``trial_number`` tag; ``tags`` and ``run_name`` add to or replace the defaults.
    """
    tasks = ctx.splits.tasks
    sampled = sample(ctx.space, tasks, suggest)
    run_id = start_run(ctx, number, sampled, kind, tags, run_name)
    train_config = train_config_for(ctx, sampled, number)
    epochs = EpochLogger(ctx.tracker, run_id, tasks, ctx.write)
    try:  # from here on an interruption or failure ends the run: nothing may stand between its creation and this
        on_run(run_id)
        ctx.write(partial(ctx.tracker.log_datasets, run_id, ctx.splits, ctx.space.data.source))
        with signals_deferred():  # a Ctrl-C or SIGTERM stops training between batches, never inside TensorFlow's C++
            result = train_one(ctx, sampled, train_config, epochs, pruning)
        ctx.write(partial(ctx.tracker.log_final_metrics, run_id, result))
    except BaseException as exc:
        epochs.flush()
        stop = end_runs_after(ctx, [run_id], exc)
        if stop is not exc:
            raise stop from exc
        raise
    pruned_at = pruning.pruned_at if pruning is not None else None
    if pruned_at is not None:
        ctx.write(partial(ctx.tracker.set_tags, run_id, {"pruned_at_epoch": pruned_at}))
    if ctx.best is not None and pruned_at is None:
        ctx.best.offer(run_id, result)
    ctx.write(partial(close_run, ctx, run_id, result, "COMPLETE" if pruned_at is None else "PRUNED", ctx.draws_curves(number)))
    return TrialOutcome(result, sampled, pruned_at)


def train_one(ctx: TrialContext, sampled: Sampled, train_config: TrainConfig, epochs: EpochLogger,
              pruning: Pruning | None) -> TrainResult:
    """Train one trial's model as a stack of one copy (:func:`mtl.fused.train_alone`), its epochs logged live by
    ``epochs``; with Keras' own ``fit`` (:func:`mtl.training.train`) where :func:`why_not_fused` says so."""
    warm = warm_start(ctx.space, ctx.sources, sampled.freeze)
    if why_not_fused(ctx) is None:
        return train_alone(sampled.model, ctx.splits, train_config, ctx.space.objective, callbacks=[PreemptionGuard()],
                           epoch_callbacks=[epochs], prune=pruning, warm=warm)
    return train(sampled.model, ctx.splits, train_config, ctx.space.objective, callbacks=[epochs, PreemptionGuard()],
                 warm=warm, prune=pruning)


def end_runs_after(ctx: TrialContext, run_ids: Sequence[str], exc: BaseException) -> BaseException:
    """End ``run_ids`` after ``exc`` stopped their training (FAILED for a failed training, else as
    :meth:`~search.tracking.Tracker.end_after` says); return what to raise: ``exc``, or the Ctrl-C or
    SIGTERM that native code turned into ``exc``."""
    if isinstance(exc, TrialFailed):
        for run_id in run_ids:
            ctx.write(partial(ctx.tracker.end, run_id, "FAILED", "FAIL", str(exc)))
        return exc
    stop = interruption_behind(exc)
    for run_id in run_ids:
        ctx.write(partial(ctx.tracker.end_after, run_id, stop))
    return stop


def start_run(ctx: TrialContext, number: int, sampled: Sampled, kind: str, tags: Mapping[str, object] | None,
              run_name: str | None) -> str:
    """Start the MLflow run of trial ``number`` (or a run of another ``kind``): its params and tags."""
    run_tags: dict[str, object] = {
        "study": ctx.study_name,
        "kind": kind,
        "engine": ctx.engine,
        "strategy": sampled.model.strategy,
        "weighting": sampled.weighting,
        "state": "RUNNING",
        **({"trial_number": str(number)} if kind == "trial" else {}),
        **({"arm": ctx.arm} if ctx.arm is not None else {}),
        **({"replicate": ctx.replicate} if ctx.replicate is not None else {}),
        **(ctx.sources.refs if ctx.sources else {}),
        **partition_tag(sampled.model, tuple(t.name for t in ctx.splits.tasks)),
        **(tags or {}),
    }
    return ctx.tracker.start_trial(ctx.parent_run_id, run_name or f"trial-{number:03d}",
                                   {**sampled.params, **fixed_params(ctx.space)},
                                   {k: str(v) for k, v in run_tags.items()})


def partition_tag(model: ModelConfig, tasks: tuple[str, ...]) -> dict[str, str]:
    """``{"groups": <partition>}`` in canonical form for the strategies that partition the tasks; else nothing."""
    partition = strategy_partition(model.strategy, model.options.get("groups"), tasks)
    return {} if partition is None else {"groups": canonical(partition)}


def train_config_for(ctx: TrialContext, sampled: Sampled, number: int) -> TrainConfig:
    """The training settings of trial ``number``: its sampled values, the space's epochs, seed ``space seed + number``."""
    return TrainConfig(
        learning_rate=sampled.learning_rate,
        batch_size=sampled.batch_size,
        epochs=ctx.space.training.epochs,
        patience=ctx.space.training.patience,
        loss_weights=sampled.loss_weights,
        weighting=sampled.weighting,
        weighting_options=sampled.weighting_options,
        seed=ctx.space.study.seed + number,
    )


def log_trained(ctx: TrialContext, run_id: str, result: TrainResult) -> None:
    """Log a result trained beside others (fused or stacked): its per-epoch metrics, replayed from its history as
    a lone training logs them while it trains, then its final metrics."""
    EpochLogger(ctx.tracker, run_id, ctx.splits.tasks, ctx.write).replay(result.history)
    ctx.write(partial(ctx.tracker.log_final_metrics, run_id, result))


def close_run(ctx: TrialContext, run_id: str, result: TrainResult, state: str, curves: bool) -> None:
    """Log a trained trial's artifacts, then end its run FINISHED (FAILED if the artifacts cannot be written)."""
    try:
        ctx.tracker.log_artifacts(run_id, result, ctx.splits.train, curves)
    except BaseException as exc:
        ctx.tracker.end(run_id, "FAILED", "FAIL", f"artifacts not written: {exc!r}")
        raise
    ctx.tracker.end(run_id, "FINISHED", state)
