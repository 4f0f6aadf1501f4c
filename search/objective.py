"""One trial, engine-agnostic: sample -> train -> track. Returns the objective or raises on failure."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mtl.data import Splits
from mtl.errors import TrialFailed
from mtl.training import TrainConfig, TrainResult, train
from search.sampling import Sampled, Suggest, sample
from search.space import Space
from search.tracking import EpochLogger, Tracker

# Each trial builds a new model, so tf.function retracing across trials is expected, not a problem.
logging.getLogger("tensorflow").setLevel(logging.ERROR)


@dataclass(frozen=True)
class TrialContext:
    """What a trial needs besides its sampled values: the data, the space and where to log."""

    space: Space
    splits: Splits
    tracker: Tracker
    parent_run_id: str
    study_name: str
    engine: str = "optuna"


class Pruning(Protocol):
    """A Keras callback that may stop training early for the engine; ``pruned_at`` is that epoch."""

    pruned_at: int | None


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
    }


def run_trial(
    ctx: TrialContext,
    number: int,
    suggest: Suggest,
    on_run: Callable[[str], None] = lambda run_id: None,
    pruning: Pruning | None = None,
) -> TrialOutcome:
    """Sample, train and log trial ``number``; ``on_run`` receives the MLflow run id as soon as it exists.

    The MLflow run always ends: FINISHED on success or pruning (tag ``state`` says which), FAILED
    if training failed, KILLED on interruption; exceptions are re-raised for the engine to record.
    A pruned trial still logs the metrics it reached.
    """
    tasks = ctx.splits.tasks
    sampled = sample(ctx.space, tasks, suggest)
    tags = {
        "study": ctx.study_name,
        "kind": "trial",
        "engine": ctx.engine,
        "strategy": sampled.model.strategy,
        "weighting": sampled.weighting,
        "trial_number": str(number),
        "state": "RUNNING",
    }
    run_id = ctx.tracker.start_trial(ctx.parent_run_id, f"trial-{number:03d}", {**sampled.params, **fixed_params(ctx.space)}, tags)
    on_run(run_id)
    train_config = TrainConfig(
        learning_rate=sampled.learning_rate,
        batch_size=sampled.batch_size,
        epochs=ctx.space.training.epochs,
        patience=ctx.space.training.patience,
        loss_weights=sampled.loss_weights,
        weighting=sampled.weighting,
        seed=ctx.space.study.seed + number,
    )
    try:
        callbacks = [EpochLogger(ctx.tracker, run_id, tasks)] + ([pruning] if pruning is not None else [])
        result = train(sampled.model, ctx.splits, train_config, ctx.space.objective, callbacks=callbacks)
        ctx.tracker.log_result(run_id, result, ctx.splits.train)
    except TrialFailed as exc:
        ctx.tracker.end(run_id, "FAILED", "FAIL", str(exc))
        raise
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        ctx.tracker.end(run_id, "KILLED" if interrupted else "FAILED", "FAIL", "interrupted" if interrupted else repr(exc))
        raise
    pruned_at = pruning.pruned_at if pruning is not None else None
    if pruned_at is not None:
        ctx.tracker.set_tags(run_id, {"pruned_at_epoch": pruned_at})
    ctx.tracker.end(run_id, "FINISHED", "COMPLETE" if pruned_at is None else "PRUNED")
    return TrialOutcome(result, sampled, pruned_at)
