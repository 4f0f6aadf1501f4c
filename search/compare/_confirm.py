"""Confirmation: each arm's best tuning configuration retrained with K seeds and scored on the test split.

Seed ``i`` is ``study seed + 20_000 + i`` for every arm, so arm and reference are paired seed by
seed (with ``[compare] resplit = true`` the seed also re-cuts the training and validation rows;
the test rows, which selection never saw, stay the same). Each confirmation is an MLflow child run
of the sweep's parent run, named ``confirm-<arm>-<i>`` and tagged ``kind=confirmation``, ``arm``,
``seed``, ``confirms_trial`` and ``confirms_run``. Confirmation is resumable: a run already FINISHED
for the same arm, seed and tuning trial is read back rather than trained again, and the results are
always read back from MLflow, so the verdict is what the tracking store holds. Seeds go in rounds
across arms (:func:`search.compare._race.confirmation_rounds`), and with ``[compare] racing`` (the default) an arm already
clearly worse than the leader stops early (:mod:`search.compare._race`).

With ``[compare] fuse`` (the default) an arm's seeds of one round train side by side as one Keras
model (:func:`search.trial.run_fused`; one MLflow run per seed all the same): the same seeds, data,
epochs, per-copy early stopping and per-copy batch order as lone trainings. Rounds are then two
halves of the seeds when racing (at least 3 before the race's one look), else one round of every
seed. Warm-started configurations, ``resplit = true`` and a failed fused training train one by
one (every weighting stacks, :mod:`mtl.copy_weighting`).

Where the study has single-task baselines (``python -m search baselines`` runs in its experiment,
one per task), they are confirmed too, as the pseudo-arm ``single-task``: each task's baseline
network retrained alone with every confirmation seed, one run per task and seed, named
``confirm-single-task-<task>-<i>`` and tagged like the arms' (``arm=single-task``, ``task``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import optuna
from mlflow.entities import Run

from mtl.data import Splits
from mtl.errors import TrialFailed
from mtl.tasks import Task
from search.compare._race import confirmation_rounds, race, race_looks
from search.compare._scores import OBJECTIVE, ConfirmedArm
from search.engines import CAUGHT, ArmStudy, OpenSweep, best_trial, replicate_seed
from search.progress import epoch_bars
from search.space import RESERVED_ARM, Space, optuna_suggest
from search.tracking import CONFIRM_KIND, RUN_ID_ATTR, Tracker
from search.trial import TrialContext, latest_baselines, prepare_data, run_fused, run_trial, train_baselines, why_not_fused

CONFIRM_OFFSET = 20_000
SINGLE_TASK = RESERVED_ARM  # the pseudo-arm of the study's single-task baselines

Printer = Callable[[str], None]


def confirmation_seeds(space: Space, replicate: int = 0) -> tuple[int, ...]:
    """The seeds every arm of ``replicate`` is confirmed with (replicate 0's: the space's seed + 20,000 + i)."""
    k = space.compare.seeds if space.compare else 0
    return tuple(replicate_seed(space, replicate) + CONFIRM_OFFSET + i for i in range(k))


def seed_span(indices: list[int]) -> str:
    """Seed indices as a person counts them: ``[0, 1, 2]`` -> ``1-3``, ``[3]`` -> ``4``, ``[0, 2]`` -> ``1, 3``."""
    if len(indices) > 1 and indices == list(range(indices[0], indices[-1] + 1)):
        return f"{indices[0] + 1}-{indices[-1] + 1}"
    return ", ".join(str(i + 1) for i in indices)


def replicates(space: Space) -> int:
    """How many replicates the comparison runs (1 without ``[compare] replicates``)."""
    return space.compare.replicates if space.compare is not None else 1


def _confirmation_runs(tracker: Tracker, parent: str, status: str) -> list[Run]:
    """The arms' confirmation runs under ``parent`` that ended with ``status`` (FINISHED or FAILED)."""
    runs = tracker.search_runs(
        [tracker.experiment_id],
        f"tags.kind = '{CONFIRM_KIND}' and tags.`mlflow.parentRunId` = '{parent}' and attributes.status = '{status}'",
        max_results=5000,
    )
    return [r for r in runs if r.data.tags.get("arm") != SINGLE_TASK and "confirms_trial" in r.data.tags]


