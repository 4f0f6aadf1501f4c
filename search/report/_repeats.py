"""Repeats as the report reads them: the retrainings of each group's best configuration that MLflow holds.

``python -m search repeat`` (:mod:`search.repeats`) trains them; the report only reads them. A trial
``n`` initialises its weights with seed ``study seed + n`` (:func:`search.trial.run_trial`), so repeat
``i`` runs as number ``REPEAT_OFFSET + i``: seed ``study seed + 10_000 + i``, the same seeds for every
group. Each repeat is an MLflow child run of the study's parent run, named ``repeat-<trial>-<i>`` and
tagged ``kind=repeat``, ``repeat_of_trial``, ``repeat_of_run``, ``strategy``, ``weighting`` and
``repeat_seed`` (it has no ``trial_number`` tag); its metrics are a trial's (``val/<task>/<metric>``,
``test/<task>/<metric>``, ``objective``, ...).
"""

from __future__ import annotations

from dataclasses import replace

from mlflow.entities import Run

from search.report._data import Repeats, Report, Stat
from search.space import Space
from search.tracking import PARENT_TAG, REPEAT_KIND, Tracker

REPEAT_OFFSET = 10_000
ENDED = ("FINISHED", "FAILED")  # a KILLED repeat was interrupted: it is trained again


def repeat_seed(space: Space, index: int) -> int:
    """The weight-initialisation seed of repeat ``index``."""
    return space.study.seed + REPEAT_OFFSET + index


def stored_repeats(tracker: Tracker, parent: str) -> dict[int, list[Run]]:
    """The repeat runs under ``parent`` that ended (complete or failed), by the trial they repeat, in seed order."""
    runs = tracker.search_runs([tracker.experiment_id], f"tags.kind = '{REPEAT_KIND}' and tags.`{PARENT_TAG}` = '{parent}'",
                               max_results=5000)
    found: dict[int, list[Run]] = {}
    for run in sorted(runs, key=lambda r: int(r.data.tags["repeat_seed"])):
        if run.info.status in ENDED:
            found.setdefault(int(run.data.tags["repeat_of_trial"]), []).append(run)
    return found


def _complete(run: Run) -> bool:
    return run.info.status == "FINISHED" and run.data.tags.get("state") == "COMPLETE" and "objective" in run.data.metrics


def _stats(runs: list[Run], split: str, tasks: tuple[str, ...]) -> dict[str, dict[str, Stat]]:
    """Task -> metric -> :class:`Stat` over the runs' final ``<split>/<task>/<metric>`` metrics."""
    values: dict[str, dict[str, list[float]]] = {task: {} for task in tasks}
    for run in runs:
        for key, value in sorted(run.data.metrics.items()):
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == split and parts[1] in values:
                values[parts[1]].setdefault(parts[2], []).append(value)
    return {task: {m: Stat.of(v) for m, v in metrics.items()} for task, metrics in values.items() if metrics}


def _repeats(runs: list[Run], tasks: tuple[str, ...]) -> Repeats:
    complete = [r for r in runs if _complete(r)]
    return Repeats(tuple(int(r.data.tags["repeat_seed"]) for r in runs), tuple(r.info.run_id for r in runs),
                   len(runs) - len(complete), Stat.of([r.data.metrics["objective"] for r in complete]),
                   _stats(complete, "val", tasks), _stats(complete, "test", tasks))


def read_repeats(report: Report, tracker: Tracker, parent: str) -> Report:
    """``report`` with the repeats MLflow holds of each group's best configuration (rows without any: unchanged)."""
    stored = stored_repeats(tracker, parent)
    rows = tuple(replace(row, repeats=_repeats(stored[row.best.number], report.tasks))
                 if row.best is not None and row.best.number in stored else row for row in report.rows)
    return replace(report, rows=rows)
