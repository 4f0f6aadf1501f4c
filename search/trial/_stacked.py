"""Tuning trials trained side by side: a batch of trials, grouped into padded stacks (:func:`mtl.fused.train_stack`),
each trial still its own MLflow run, logged exactly as :func:`search.trial.run_trial` logs a lone one.

Trials whose configurations share a stack key (:func:`mtl.padding.stack_key`), a batch size and a
weighting with its options, what they freeze of a warm start, and whose training settings can share a stack
(:func:`mtl.fused.why_not_stacked`), train as one stack; a trial alone in its group trains as
:func:`~search.trial.run_trial` trains it (a stack of one copy, its epochs logged live). A group that cannot pad
(or whose warm start does not fit one of its trials) trains one by one, with a line that says why. A copy that
diverges fails its own trial only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial

from mtl.errors import ConfigError, TrialFailed
from mtl.fused import build_stack, train_stack, weighting_key
from mtl.padding import stack_key
from mtl.stacked import CannotPad
from mtl.training import TrainResult
from search.signals import PreemptionGuard, signals_deferred
from search.space import Sampled, Suggest, sample
from search.trial._run import (
    Pruning,
    TrialContext,
    TrialOutcome,
    close_run,
    end_runs_after,
    log_trained,
    run_trial,
    start_run,
    train_config_for,
    why_not_fused,
)
from search.trial._warm import warm_start


@dataclass(frozen=True)
class BatchTrial:
    """One trial of a batch: its number, its sampler, where its run id goes, and its pruner (None: none)."""

    number: int
    suggest: Suggest
    on_run: Callable[[str], None]
    prune: Pruning | None = None


Outcome = TrialOutcome | BaseException


def run_batch(ctx: TrialContext, trials: Sequence[BatchTrial], say: Callable[[str], None]) -> list[Outcome]:
    """Train ``trials``, stacked where they can be (a trial alone in its group as :func:`run_trial` trains it); per
    trial (in order) its outcome, or the exception that ended it (a :class:`~mtl.errors.TrialFailed` or a configuration error; an
    interruption is raised). Trials that cannot stack at all are named in one line per reason."""
    sampled: dict[int, Sampled] = {}
    groups: dict[Hashable, list[int]] = {}
    singles: list[int] = []  # trials for run_trial: a configuration error, or a context that cannot stack
    alone: dict[str, list[int]] = {}
    for index, trial in enumerate(trials):
        try:
            sampled[index] = sample(ctx.space, ctx.splits.tasks, trial.suggest)
        except ConfigError:  # the trial fails alone, as run_trial records it
            singles.append(index)
            continue
        reason = why_not_fused(ctx)  # a trial that cannot train beside its own seeds cannot stack
        if reason is not None:
            alone.setdefault(reason, []).append(trial.number)
            singles.append(index)
            continue
        settings = train_config_for(ctx, sampled[index], trial.number)
        key = stack_key(sampled[index].model), settings.batch_size, weighting_key(settings), sampled[index].freeze
        groups.setdefault(key, []).append(index)
    for reason, numbers in alone.items():
        say(f"trial{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))} train{'' if len(numbers) > 1 else 's'} "
            f"alone: {reason}")
    outcomes: dict[int, Outcome] = {}
    for members in groups.values():
        stacked = None if len(members) == 1 else _run_stack(ctx, [trials[i] for i in members], [sampled[i] for i in members], say)
        for i, outcome in zip(members, stacked or [_run_alone(ctx, trials[i]) for i in members], strict=True):
            outcomes[i] = outcome
    for i in singles:
        outcomes[i] = _run_alone(ctx, trials[i])
    return [outcomes[i] for i in range(len(trials))]


def _run_alone(ctx: TrialContext, trial: BatchTrial) -> Outcome:
    """:func:`run_trial` for one trial; a training failure is its outcome, an interruption is raised."""
    try:
        return run_trial(ctx, trial.number, trial.suggest, on_run=trial.on_run, pruning=trial.prune)
    except (TrialFailed, ConfigError) as exc:
        return exc


def _run_stack(ctx: TrialContext, trials: Sequence[BatchTrial], sampled: Sequence[Sampled],
               say: Callable[[str], None]) -> list[Outcome] | None:
    """Train ``trials`` as one stack, one run each; None (nothing started) if their configurations cannot pad."""
    configs = [train_config_for(ctx, values, trial.number) for trial, values in zip(trials, sampled, strict=True)]
    models = [values.model for values in sampled]
    warm = warm_start(ctx.space, ctx.sources, sampled[0].freeze)  # a stack's trials freeze alike (their group's key)
    try:
        stack = build_stack(models, ctx.splits.train, [c.seed for c in configs], warm)
    except (CannotPad, ConfigError) as exc:
        say(f"trials {', '.join(str(t.number) for t in trials)} train one by one: {exc}")
        return None
    run_ids: list[str] = []
    try:  # from here on an interruption or failure ends every run started
        for trial, values in zip(trials, sampled, strict=True):
            run_ids.append(start_run(ctx, trial.number, values, "trial", None, None))
            trial.on_run(run_ids[-1])
            ctx.write(partial(ctx.tracker.log_datasets, run_ids[-1], ctx.splits, ctx.space.data.source))
        with signals_deferred():  # a Ctrl-C or SIGTERM stops training between batches, never inside TensorFlow's C++
            results = train_stack(models, ctx.splits, configs, ctx.space.objective, callbacks=[PreemptionGuard()],
                                  prune=[t.prune for t in trials], stack=stack, warm=warm)
    except BaseException as exc:
        stop = end_runs_after(ctx, run_ids, exc)
        if stop is not exc:
            raise stop from exc
        raise
    return [_log(ctx, run_id, trial, values, result)
            for run_id, trial, values, result in zip(run_ids, trials, sampled, results, strict=True)]


def _log(ctx: TrialContext, run_id: str, trial: BatchTrial, sampled: Sampled, result: TrainResult | TrialFailed) -> Outcome:
    """Log one stacked trial's epochs, metrics and model and end its run, as :func:`run_trial` ends a lone one (tag
    ``stacked``: it trained beside others)."""
    if isinstance(result, TrialFailed):
        end_runs_after(ctx, [run_id], result)
        return result
    log_trained(ctx, run_id, result)
    pruned_at = None if trial.prune is None else trial.prune.pruned_at
    tags = ({"pruned_at_epoch": pruned_at} if pruned_at is not None else {}) | {"stacked": "true"}
    ctx.write(partial(ctx.tracker.set_tags, run_id, tags))
    if ctx.best is not None and pruned_at is None:
        ctx.best.offer(run_id, result)
    ctx.write(partial(close_run, ctx, run_id, result, "COMPLETE" if pruned_at is None else "PRUNED",
                      ctx.draws_curves(trial.number)))
    return TrialOutcome(result, sampled, pruned_at)