def _existing(tracker: Tracker, parent: str) -> dict[tuple[str, int, int], Run]:
    """Finished confirmation runs under ``parent``, by (arm, seed, confirmed trial)."""
    return {(r.data.tags["arm"], int(r.data.tags["seed"]), int(r.data.tags["confirms_trial"])): r
            for r in _confirmation_runs(tracker, parent, "FINISHED") if r.data.tags.get("state") == "COMPLETE"}


def _failed(tracker: Tracker, parent: str) -> set[tuple[str, int, int]]:
    """(arm, seed, confirmed trial) of the confirmation runs under ``parent`` whose training failed."""
    return {(r.data.tags["arm"], int(r.data.tags["seed"]), int(r.data.tags["confirms_trial"]))
            for r in _confirmation_runs(tracker, parent, "FAILED")}


def _existing_single_task(tracker: Tracker, parent: str) -> dict[tuple[int, str], Run]:
    """Finished single-task confirmation runs under ``parent``, by (seed, task)."""
    runs = tracker.search_runs(
        [tracker.experiment_id],
        f"tags.kind = '{CONFIRM_KIND}' and tags.`mlflow.parentRunId` = '{parent}' and tags.arm = '{SINGLE_TASK}' "
        "and attributes.status = 'FINISHED'",
        max_results=5000,
    )
    return {(int(r.data.tags["seed"]), r.data.tags["task"]): r for r in runs if r.data.tags.get("state") == "COMPLETE"}


def fused(space: Space) -> bool:
    """Whether a comparison's confirmation trains an arm's seeds of one round side by side."""
    return space.compare is not None and space.compare.fuse and not space.compare.resplit


def has_baselines(sweep: OpenSweep) -> bool:
    """Whether the study's experiment holds a finished single-task baseline for every task."""
    return {t.name for t in sweep.splits.tasks} <= {b.task for b in latest_baselines(sweep.tracker)}


def _scores(run: Run, space: Space, tasks: tuple[Task, ...], planted: float = 0.0) -> dict[str, float] | None:
    """A confirmation run's test score per task and their mean; None if a metric is missing or not finite (MLflow
    stores an infinite metric as the largest float, which counts as infinite here). ``planted`` (the arm's calibration
    aid) makes every score that fraction worse: times 1 + planted when the objective is minimized, 1 - planted if not."""
    per_task = {t.name: run.data.metrics.get(f"test/{t.name}/{space.objective.metric_for(t)}", math.nan) for t in tasks}
    if not all(math.isfinite(v) and abs(v) < sys.float_info.max for v in per_task.values()):
        return None
    factor = 1.0 + planted if space.objective.direction == "minimize" else 1.0 - planted
    per_task = {name: value * factor for name, value in per_task.items()}
    return per_task | {OBJECTIVE: sum(per_task.values()) / len(per_task)}


def confirm_before_race(sweep: OpenSweep, arms: tuple[ArmStudy, ...], printer: Printer = print) -> None:
    """Confirm ``arms`` with the seeds every arm gets whatever the race says (the rounds up to its first
    look; every seed without racing), so a process that tuned these arms trains them while others
    tune theirs (``--jobs``); the race and later rounds are :func:`confirm`'s, which reads these back
    from MLflow."""
    confirm(sweep, printer, before_race_of={arm.label for arm in arms})


