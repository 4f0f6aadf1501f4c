"""Confirmation: each arm's best tuning configuration retrained with K seeds and scored on the test split.

Seed ``i`` is ``study seed + 20_000 + i`` for every arm, so arm and reference are paired seed by
seed (with ``[compare] resplit = true`` the seed also re-cuts the training and validation rows;
the test rows, which selection never saw, stay the same). Each confirmation is an MLflow child run
of the sweep's parent run, named ``confirm-<arm>-<i>`` and tagged ``kind=confirmation``, ``arm``,
``seed``, ``confirms_trial`` and ``confirms_run``. Confirmation is resumable: a run already FINISHED
for the same arm, seed and tuning trial is read back rather than trained again, and the results are
always read back from MLflow, so the verdict is what the tracking store holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from mlflow.entities import Run

from mtl.data import Splits
from mtl.tasks import Task
from search.engines import CAUGHT, RUN_ID_ATTR, OpenSweep, best_trial
from search.space import Space, optuna_suggest
from search.tracking import Tracker
from search.trial import TrialContext, prepare_data, run_trial

CONFIRM_OFFSET = 20_000
CONFIRM_KIND = "confirmation"
OBJECTIVE = "objective"  # the target name of the mean over tasks

Printer = Callable[[str], None]


def confirmation_seeds(space: Space) -> tuple[int, ...]:
    """The seeds every arm is confirmed with."""
    k = space.compare.seeds if space.compare else 0
    return tuple(space.study.seed + CONFIRM_OFFSET + i for i in range(k))


@dataclass(frozen=True)
class ConfirmedArm:
    """One arm's confirmation: the tuning trial confirmed and, per seed, its test scores.

    ``scores`` maps seed -> target -> value, where the targets are the task names (each task's
    objective metric on the test split) and ``objective`` (their mean); seeds whose retraining
    failed are absent.
    """

    arm: str
    trial: int | None  # None: the arm has no complete tuning trial
    scores: dict[int, dict[str, float]]
    run_ids: dict[int, str]


def _existing(tracker: Tracker, parent: str) -> dict[tuple[str, int, int], Run]:
    """Finished confirmation runs under ``parent``, by (arm, seed, confirmed trial)."""
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        f"tags.kind = '{CONFIRM_KIND}' and tags.`mlflow.parentRunId` = '{parent}' and attributes.status = 'FINISHED'",
        max_results=5000,
    )
    return {(r.data.tags["arm"], int(r.data.tags["seed"]), int(r.data.tags["confirms_trial"])): r for r in runs
            if r.data.tags.get("state") == "COMPLETE"}


def _scores(run: Run, space: Space, tasks: tuple[Task, ...]) -> dict[str, float] | None:
    """A confirmation run's test score per task and their mean; None if a metric is missing."""
    per_task = {t.name: run.data.metrics.get(f"test/{t.name}/{space.objective.metric_for(t)}", math.nan) for t in tasks}
    if any(math.isnan(v) for v in per_task.values()):
        return None
    return per_task | {OBJECTIVE: sum(per_task.values()) / len(per_task)}


def confirm(sweep: OpenSweep, printer: Printer = print) -> tuple[ConfirmedArm, ...]:
    """Retrain every arm's best configuration with the confirmation seeds (those not already in MLflow)."""
    space, tracker, parent = sweep.space, sweep.tracker, sweep.parent_run_id
    seeds = confirmation_seeds(space)
    existing = _existing(tracker, parent)
    splits_for: dict[int, Splits] = {}
    for arm in sweep.arms:
        best = best_trial(arm.study)
        if best is None or arm.name is None:
            printer(f"{arm.name}: no complete tuning trial to confirm")
            continue
        todo = [(i, seed) for i, seed in enumerate(seeds) if (arm.name, seed, best.number) not in existing]
        if todo:
            printer(f"{arm.name}: confirming trial {best.number} with {len(todo)} seed(s)")
        for index, seed in todo:
            if space.compare and space.compare.resplit and seed not in splits_for:
                splits_for[seed] = prepare_data(space, development_seed=seed, frame=sweep.frame)
            ctx = TrialContext(arm.space, splits_for.get(seed, sweep.splits), tracker, parent, sweep.study.study_name,
                               sources=sweep.sources, arm=arm.name)
            number = CONFIRM_OFFSET + index
            tags = {"seed": seed, "confirms_trial": best.number, "confirms_run": best.user_attrs.get(RUN_ID_ATTR, "")}
            try:
                run_trial(ctx, number, optuna_suggest(optuna.trial.FixedTrial(best.params, number)), kind=CONFIRM_KIND,
                          tags=tags, run_name=f"confirm-{arm.name}-{index}")
            except CAUGHT as exc:
                printer(f"{arm.name}: confirmation seed {seed} failed: {exc}")
    return read_confirmations(sweep)


def read_confirmations(sweep: OpenSweep) -> tuple[ConfirmedArm, ...]:
    """Every arm's confirmation results as MLflow holds them, for the best tuning trial each arm has now."""
    space, tasks = sweep.space, sweep.splits.tasks
    existing = _existing(sweep.tracker, sweep.parent_run_id)
    confirmed = []
    for arm in sweep.arms:
        if arm.name is None:
            continue
        best = best_trial(arm.study)
        scores: dict[int, dict[str, float]] = {}
        run_ids: dict[int, str] = {}
        for seed in confirmation_seeds(space):
            run = existing.get((arm.name, seed, best.number)) if best is not None else None
            values = _scores(run, space, tasks) if run is not None else None
            if run is not None and values is not None:
                scores[seed], run_ids[seed] = values, run.info.run_id
        confirmed.append(ConfirmedArm(arm.name, None if best is None else best.number, scores, run_ids))
    return tuple(confirmed)
