"""The strategy-comparison report as plain data: one row per (strategy, weighting) group of trials."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from optuna.trial import FrozenTrial

from mtl.budget import BudgetCurve
from search.affinity import StoredAffinity
from search.compare import Verdict
from search.trial import Baseline

STATES = ("COMPLETE", "PRUNED", "FAIL")
Metrics = dict[str, dict[str, float]]  # task -> metric -> value


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (ddof 1; NaN with fewer than two values) of ``n`` values."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        """The statistics of ``values`` (mean NaN when there are none)."""
        n = len(values)
        return cls(statistics.fmean(values) if n else math.nan, statistics.stdev(values) if n > 1 else math.nan, n)


@dataclass(frozen=True)
class BestTrial:
    """A group's best complete trial: its objective, MLflow run, Optuna parameters and final metrics."""

    number: int
    objective: float
    run_id: str
    params: dict[str, Any]
    val: Metrics
    test: Metrics


@dataclass(frozen=True)
class Repeats:
    """Retrainings of a group's best configuration with further seeds; statistics over the complete ones.

    ``seeds`` and ``run_ids`` list every retraining (failed ones included); ``val`` and ``test``
    hold task -> metric -> :class:`Stat`.
    """

    seeds: tuple[int, ...]
    run_ids: tuple[str, ...]
    failed: int
    objective: Stat
    val: dict[str, dict[str, Stat]]
    test: dict[str, dict[str, Stat]]


@dataclass(frozen=True)
class PartitionRow:
    """One task partition the study tried (canonical ``groups``): its trials, those complete, and their best
    validation objective (None when none completed)."""

    groups: str
    trials: int
    complete: int
    best: float | None


@dataclass(frozen=True)
class GroupRow:
    """The trials of one (strategy, weighting) group: counts by state, time spent, best trial, repeats."""

    strategy: str
    weighting: str
    counts: dict[str, int]  # every name of STATES, zero included
    seconds: float  # sum of the durations of the group's finished trials
    best: BestTrial | None  # None when no trial of the group completed
    repeats: Repeats | None = None
    arm: str | None = None  # the comparison arm whose study these trials are (None outside comparisons)
    step_ms: float | None = None  # median over the group's trials of their typical training step time (ms)

    @property
    def label(self) -> str:
        """The arm, else ``strategy/weighting``, as plots and tables name the group."""
        return self.arm or f"{self.strategy}/{self.weighting}"


@dataclass(frozen=True)
class Report:
    """A study compared by group, best group first; ``trials`` are its finished trials (for the plots)."""

    study_name: str
    direction: Literal["minimize", "maximize"]
    tasks: tuple[str, ...]
    rows: tuple[GroupRow, ...]
    trials: tuple[FrozenTrial, ...]
    pareto: tuple[int, ...] = ()  # Pareto-optimal trial numbers when there is one objective per task
    baselines: tuple[Baseline, ...] = ()  # the single-task reference, when baseline runs exist
    verdict: Verdict | None = None  # a comparison's answer, from its confirmation seeds
    partitions: tuple[PartitionRow, ...] = ()  # the task partitions tried, best first
    affinity: StoredAffinity | None = None  # the study's latest task-affinity run, where there is one
    budgets: dict[str, BudgetCurve] | None = None  # a comparison's arms: expected best validation objective of n trials

    @property
    def compares(self) -> bool:
        """True when the rows are a comparison's arms."""
        return any(row.arm for row in self.rows)

    def metrics(self) -> tuple[str, ...]:
        """Every per-task metric of the best trials, ``normalized_loss`` first."""
        names = {m for row in self.rows if row.best for per_task in row.best.val.values() for m in per_task}
        return tuple(sorted(names, key=lambda m: (m != "normalized_loss", m)))
