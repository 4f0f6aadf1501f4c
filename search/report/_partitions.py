"""Which task partitions a study tried and how each did: the report's answer to "which tasks should share".

A trial's partition is its ``groups`` (``grouped``), the one-group partition (``hard``) or one group
per task (``independent``); other strategies do not partition the tasks and are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from mtl.partition import canonical, strategy_partition
from search.engines import mean_objective
from search.report._data import PartitionRow
from search.space import Space


def partition_of(trial: FrozenTrial, space: Space, tasks: tuple[str, ...]) -> str | None:
    """The canonical partition ``trial`` trained (None where its strategy does not partition the tasks)."""
    values = {name: trial.params.get(name, space.params[name].value if name in space.params else None)
              for name in ("strategy", "groups")}
    if not isinstance(values["strategy"], str):  # a trial that failed before its strategy was drawn
        return None
    partition = strategy_partition(values["strategy"], values["groups"], tasks)
    return None if partition is None else canonical(partition)


def partition_rows(trials: Sequence[tuple[FrozenTrial, Space]], tasks: tuple[str, ...], maximize: bool) -> tuple[PartitionRow, ...]:
    """One row per partition tried, best first by its best complete trial's validation objective."""
    if not tasks:
        return ()
    tried: dict[str, list[FrozenTrial]] = defaultdict(list)
    for trial, space in trials:
        partition = partition_of(trial, space, tasks)
        if partition is not None:
            tried[partition].append(trial)
    rows = []
    for partition, members in tried.items():
        complete = [mean_objective(t) for t in members if t.state == TrialState.COMPLETE and t.values]
        best = (max if maximize else min)(complete) if complete else None
        rows.append(PartitionRow(partition, len(members), len(complete), best))
    sign = -1.0 if maximize else 1.0
    return tuple(sorted(rows, key=lambda r: (r.best is None, sign * (r.best or 0.0), r.groups)))
