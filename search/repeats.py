"""``python -m search repeat``: retrain each group's best configuration with further seeds, to see how much of its
lead is luck (sweeps that compare nothing: a comparison's confirmation seeds are its repeats).

The repeats are child runs of the study's MLflow parent run (:mod:`search.report._repeats` names their seeds and
tags); repeats MLflow already holds are not trained again. ``python -m search report`` draws them.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pandas as pd

from search.engines import CAUGHT, load_sweep
from search.errors import SpaceError
from search.report import REPEAT_OFFSET, GroupRow, Report, build_report, read_repeats, repeat_seed, stored_repeats
from search.space import optuna_suggest
from search.tracking import PARENT_ATTR, REPEAT_KIND
from search.trial import TrialContext, resolve_init, run_trial


def _repeat(ctx: TrialContext, row: GroupRow, index: int) -> None:
    """Train repeat ``index`` of ``row``'s best configuration; a failing retraining is recorded (its run FAILED), not raised."""
    best = row.best
    assert best is not None
    tags = {"repeat_of_trial": best.number, "repeat_of_run": best.run_id,
            "strategy": row.strategy, "weighting": row.weighting, "repeat_seed": repeat_seed(ctx.space, index)}
    number = REPEAT_OFFSET + index
    suggest = optuna_suggest(optuna.trial.FixedTrial(best.params, number))
    try:
        run_trial(ctx, number, suggest, kind=REPEAT_KIND, tags=tags, run_name=f"repeat-{best.number:03d}-{index}")
    except CAUGHT:
        pass


def repeat_best(ctx: TrialContext, study: optuna.Study, report: Report, k: int) -> Report:
    """Train the repeats ``0 .. k-1`` of each group's best configuration that MLflow does not hold yet; return
    ``report`` with every stored repeat (:func:`search.report.read_repeats`).

    The configuration is rebuilt exactly from the best trial's parameters (``FixedTrial``) and trained on the
    context's splits (the study's own split) with seeds :func:`search.report.repeat_seed`; groups without a complete
    trial get no repeats. A warm-started space's repeats start from the context's sources.
    """
    if k < 0:
        raise ValueError(f"repeats must be >= 0, got {k}")
    parent = study.user_attrs[PARENT_ATTR]
    stored = stored_repeats(ctx.tracker, parent)
    for row in report.rows:
        if row.best is None:
            continue
        done = {int(run.data.tags["repeat_seed"]) for run in stored.get(row.best.number, [])}
        for index in range(k):
            if repeat_seed(ctx.space, index) not in done:
                _repeat(ctx, row, index)
    return read_repeats(report, ctx.tracker, parent)


def run_repeats(study_name: str, storage: str, tracking_uri: str, k: int, printer: Callable[[str], None] = print,
                frame: pd.DataFrame | None = None) -> Report:
    """Repeat each group's best configuration of a stored study ``k`` times (:func:`repeat_best`); say how many
    repeats MLflow now holds."""
    sweep = load_sweep(study_name, storage, tracking_uri, frame)
    space, study = sweep.space, sweep.study
    if sweep.compares:
        raise SpaceError(space.path, "compare.seeds", "a comparison is confirmed with its [compare] seeds; "
                                                      "repeats are for sweeps that compare nothing")
    ctx = TrialContext(space, sweep.splits, sweep.tracker, study.user_attrs[PARENT_ATTR], study.study_name,
                       sources=resolve_init(space, sweep.splits, tracking_uri))
    report = repeat_best(ctx, study, build_report(study, space), k)
    held = [row.repeats for row in report.rows if row.repeats is not None]
    printer(f"{sum(len(r.seeds) for r in held)} repeat(s) of {len(held)} group(s)' best configuration in MLflow "
            f"({sum(r.failed for r in held)} failed)")
    return report
