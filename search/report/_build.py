"""The strategy-comparison report of a study: which (strategy, weighting) group did best, and how reliably.

:func:`build_report` groups a study's trials; :func:`search.report._repeats.read_repeats` adds the retrainings of
each group's best configuration that MLflow holds; :func:`search.report._write.write_report` writes Markdown, HTML
and plots. :func:`run_report` does all of it for a stored study (the CLI's entry). It reads and draws, and trains
nothing: missing confirmations are trained by ``python -m search confirm`` (or ``run``), repeats by ``python -m
search repeat``.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import optuna
import pandas as pd
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from mtl.budget import BudgetCurve, expected_best
from search.affinity import latest_affinity
from search.compare import Verdict, read_confirmations, verdict_of
from search.engines import ArmStudy, OpenSweep, load_sweep, mean_objective, pareto_trials
from search.report._data import STATES, BestTrial, GroupRow, Report
from search.report._partitions import partition_rows
from search.report._repeats import read_repeats
from search.report._write import write_report
from search.space import Space
from search.tracking import RUN_ID_ATTR, STEP_MS_ATTR
from search.trial import latest_baselines

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
    steps = [float(t.user_attrs[STEP_MS_ATTR]) for t in trials if STEP_MS_ATTR in t.user_attrs]
    return GroupRow(strategy, weighting, {s: counts[s] for s in STATES}, seconds, _best(trials, maximize),
                    step_ms=statistics.median(steps) if steps else None)


def _arm_row(arm: ArmStudy, maximize: bool) -> GroupRow:
    """One arm's row: its study's finished trials; strategy and weighting as the arm holds them (else ``searched``)."""
    trials = arm.study.get_trials(deepcopy=True, states=FINISHED)
    held = {name: str(arm.space.params[name].value) if arm.space.params[name].is_fixed else "searched"
            for name in ("strategy", "weighting")}
    return replace(_row(held["strategy"], held["weighting"], trials, maximize), arm=arm.label)


def budget_curves(arms: Sequence[ArmStudy], maximize: bool) -> dict[str, BudgetCurve]:
    """Each arm's budget curve (:func:`mtl.budget.expected_best`) over its COMPLETE tuning trials' (mean) validation
    objective: what n trials per arm would have found, n = 1..N, without retraining anything; one curve per replicate
    (keyed by :attr:`~search.engines.ArmStudy.label`)."""
    return {arm.label: expected_best([mean_objective(t) for t in arm.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))],
                                     minimize=not maximize) for arm in arms}


def build_report(study: optuna.Study, space: Space, arms: Sequence[ArmStudy] = (), verdict: Verdict | None = None) -> Report:
    """One row per (strategy, weighting) group of the study's finished trials, best group first.

    A group's best trial is its best COMPLETE trial in the study's direction (ties: lowest number),
    by the mean objective over tasks when the study has one objective per task; pruned trials carry
    only a partial value and are never chosen. Running trials are left out. A comparison has one
    row per arm (its own study), ranked by the verdict's confirmed test objective, not by a tuning trial,
    and each arm's budget curve (:func:`budget_curves`).
    """
    maximize = study.directions[0] == StudyDirection.MAXIMIZE
    if arms:
        rows = [_arm_row(arm, maximize) for arm in arms]
        pairs = [(t, arm.space) for arm in arms for t in arm.study.get_trials(deepcopy=True, states=FINISHED)]
        trials = [t for t, _ in pairs]
    else:
        trials = study.get_trials(deepcopy=True, states=FINISHED)
        pairs = [(t, space) for t in trials]
        groups: dict[tuple[str, str], list[FrozenTrial]] = defaultdict(list)
        for trial in trials:
            groups[group_of(trial, space)].append(trial)
        rows = [_row(strategy, weighting, members, maximize) for (strategy, weighting), members in groups.items()]
    standing = {s.arm: i for i, s in enumerate(verdict.standings)} if verdict else {}

    def rank(row: GroupRow) -> tuple[int, float, str, str]:
        if row.arm in standing:
            return (0, standing[row.arm], row.strategy, row.weighting)
        value = 0.0 if row.best is None else (-row.best.objective if maximize else row.best.objective)
        return (row.best is None, value, row.strategy, row.weighting)

    tasks = dict.fromkeys(task for t in trials if t.state == TrialState.COMPLETE for task in t.user_attrs.get("val", {}))
    pareto = tuple(t.number for t in pareto_trials(study)) if not arms else ()
    return Report(study.study_name, "maximize" if maximize else "minimize", tuple(tasks), tuple(sorted(rows, key=rank)),
                  tuple(trials), pareto, verdict=verdict, partitions=partition_rows(pairs, tuple(tasks), maximize),
                  budgets=budget_curves(arms, maximize) if arms else None)


def stored_verdict(sweep: OpenSweep, printer: Callable[[str], None] = print) -> Verdict | None:
    """The verdict on the confirmations MLflow holds (None where no arm has one); a line names the arms without any
    and the command that trains them."""
    confirmed = read_confirmations(sweep)
    missing = list(dict.fromkeys(c.arm for c in confirmed if not c.scores and not c.failed))
    if missing:
        printer(f"no confirmation in MLflow for arm(s) {', '.join(missing)}: `python -m search confirm --study "
                f"{sweep.study.study_name}` trains them")
    if all(not c.scores and not c.failed for c in confirmed):
        return None
    return verdict_of(sweep, confirmed)


def run_report(study_name: str, storage: str, tracking_uri: str, out_dir: str | Path,
               printer: Callable[[str], None] = print, frame: pd.DataFrame | None = None) -> Path:
    """Report on a stored study as it stands: group, add the stored repeats, write and log. Trains nothing.

    A comparison's report opens with its verdict on the confirmations MLflow holds (:func:`stored_verdict`). The
    repeats ``python -m search repeat`` trained are drawn beside each group's best. Every report file is logged
    under ``report/`` in the sweep's parent run. The latest baseline run per task (``python -m search
    baselines``), where there are any, joins the per-task metrics as the single-task reference.
    Returns the path of ``report.md``.
    """
    sweep = load_sweep(study_name, storage, tracking_uri, frame)
    space, tracker, parent, study = sweep.space, sweep.tracker, sweep.parent_run_id, sweep.study
    verdict = stored_verdict(sweep, printer) if sweep.compares else None
    report = build_report(study, space, sweep.arms if sweep.compares else (), verdict)
    report = read_repeats(report, tracker, parent)
    report = replace(report, baselines=latest_baselines(tracker), affinity=latest_affinity(tracker))
    return write_report(report, out_dir, tracker, parent)[0]
