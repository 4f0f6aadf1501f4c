"""Repeats: retrain each group's best configuration with further seeds, to see how much of its lead is luck.

A trial ``n`` initialises its weights with seed ``study seed + n`` (:func:`search.trial.run_trial`),
so repeat ``i`` runs as number ``REPEAT_OFFSET + i``: seed ``study seed + 10_000 + i``, the same
seeds for every group. Each repeat is an MLflow child run of the study's parent run, named
``repeat-<trial>-<i>`` and tagged ``kind=repeat``, ``repeat_of_trial``, ``repeat_of_run``,
``strategy``, ``weighting`` and ``repeat_seed`` (it has no ``trial_number`` tag); its metrics
are a trial's (``val/<task>/<metric>``, ``test/<task>/<metric>``, ``objective``, ...).
"""

from __future__ import annotations

from dataclasses import replace

import optuna

from mtl.data import Splits
from mtl.training import TrainResult
from search.engines import CAUGHT
from search.report._data import BestTrial, GroupRow, Repeats, Report, Stat
from search.space import Space, optuna_suggest
from search.tracking import PARENT_ATTR, REPEAT_KIND, Tracker
from search.trial import Sources, TrialContext, run_trial

REPEAT_OFFSET = 10_000


def repeat_seed(space: Space, index: int) -> int:
    """The weight-initialisation seed of repeat ``index``."""
    return space.study.seed + REPEAT_OFFSET + index


def _stats(results: list[TrainResult], split: str) -> dict[str, dict[str, Stat]]:
    first = getattr(results[0], split) if results else {}
    return {task: {m: Stat.of([getattr(r, split)[task][m] for r in results]) for m in metrics}
            for task, metrics in first.items()}


def _repeat_group(ctx: TrialContext, row: GroupRow, best: BestTrial, k: int) -> Repeats:
    """Retrain ``best``'s configuration ``k`` times; a failing retraining is counted, not raised."""
    run_ids: list[str] = []
    results: list[TrainResult] = []
    for index in range(k):
        tags = {"repeat_of_trial": best.number, "repeat_of_run": best.run_id,
                "strategy": row.strategy, "weighting": row.weighting, "repeat_seed": repeat_seed(ctx.space, index)}
        number = REPEAT_OFFSET + index
        suggest = optuna_suggest(optuna.trial.FixedTrial(best.params, number))
        try:
            results.append(run_trial(ctx, number, suggest, on_run=run_ids.append, kind=REPEAT_KIND, tags=tags,
                                     run_name=f"repeat-{best.number:03d}-{index}").result)
        except CAUGHT:
            continue
    seeds = tuple(repeat_seed(ctx.space, i) for i in range(k))
    return Repeats(seeds, tuple(run_ids), k - len(results), Stat.of([r.objective for r in results]),
                   _stats(results, "val"), _stats(results, "test"))


def repeat_best(study: optuna.Study, space: Space, report: Report, k: int, tracker: Tracker, splits: Splits,
                sources: Sources | None = None) -> Report:
    """``report`` with each group's best configuration retrained ``k`` times (``k = 0``: unchanged).

    The configuration is rebuilt exactly from the best trial's parameters (``FixedTrial``) and
    trained on ``splits`` (the study's own split) with seeds :func:`repeat_seed`; groups without a
    complete trial get no repeats. A warm-started space's repeats start from the same ``sources``.
    """
    if k < 0:
        raise ValueError(f"repeats must be >= 0, got {k}")
    if k == 0:
        return report
    ctx = TrialContext(space, splits, tracker, study.user_attrs[PARENT_ATTR], study.study_name, sources=sources)
    rows = tuple(replace(row, repeats=_repeat_group(ctx, row, row.best, k)) if row.best else row for row in report.rows)
    return replace(report, rows=rows)
