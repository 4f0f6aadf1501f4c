"""Tuning in batches (``[study] batch`` = B > 1, or ``"startup"``): trials asked at once, trained side by side, told one by one.

Optuna's ``optimize`` runs one trial at a time; here the sampler is asked for up to B trials (TPE
with a constant liar, :func:`~search.engines._study.make_sampler`), :func:`search.trial.run_batch`
trains them (stacked where they can be; a batch of one, as ``"startup"`` asks once the start-up trials are asked,
is a stack of one copy), and each is told its own value, pruning or failure, so
every trial is still an Optuna trial of its own. The budget stays exact: a batch asks at most what
the study's budget has left, and a trial another worker's trials leave no room for fails with
:class:`~search.cluster.BudgetReached`, as in ``optimize``. Every trial of a batch gets Optuna's
heartbeat while it trains (storages with heartbeats), and a batch that is interrupted or fails
marks the trials it had not told FAIL before the error goes on, as ``optimize`` marks a lone trial.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack

import optuna
from optuna.storages import fail_stale_trials
from optuna.storages._heartbeat import get_heartbeat_thread, is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from search.cluster import OCCUPYING, BudgetReached, StudyBudget, check_budget
from search.tracking import FAIL_ATTR
from search.trial import TrialOutcome

Outcome = TrialOutcome | BaseException
TrainBatch = Callable[[list[optuna.Trial]], list[Outcome]]
ValueOf = Callable[[optuna.Trial, TrialOutcome], float | list[float]]  # raises optuna.TrialPruned for a pruned trial
Stops = Callable[[FrozenTrial], bool]  # True: stop tuning (too many failures in a row)


def optimize_in_batches(study: optuna.Study, batch: Callable[[optuna.Study], int], budget: StudyBudget,
                        deadline: float | None, train: TrainBatch, value_of: ValueOf,
                        callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]], stops: Stops) -> None:
    """Ask, train and tell batches of up to ``batch(study)`` trials (one is a batch too) until ``budget`` is filled,
    ``deadline`` (``time.monotonic``) passes or ``stops`` says so; ``callbacks`` run after each trial is told."""
    while deadline is None or time.monotonic() < deadline:
        room = budget.budget - len(study.get_trials(deepcopy=False, states=OCCUPYING))
        if room <= 0:
            if budget.filled(study):
                return
            continue
        if is_heartbeat_enabled(study._storage):
            fail_stale_trials(study)  # as optimize does before each trial: a dead worker's trials are retried
        trials = _ask(study, min(batch(study), room), budget.budget, callbacks)
        if not trials:
            return
        stop = False
        for frozen in _train_and_tell(study, trials, train, value_of):
            for callback in callbacks:
                callback(study, frozen)
            stop = stops(frozen) or stop
        if stop or budget.filled(study):
            return


def _ask(study: optuna.Study, count: int, budget: int,
         callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]]) -> list[optuna.Trial]:
    """Up to ``count`` new trials; one that finds the budget taken by other workers is told FAIL and ends the asking."""
    trials = []
    for _ in range(count):
        trial = study.ask()
        try:
            check_budget(study, trial, budget)
        except BudgetReached as exc:
            trial.set_user_attr(FAIL_ATTR, str(exc))
            frozen = study.tell(trial, state=TrialState.FAIL)
            for callback in callbacks:
                callback(study, frozen)
            break
        trials.append(trial)
    return trials


def _train_and_tell(study: optuna.Study, trials: list[optuna.Trial], train: TrainBatch, value_of: ValueOf) -> list[FrozenTrial]:
    """Train ``trials`` (each with its heartbeat) and tell each its outcome; on an error, tell FAIL every trial not
    yet told, then raise it."""
    told: list[FrozenTrial] = []
    try:
        with ExitStack() as beats:
            for trial in trials:
                beats.enter_context(get_heartbeat_thread(trial._trial_id, study._storage))  # type: ignore[arg-type]  # a context manager, untyped as one
            outcomes = train(trials)
        for trial, outcome in zip(trials, outcomes, strict=True):
            told.append(_tell(study, trial, outcome, value_of))
    except BaseException as exc:
        for trial in trials[len(told):]:
            try:
                trial.set_user_attr(FAIL_ATTR, f"batch interrupted: {exc!r}"[:200])
                study.tell(trial, state=TrialState.FAIL)
            except Exception:  # the storage itself failed: the trial goes stale and is retried (heartbeats)
                pass
        raise
    return told


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: Outcome, value_of: ValueOf) -> FrozenTrial:
    """Tell ``trial`` its value, that it was pruned, or that it failed (the reason in its ``fail_reason`` attribute)."""
    if isinstance(outcome, BaseException):
        trial.set_user_attr(FAIL_ATTR, str(outcome))
        return study.tell(trial, state=TrialState.FAIL)
    try:
        value = value_of(trial, outcome)
    except optuna.TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED)
    return study.tell(trial, value)