def confirm(sweep: OpenSweep, printer: Printer = print,
            before_race_of: set[str] | None = None) -> tuple[ConfirmedArm, ...]:
    """Retrain every arm's best configuration (each replicate's) with the confirmation seeds (those not already in MLflow).

    ``before_race_of`` (:func:`confirm_before_race`, arm labels) restricts it to those arms' rounds before
    the race's first look, with no race look and no single-task baselines. With replicates there is no race
    (the design-level verdict needs every arm in every replicate) and no single-task reference.
    """
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
    for arm in sweep.arms if before_race_of is None else [arm for arm in sweep.arms if arm.label in before_race_of]:
        best = best_trial(arm.study)
        if best is None or arm.name is None:
            printer(f"{arm.label}: no complete tuning trial to confirm")
            continue
        contenders.append((arm.name, arm, best))
    compare = space.compare
    racing = compare is not None and compare.racing and replicates(space) == 1
    fuse = fused(space)
    announced: set[str] = set()
    unfused_said: set[str] = set()
    looks = race_looks(len(seeds), fuse) if racing else ()
    rounds = confirmation_rounds(len(seeds), fuse, racing)
    if before_race_of is not None and looks:
        rounds = [r for r in rounds if r.stop <= looks[0]]
    for seed_indices in rounds:  # every arm still in contention, round by round
        for name, arm, best in contenders:
            own = confirmation_seeds(space, arm.replicate)
            todo = [i for i in seed_indices if (name, own[i], best.number) not in existing]
            if not todo:
                continue
            stacked = fuse and len(todo) > 1
            printer(f"{arm.label}: confirming trial {best.number}, seeds {seed_span(todo)} of {len(own)}"
                    + (" (stacked)" if stacked else ""))
            if stacked:  # fuse: one split for every seed
                todo = _confirm_fused(_context(sweep, arm, arm.splits or sweep.splits), arm.label, best, todo, own, unfused_said,
                                      printer)
            for index in todo:
                splits = arm.splits or splits_of(own[index])
                _confirm_one(_context(sweep, arm, splits), arm.label, best, index, own[index], printer)
        if compare is not None and before_race_of is None and seed_indices.stop in looks:
            dropped = race(read_confirmations(sweep), seeds, compare.reference, compare.alpha,
                           space.objective.direction == "minimize", looks, upto=seed_indices.stop)
            for d in dropped:
                if d.arm not in announced:
                    announced.add(d.arm)
                    printer(f"{d.arm}: dropped after {d.seeds} seeds, worse than {d.leader} "
                            f"(Holm p = {d.p_holm:.2g} < {d.threshold:.2g}); the other arms go on")
            contenders = [(name, arm, best) for name, arm, best in contenders if name not in announced]
    if before_race_of is None and replicates(space) == 1 and has_baselines(sweep):
        _confirm_single_task(sweep, seeds, splits_of, printer)
    return read_confirmations(sweep)


def _context(sweep: OpenSweep, arm: ArmStudy, splits: Splits) -> TrialContext:
    """Where ``arm``'s confirmation runs train (on ``splits``) and log; only the first seed's run draws learning
    curves (the seeds share one configuration, and MLflow charts every run's per-epoch metrics itself)."""
    return TrialContext(arm.space, splits, sweep.tracker, sweep.parent_run_id, sweep.study.study_name,
                        sources=sweep.sources, arm=arm.name, replicate=arm.replicate, curves_of=frozenset({CONFIRM_OFFSET}))


def _tags(best: optuna.trial.FrozenTrial, seed: int) -> dict[str, object]:
    """The tags of a confirmation run of ``best`` with ``seed``."""
    return {"seed": seed, "confirms_trial": best.number, "confirms_run": best.user_attrs.get(RUN_ID_ATTR, "")}


def _confirm_one(ctx: TrialContext, arm: str, best: optuna.trial.FrozenTrial, index: int, seed: int, printer: Printer) -> None:
    """Retrain ``best`` with confirmation seed number ``index`` alone."""
    number = CONFIRM_OFFSET + index
    try:
        run_trial(ctx, number, optuna_suggest(optuna.trial.FixedTrial(best.params, number)), kind=CONFIRM_KIND,
                  tags=_tags(best, seed), run_name=f"confirm-{arm}-{index}")
    except CAUGHT as exc:
        printer(f"{arm}: confirmation seed {seed} failed: {exc}")


