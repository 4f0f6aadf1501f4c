"""Confirmation: each arm's best tuning configuration retrained with K seeds and scored on the test split.

Seed ``i`` is ``study seed + 20_000 + i`` for every arm, so arm and reference are paired seed by
seed (with ``[compare] resplit = true`` the seed also re-cuts the training and validation rows;
the test rows, which selection never saw, stay the same). Each confirmation is an MLflow child run
of the sweep's parent run, named ``confirm-<arm>-<i>`` and tagged ``kind=confirmation``, ``arm``,
``seed``, ``confirms_trial`` and ``confirms_run``. Confirmation is resumable: a run already FINISHED
for the same arm, seed and tuning trial is read back rather than trained again, and the results are
always read back from MLflow, so the verdict is what the tracking store holds. Seeds go in rounds
(seed i of every arm, then seed i + 1), and with ``[compare] racing`` (the default) an arm already
clearly worse than the leader stops early (:mod:`search.compare._race`).

Where the study has single-task baselines (``python -m search baselines`` runs in its experiment,
one per task), they are confirmed too, as the pseudo-arm ``single-task``: each task's baseline
network retrained alone with every confirmation seed, one run per task and seed, named
``confirm-single-task-<task>-<i>`` and tagged like the arms' (``arm=single-task``, ``task``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import optuna
from mlflow.entities import Run

from mtl.data import Splits
from mtl.tasks import Task
from search.compare._race import RACE_MIN_SEEDS, race
from search.compare._scores import OBJECTIVE, ConfirmedArm
from search.engines import CAUGHT, RUN_ID_ATTR, OpenSweep, best_trial
from search.space import RESERVED_ARM, Space, optuna_suggest
from search.tracking import Tracker
from search.trial import TrialContext, latest_baselines, prepare_data, run_trial, train_baseline

CONFIRM_OFFSET = 20_000
CONFIRM_KIND = "confirmation"
SINGLE_TASK = RESERVED_ARM  # the pseudo-arm of the study's single-task baselines

Printer = Callable[[str], None]


def confirmation_seeds(space: Space) -> tuple[int, ...]:
    """The seeds every arm is confirmed with."""
    k = space.compare.seeds if space.compare else 0
    return tuple(space.study.seed + CONFIRM_OFFSET + i for i in range(k))


def _existing(tracker: Tracker, parent: str) -> dict[tuple[str, int, int], Run]:
    """Finished confirmation runs under ``parent``, by (arm, seed, confirmed trial)."""
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        f"tags.kind = '{CONFIRM_KIND}' and tags.`mlflow.parentRunId` = '{parent}' and attributes.status = 'FINISHED'",
        max_results=5000,
    )
    return {(r.data.tags["arm"], int(r.data.tags["seed"]), int(r.data.tags["confirms_trial"])): r for r in runs
            if r.data.tags.get("state") == "COMPLETE" and r.data.tags["arm"] != SINGLE_TASK}


def _existing_single_task(tracker: Tracker, parent: str) -> dict[tuple[int, str], Run]:
    """Finished single-task confirmation runs under ``parent``, by (seed, task)."""
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        f"tags.kind = '{CONFIRM_KIND}' and tags.`mlflow.parentRunId` = '{parent}' and tags.arm = '{SINGLE_TASK}' "
        "and attributes.status = 'FINISHED'",
        max_results=5000,
    )
    return {(int(r.data.tags["seed"]), r.data.tags["task"]): r for r in runs if r.data.tags.get("state") == "COMPLETE"}


def has_baselines(sweep: OpenSweep) -> bool:
    """Whether the study's experiment holds a finished single-task baseline for every task."""
    return {t.name for t in sweep.splits.tasks} <= {b.task for b in latest_baselines(sweep.tracker)}


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

    def splits_of(seed: int) -> Splits:
        if not (space.compare and space.compare.resplit):
            return sweep.splits
        if seed not in splits_for:
            splits_for[seed] = prepare_data(space, development_seed=seed, frame=sweep.frame)
        return splits_for[seed]

    contenders = []
    for arm in sweep.arms:
        best = best_trial(arm.study)
        if best is None or arm.name is None:
            printer(f"{arm.name}: no complete tuning trial to confirm")
            continue
        contenders.append((arm, best))
        missing = sum((arm.name, seed, best.number) not in existing for seed in seeds)
        if missing:
            printer(f"{arm.name}: confirming trial {best.number} with {missing} seed(s)")
    compare = space.compare
    racing = compare is not None and compare.racing
    announced: set[str] = set()
    for index, seed in enumerate(seeds):  # in rounds: seed i of every arm still in contention
        for arm, best in contenders:
            if (arm.name, seed, best.number) in existing:
                continue
            ctx = TrialContext(arm.space, splits_of(seed), tracker, parent, sweep.study.study_name,
                               sources=sweep.sources, arm=arm.name)
            number = CONFIRM_OFFSET + index
            tags = {"seed": seed, "confirms_trial": best.number, "confirms_run": best.user_attrs.get(RUN_ID_ATTR, "")}
            try:
                run_trial(ctx, number, optuna_suggest(optuna.trial.FixedTrial(best.params, number)), kind=CONFIRM_KIND,
                          tags=tags, run_name=f"confirm-{arm.name}-{index}")
            except CAUGHT as exc:
                printer(f"{arm.name}: confirmation seed {seed} failed: {exc}")
        if racing and compare is not None and RACE_MIN_SEEDS <= index + 1 < len(seeds):
            dropped = race(read_confirmations(sweep), seeds, compare.reference, compare.alpha,
                           space.objective.direction == "minimize", rounds=index + 1)
            for d in dropped:
                if d.arm not in announced:
                    announced.add(d.arm)
                    printer(f"{d.arm}: dropped after {d.seeds} seeds, worse than {d.leader} "
                            f"(Holm p = {d.p_holm:.2g} < {d.threshold:.2g}); the other arms go on")
            contenders = [(arm, best) for arm, best in contenders if arm.name not in announced]
    if has_baselines(sweep):
        _confirm_single_task(sweep, seeds, splits_of, printer)
    return read_confirmations(sweep)


