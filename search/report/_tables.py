"""What the report says, as tables of strings, so Markdown and HTML render the same content."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mtl.affinity.partitions import partition_score
from mtl.partition import GROUP_SEP, canonical, parse_partition, strategy_partition
from search.report._data import GroupRow, Report, Stat

MISSING = "—"
SINGLE_TASK = "single-task"  # the strategy column of the baseline rows


@dataclass(frozen=True)
class Table:
    """A titled table: a header and rows of cells, all strings."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def number(value: float | None) -> str:
    """A metric as text: four decimals, or a dash when missing."""
    return MISSING if value is None or math.isnan(value) else f"{value:.4f}"


def stat(value: Stat | None) -> str:
    """``mean ± std`` (``mean (n=1)`` for a single value, a dash for none)."""
    if value is None or value.n == 0:
        return MISSING
    return f"{value.mean:.4f} (n=1)" if math.isnan(value.std) else f"{value.mean:.4f} ± {value.std:.4f}"


def _param(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _repeats(row: GroupRow) -> str:
    if row.repeats is None:
        return MISSING
    k = len(row.repeats.seeds)
    return f"{k} ({row.repeats.failed} failed)" if row.repeats.failed else str(k)


def _who(report: Report, row: GroupRow) -> tuple[str, ...]:
    """The columns naming a row: arm, strategy and weighting in a comparison, else strategy and weighting."""
    return (row.arm or MISSING, row.strategy, row.weighting) if report.compares else (row.strategy, row.weighting)


def _who_header(report: Report) -> tuple[str, ...]:
    return ("arm", "strategy", "weighting") if report.compares else ("strategy", "weighting")


def verdict_table(report: Report) -> Table | None:
    """Each arm against the reference per task and on the mean objective; None outside comparisons."""
    verdict = report.verdict
    if verdict is None:
        return None
    rows = []
    for c in verdict.comparisons:
        better, low, high = c.improvement(verdict.minimize)
        rows.append((c.arm, c.reference, c.target, str(c.difference.n), f"{c.arm_failed} / {c.reference_failed}",
                     number(c.difference.mean),
                     f"{number(c.difference.low)} to {number(c.difference.high)}",
                     f"{better:+.1f}% ({low:+.1f} to {high:+.1f}%)", f"{c.difference.p:.3g}", f"{c.p_holm:.3g}", c.word))
    against = " and ".join(verdict.references)
    return Table(f"Verdict: each arm against {against} on the test split (paired seeds of up to {verdict.seeds}, "
                 f"failed seeds scored as the pair's worst, Holm-corrected at {verdict.level:.2g} of alpha {verdict.alpha:g})",
                 ("arm", "reference", "target", "seeds", "failed", "mean difference", "95% CI", "improvement (Fieller CI)", "p",
                  "Holm p", "verdict"),
                 tuple(rows))


def standings_table(report: Report) -> Table | None:
    """Each arm's confirmed test objective (mean ± std over its seeds), best first; None outside comparisons."""
    if report.verdict is None:
        return None
    rows = tuple((s.arm, MISSING if s.trial is None else str(s.trial), str(s.n), stat(Stat(s.mean, s.std, s.n)))
                 for s in report.verdict.standings)
    return Table("Confirmed standings (test objective over the confirmation seeds, best first)",
                 ("arm", "tuning trial confirmed", "seeds", "test objective"), rows)


def groups_table(report: Report) -> Table:
    """One row per group: best trial and objective, trial counts by state, time spent (in all, and per
    training step: a gradient-level method's cost shows there), repeats."""
    rows = tuple(
        (*_who(report, row), str(row.best.number) if row.best else MISSING,
         number(row.best.objective if row.best else None), str(row.counts["COMPLETE"]), str(row.counts["PRUNED"]),
         str(row.counts["FAIL"]), f"{row.seconds:.1f}", MISSING if row.step_ms is None else f"{row.step_ms:.2f}",
         _repeats(row), stat(row.repeats.objective if row.repeats else None),
         row.best.run_id if row.best else MISSING)
        for row in report.rows)
    header = (*_who_header(report), "best trial", "objective", "complete", "pruned", "failed", "time (s)",
              "ms/step", "repeats", "repeats: objective", "MLflow run")
    return Table(f"Groups (objective to {report.direction}, best group first)", header, rows)


def best_metrics_table(report: Report) -> Table:
    """Per-task validation and test metrics of each group's best trial, then of the single-task baselines."""
    metrics = report.metrics()
    rows = tuple(
        (*_who(report, row), task, split,
         *(number(getattr(row.best, split).get(task, {}).get(m)) for m in metrics))
        for row in report.rows if row.best for task in report.tasks for split in ("val", "test"))
    lead = (MISSING, SINGLE_TASK, MISSING) if report.compares else (SINGLE_TASK, MISSING)
    rows += tuple((*lead, b.task, split, *(number(getattr(b, split).get(m)) for m in metrics))
                  for b in report.baselines for split in ("val", "test"))
    title = "Best trial of each group: per-task metrics" + (f" ({SINGLE_TASK}: the baseline runs)" if report.baselines else "")
    return Table(title, (*_who_header(report), "task", "split", *metrics), rows)


def repeat_metrics_table(report: Report) -> Table | None:
    """Per-task mean ± std over each group's repeats; None when nothing was repeated."""
    metrics = report.metrics()
    rows = tuple(
        (*_who(report, row), task, split,
         *(stat(getattr(row.repeats, split).get(task, {}).get(m)) for m in metrics))
        for row in report.rows if row.repeats for task in report.tasks for split in ("val", "test"))
    if not rows:
        return None
    seeds = next(row.repeats.seeds for row in report.rows if row.repeats)
    return Table(f"Repeats of each best configuration (seeds {', '.join(map(str, seeds))}): per-task mean ± std",
                 (*_who_header(report), "task", "split", *metrics), rows)


def params_table(report: Report) -> Table:
    """The Optuna parameters of each group's best trial."""
    rows = tuple((*_who(report, row), str(row.best.number),
                  ", ".join(f"{k}={_param(v)}" for k, v in row.best.params.items()))
                 for row in report.rows if row.best)
    return Table("Parameters of each group's best trial", (*_who_header(report), "trial", "parameters"), rows)


def pareto_table(report: Report) -> Table | None:
    """The Pareto-optimal trials, their strategy and weighting, and each task's objective; None for one objective."""
    if not report.pareto:
        return None
    by_number = {t.number: t for t in report.trials}
    rows = tuple(
        (str(n), str(by_number[n].params.get("strategy", MISSING)), str(by_number[n].params.get("weighting", MISSING)),
         *(number(v) for v in by_number[n].values))
        for n in report.pareto)
    return Table("Pareto-optimal trials (one objective per task)", ("trial", "strategy", "weighting", *report.tasks), rows)


def partitions_table(report: Report) -> Table | None:
    """The task partitions tried, best first, with their affinity score where the study has an affinity run;
    None when fewer than two partitions were tried."""
    if len(report.partitions) < 2:
        return None
    scores = dict(report.affinity.partitions) if report.affinity else {}
    if report.affinity:
        for row in report.partitions:
            if row.groups not in scores and set(report.affinity.tasks) == set(report.tasks):
                partition = parse_partition(row.groups, report.affinity.tasks)
                scores[row.groups] = partition_score(report.affinity.matrix, partition, report.affinity.tasks)
    recommended = report.affinity.partitions[0][0] if report.affinity and report.affinity.partitions else None
    winner = report.partitions[0].groups if report.partitions[0].best is not None else None
    confirmed = _confirmed_partitions(report)
    rows = tuple((row.groups, str(len(row.groups.split(GROUP_SEP))), f"{row.complete}/{row.trials}", number(row.best),
                  number(scores.get(row.groups)), confirmed.get(row.groups, MISSING),
                  _partition_role(row.groups, recommended, winner)) for row in report.partitions)
    return Table("Task partitions tried (which tasks share a trunk; best first)",
                 ("partition", "groups", "complete/trials", "best val objective", "affinity score", "confirmed test objective",
                  "role"), rows)


def _confirmed_partitions(report: Report) -> dict[str, str]:
    """The confirmed test objective (and arm) of each partition an arm's confirmed configuration trains, from the
    verdict's standings: ``{canonical partition: "0.2883 (hard-tied)"}``; the first arm of a partition wins."""
    means = {s.arm: s.mean for s in report.verdict.standings if s.n} if report.verdict else {}
    found: dict[str, str] = {}
    for row in report.rows:
        if row.arm not in means or row.best is None:
            continue
        strategy = row.best.params.get("strategy", row.strategy)
        groups = row.best.params.get("groups")
        partition = strategy_partition(str(strategy), groups, report.tasks)
        if partition is not None:
            found.setdefault(canonical(partition), f"{means[row.arm]:.4f} ({row.arm})")
    return found


def _partition_role(groups: str, recommended: str | None, winner: str | None) -> str:
    """``recommended`` (the affinity pass's first candidate), ``best`` (the best validation objective), both, or ``-``."""
    roles = [name for name, match in (("recommended by affinity", recommended), ("best by validation", winner)) if groups == match]
    return ", ".join(roles) or MISSING


def report_tables(report: Report) -> list[Table]:
    """Every table of the report, in reading order."""
    tables = [verdict_table(report), standings_table(report), groups_table(report), partitions_table(report),
              pareto_table(report), best_metrics_table(report), repeat_metrics_table(report), params_table(report)]
    return [table for table in tables if table is not None]
