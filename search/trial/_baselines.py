"""Single-task baselines: one network per task, each logged as an MLflow run that ``[init]`` can name.

``python -m search baselines --space F`` trains, for every task of the space's data, a ``hard``
network over that task alone (its own trunk, tower and head), so its layers have the roles of the
multi-task models' (:mod:`mtl.models.roles`) and its run id can warm-start their towers and heads
(and an ``independent`` model's private trunks). Settings: ``[baselines]``, else the space's fixed
value, else the default (:meth:`search.space.Space.baseline_value`); loss weight 1, weighting
``fixed``, and the space's seed, epochs and patience. Each run lives in the study's experiment,
named ``baseline-<task>`` and tagged ``kind=baseline``, ``task`` and ``study``; it logs what a trial
logs (``val/<task>/<metric>``, ``test/<task>/<metric>``, ``model/model.keras``). The report shows the
latest finished run per task as the single-task reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mtl.data import Dataset, Splits
from mtl.errors import TrialFailed
from mtl.fused import train_stack
from mtl.models import ModelConfig
from mtl.objective import Objective
from mtl.tasks import Task
from mtl.training import TrainConfig
from search.space import BASELINE_KEYS, Space
from search.tracking import BASELINE_KIND, EpochLogger, Tracker
from search.trial._data import prepare_data
from search.trial._run import fixed_params


@dataclass(frozen=True)
class Baseline:
    """A single-task baseline run (``python -m search baselines``): its task, run id and final metrics."""

    task: str
    run_id: str
    val: dict[str, float]  # metric -> value
    test: dict[str, float]


def baseline_settings(space: Space) -> dict[str, Any]:
    """The settings every baseline network of ``space`` is built and trained with."""
    return {name: space.baseline_value(name) for name in BASELINE_KEYS}


def baseline_config(settings: dict[str, Any]) -> ModelConfig:
    """The single-task architecture: ``hard`` sharing over one task is a plain trunk, tower and head."""
    return ModelConfig(
        strategy="hard",
        shared_depth=settings["shared_depth"],
        shared_width=settings["shared_width"] if settings["shared_depth"] else 0,
        tower_depth=settings["tower_depth"],
        tower_width=settings["tower_width"] if settings["tower_depth"] else 0,
        activation=settings["activation"],
        dropout=settings["dropout"],
    )


def single_task(splits: Splits, task: Task) -> Splits:
    """``splits`` with ``task``'s target alone."""

    def one(data: Dataset) -> Dataset:
        return replace(data, y={task.name: data.y[task.name]}, tasks=(task,))

    return Splits(one(splits.train), one(splits.val), one(splits.test))


def run_baselines(space: Space, tracking_uri: str, study_name: str | None = None,
                  printer: Callable[[str], None] = print) -> dict[str, str]:
    """Train and log one baseline per task; print and return task -> MLflow run id."""
    study_name = study_name or space.study.name
    splits = prepare_data(space)
    tracker = Tracker(tracking_uri, study_name)
    tracker.end_orphans(printer)  # a killed earlier run of this command left its baseline RUNNING
    run_ids = {}
    for task in splits.tasks:
        tags = {"study": study_name, "kind": BASELINE_KIND}
        run_ids[task.name] = train_baseline(space, splits, tracker, task, space.study.seed, tags, f"baseline-{task.name}")
        printer(f"{task.name} {run_ids[task.name]}")
    return run_ids


def train_baseline(space: Space, splits: Splits, tracker: Tracker, task: Task, seed: int, tags: dict[str, str],
                   run_name: str, parent_run_id: str | None = None) -> str:
    """Train ``task``'s single-task network (:func:`baseline_config`) with ``seed``; log it as a run; its id.

    The run carries ``tags`` plus ``task``, ``strategy`` and ``state``; it is nested under
    ``parent_run_id`` when given (a comparison's confirmation of the baselines). Raises
    :class:`~mtl.errors.TrialFailed` if the training diverged (the run ends FAILED).
    """
    outcome = train_baselines(space, splits, tracker, task, [seed], [tags], [run_name], parent_run_id)[0]
    if isinstance(outcome, TrialFailed):
        raise outcome
    return outcome


def train_baselines(space: Space, splits: Splits, tracker: Tracker, task: Task, seeds: Sequence[int],
                    tags: Sequence[dict[str, str]], run_names: Sequence[str],
                    parent_run_id: str | None = None) -> list[str | TrialFailed]:
    """:func:`train_baseline` for every seed of ``seeds`` at once, side by side as one stack
    (:func:`mtl.fused.train_stack`; each copy is its lone training); one run each, the first with learning curves.
    Per seed, in order: its run id, or the :class:`~mtl.errors.TrialFailed` of a training that diverged (its run
    ended FAILED; the others go on)."""
    settings = baseline_settings(space)
    metrics = space.objective.metrics
    objective = Objective(None if metrics is None else {task.name: metrics[task.name]}, space.objective.direction)
    train_config = TrainConfig(learning_rate=settings["learning_rate"], batch_size=settings["batch_size"],
                               epochs=space.training.epochs, patience=space.training.patience)
    one = single_task(splits, task)
    running = [tracker.start_trial(parent_run_id, name, {**settings, **fixed_params(space)},
                                   {**tag, "task": task.name, "strategy": "hard", "state": "RUNNING"})
               for tag, name in zip(tags, run_names, strict=True)]
    outcomes: list[str | TrialFailed] = []
    try:
        results = train_stack([baseline_config(settings)] * len(seeds), one, [replace(train_config, seed=s) for s in seeds],
                              objective)
        for index, (run_id, result) in enumerate(zip(list(running), results, strict=True)):
            if isinstance(result, TrialFailed):
                tracker.end(run_id, "FAILED", "FAIL", str(result))
                outcomes.append(result)
            else:
                EpochLogger(tracker, run_id, one.tasks).replay(result.history)
                tracker.log_final_metrics(run_id, result)
                tracker.log_artifacts(run_id, result, one.train, curves=index == 0)  # the seeds share a configuration
                tracker.end(run_id, "FINISHED", "COMPLETE")
                outcomes.append(run_id)
            running.remove(run_id)
    except BaseException as exc:
        for run_id in running:
            tracker.end_after(run_id, exc)
        raise
    return outcomes


def latest_baselines(tracker: Tracker) -> tuple[Baseline, ...]:
    """The latest finished baseline run of each task in the tracker's experiment, by task name."""
    runs = tracker.search_runs(
        [tracker.experiment_id], filter_string=f"tags.kind = '{BASELINE_KIND}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=1000)
    found: dict[str, Baseline] = {}
    for run in runs:
        task = run.data.tags.get("task", "")
        if task in found:
            continue
        split_metrics: dict[str, dict[str, float]] = {"val": {}, "test": {}}
        for key, value in run.data.metrics.items():
            split, _, rest = key.partition("/")
            if split in split_metrics and rest.startswith(f"{task}/"):
                split_metrics[split][rest.removeprefix(f"{task}/")] = value
        found[task] = Baseline(task, run.info.run_id, split_metrics["val"], split_metrics["test"])
    return tuple(found[task] for task in sorted(found))