def _confirm_single_task(sweep: OpenSweep, seeds: tuple[int, ...], splits_of: Callable[[int], Splits], printer: Printer) -> None:
    """Retrain every task's single-task baseline network with the confirmation seeds it lacks in MLflow."""
    tracker, parent = sweep.tracker, sweep.parent_run_id
    existing = _existing_single_task(tracker, parent)
    todo = [(i, seed, task) for i, seed in enumerate(seeds) for task in sweep.splits.tasks if (seed, task.name) not in existing]
    if todo:
        printer(f"{SINGLE_TASK}: confirming the single-task baselines with {len(todo)} training(s)")
    for index, seed, task in todo:
        tags = {"study": sweep.study.study_name, "kind": CONFIRM_KIND, "arm": SINGLE_TASK, "seed": str(seed)}
        try:
            train_baseline(sweep.space, splits_of(seed), tracker, task, seed, tags, f"confirm-{SINGLE_TASK}-{task.name}-{index}", parent)
        except CAUGHT as exc:
            printer(f"{SINGLE_TASK}: {task.name} seed {seed} failed: {exc}")


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
    single = _existing_single_task(sweep.tracker, sweep.parent_run_id)
    if single:
        confirmed.append(_single_task_arm(single, space, tasks))
    return tuple(confirmed)


def _single_task_arm(runs: dict[tuple[int, str], Run], space: Space, tasks: tuple[Task, ...]) -> ConfirmedArm:
    """The single-task pseudo-arm: per seed, each task's score from its own run (seeds missing a task are left out)."""
    scores: dict[int, dict[str, float]] = {}
    run_ids: dict[int, str] = {}
    for seed in confirmation_seeds(space):
        per_task = {}
        for task in tasks:
            run = runs.get((seed, task.name))
            value = math.nan if run is None else run.data.metrics.get(f"test/{task.name}/{space.objective.metric_for(task)}", math.nan)
            per_task[task.name] = value
        if not any(math.isnan(v) for v in per_task.values()):
            scores[seed] = per_task | {OBJECTIVE: sum(per_task.values()) / len(per_task)}
            run_ids[seed] = runs[(seed, tasks[0].name)].info.run_id
    return ConfirmedArm(SINGLE_TASK, None, scores, run_ids)
