"""The strategy-comparison report of a study: which (strategy, weighting) group did best, and how reliably.

:func:`build_report` groups a study's trials; :func:`search.report._repeats.repeat_best` retrains each
group's best configuration with further seeds; :func:`search.report._write.write_report` writes
Markdown, HTML and plots. :func:`run_report` does all of it for a stored study (the CLI's entry).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from search.engines import PARENT_ATTR, RUN_ID_ATTR, load_existing_study, mean_objective, pareto_trials, stored_space
from search.errors import StorageError
from search.report._data import STATES, BestTrial, GroupRow, Report
from search.report._repeats import repeat_best
from search.report._write import write_report
from search.space import Space
from search.stores import local_artifact_root
from search.tracking import Tracker
from search.trial import latest_baselines, prepare_data, resolve_init

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
UNSAMPLED = "unsampled"  # a trial that failed before its strategy was drawn

__all__ = ["Report", "build_report", "group_of", "run_report"]


def _setting(trial: FrozenTrial, space: Space, name: str, default: str) -> str:
    if name in trial.params:
        return str(trial.params[name])
    param = space.params.get(name)
    return str(param.value) if param is not None and param.is_fixed else default


def group_of(trial: FrozenTrial, space: Space) -> tuple[str, str]:
    """The (strategy, weighting) of ``trial``; a setting fixed in the space is not an Optuna parameter."""
    return _setting(trial, space, "strategy", UNSAMPLED), _setting(trial, space, "weighting", "fixed")


def _best(trials: list[FrozenTrial], maximize: bool) -> BestTrial | None:
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    if not complete:
        return None
    best = min(complete, key=lambda t: (-mean_objective(t) if maximize else mean_objective(t), t.number))
    return BestTrial(best.number, mean_objective(best), best.user_attrs.get(RUN_ID_ATTR, ""), dict(best.params),
                     best.user_attrs.get("val", {}), best.user_attrs.get("test", {}))


def _row(strategy: str, weighting: str, trials: list[FrozenTrial], maximize: bool) -> GroupRow:
    counts = Counter(t.state.name for t in trials)
    seconds = sum(t.duration.total_seconds() for t in trials if t.duration is not None)
    return GroupRow(strategy, weighting, {s: counts[s] for s in STATES}, seconds, _best(trials, maximize))


def build_report(study: optuna.Study, space: Space) -> Report:
    """One row per (strategy, weighting) group of the study's finished trials, best group first.

    A group's best trial is its best COMPLETE trial in the study's direction (ties: lowest number),
    by the mean objective over tasks when the study has one objective per task; pruned trials carry
    only a partial value and are never chosen. Running trials are left out.
    """
    maximize = study.directions[0] == StudyDirection.MAXIMIZE
    trials = study.get_trials(deepcopy=True, states=FINISHED)
    groups: dict[tuple[str, str], list[FrozenTrial]] = defaultdict(list)
    for trial in trials:
        groups[group_of(trial, space)].append(trial)
    rows = [_row(strategy, weighting, members, maximize) for (strategy, weighting), members in groups.items()]

    def rank(row: GroupRow) -> tuple[int, float, str, str]:
        value = 0.0 if row.best is None else (-row.best.objective if maximize else row.best.objective)
        return (row.best is None, value, row.strategy, row.weighting)

    tasks = dict.fromkeys(task for t in trials if t.state == TrialState.COMPLETE for task in t.user_attrs.get("val", {}))
    pareto = tuple(t.number for t in pareto_trials(study))
    return Report(study.study_name, "maximize" if maximize else "minimize", tuple(tasks), tuple(sorted(rows, key=rank)),
                  tuple(trials), pareto)


def run_report(study_name: str, storage: str, tracking_uri: str, out_dir: str | Path, repeats: int) -> Path:
    """Report on a stored study: group, retrain each group's best ``repeats`` times, write and log.

    The repeats are child runs of the study's MLflow parent run, and every report file is logged
    under ``report/`` in that run. The latest baseline run per task (``python -m search
    baselines``), where there are any, joins the per-task metrics as the single-task reference.
    Returns the path of ``report.md``.
    """
    study = load_existing_study(study_name, storage, tracking_uri)
    parent = study.user_attrs.get(PARENT_ATTR)
    if parent is None:
        raise StorageError(f"study {study_name!r} has no MLflow parent run; was it created by `python -m search run`?")
    tracker = Tracker(tracking_uri, study_name, local_artifact_root(tracking_uri))
    space = stored_space(study, tracker, parent)
    splits = prepare_data(space)
    sources = resolve_init(space, splits, tracking_uri) if repeats else None
    report = repeat_best(study, space, build_report(study, space), repeats, tracker, splits, sources)
    report = replace(report, baselines=latest_baselines(tracker))
    return write_report(report, out_dir, tracker, parent)[0]