def _confirm_fused(ctx: TrialContext, arm: str, best: optuna.trial.FrozenTrial, indices: list[int], seeds: tuple[int, ...],
                   unfused_said: set[str], printer: Printer) -> list[int]:
    """Retrain ``best`` with the seeds at ``indices`` side by side; the indices still to train one by one
    (all of them where the configuration is warm-started or the fused training failed)."""
    numbers = [CONFIRM_OFFSET + i for i in indices]
    suggest = optuna_suggest(optuna.trial.FixedTrial(best.params, numbers[0]))
    why = why_not_fused(ctx)
    if why is not None:
        if arm not in unfused_said:
            unfused_said.add(arm)
            printer(f"{arm}: seeds train one by one, not side by side: {why}")
        return indices
    try:
        run_fused(ctx, numbers, suggest, CONFIRM_KIND, [_tags(best, seeds[i]) for i in indices],
                  [f"confirm-{arm}-{i}" for i in indices],
                  epoch_bars(f"{arm}: seeds {seed_span(indices)}", ctx.space.training.epochs))
    except TrialFailed as exc:
        printer(f"{arm}: side-by-side training of seeds {', '.join(str(seeds[i]) for i in indices)} failed ({exc}); "
                "training them one by one")
        return indices
    return []


def _confirm_single_task(sweep: OpenSweep, seeds: tuple[int, ...], splits_of: Callable[[int], Splits], printer: Printer) -> None:
    """Retrain every task's single-task baseline network with the confirmation seeds it lacks in MLflow."""
    tracker, parent = sweep.tracker, sweep.parent_run_id
    existing = _existing_single_task(tracker, parent)
    todo = [(i, seed, task) for i, seed in enumerate(seeds) for task in sweep.splits.tasks if (seed, task.name) not in existing]
    if todo:
        printer(f"{SINGLE_TASK}: confirming the single-task baselines with {len(todo)} training(s)")
    for task in sweep.splits.tasks:  # each task's missing seeds side by side, as one stack
        mine = [(index, seed) for index, seed, todo_task in todo if todo_task is task]
        if not mine:
            continue
        tags = [{"study": sweep.study.study_name, "kind": CONFIRM_KIND, "arm": SINGLE_TASK, "seed": str(seed)} for _, seed in mine]
        names = [f"confirm-{SINGLE_TASK}-{task.name}-{index}" for index, _ in mine]
        try:
            outcomes: list[object] = list(train_baselines(sweep.space, splits_of(mine[0][1]), tracker, task,
                                                          [seed for _, seed in mine], tags, names, parent))
        except CAUGHT as exc:
            outcomes = [exc] * len(mine)
        for (_, seed), outcome in zip(mine, outcomes, strict=True):
            if isinstance(outcome, Exception):
                printer(f"{SINGLE_TASK}: {task.name} seed {seed} failed: {outcome}")


def read_confirmations(sweep: OpenSweep) -> tuple[ConfirmedArm, ...]:
    """Every arm's confirmation results as MLflow holds them, for the best tuning trial each arm has now: a seed
    whose run FAILED, or FINISHED with a missing or non-finite score, counts as failed."""
    space, tasks = sweep.space, sweep.splits.tasks
    existing = _existing(sweep.tracker, sweep.parent_run_id)
    failed_runs = _failed(sweep.tracker, sweep.parent_run_id)
    confirmed = []
    for arm in sweep.arms:
        if arm.name is None:
            continue
        best = best_trial(arm.study)
        scores: dict[int, dict[str, float]] = {}
        run_ids: dict[int, str] = {}
        failed = set()
        planted = space.compare.arm(arm.name).planted if space.compare else 0.0
        for seed in confirmation_seeds(space, arm.replicate):
            key = (arm.name, seed, -1 if best is None else best.number)
            run = existing.get(key)
            values = _scores(run, space, tasks, planted) if run is not None else None
            if run is not None and values is not None:
                scores[seed], run_ids[seed] = values, run.info.run_id
            elif run is not None or key in failed_runs:
                failed.add(seed)
        confirmed.append(ConfirmedArm(arm.name, None if best is None else best.number, scores, run_ids, frozenset(failed),
                                      arm.replicate))
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
