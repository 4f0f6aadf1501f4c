"""Candidate task partitions from an affinity matrix: one per number of groups.

A partition's score is the affinity each task receives from the other members of its group,
averaged within the group and summed over tasks:

    score(P) = sum_j mean_{i in g(j), i != j} A[i, j]     (a task alone in its group adds 0)

The mean (not the sum) keeps large groups from winning by their number of pairs alone. For each
number of groups k = 1..T the candidate is the k-group partition of highest score: found exactly
by enumerating every set partition for T <= ``EXHAUSTIVE_UP_TO`` tasks (Bell(8) = 4,140
partitions), beyond that by greedy agglomeration (start from singletons; repeatedly merge the two
groups whose merge gives the highest score; the partition after each merge is that k's candidate).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from mtl.partition import Partition

EXHAUSTIVE_UP_TO = 8


def partition_score(matrix: np.ndarray, partition: Partition, tasks: Sequence[str]) -> float:
    """The score above of ``partition`` under ``matrix`` (rows and columns in ``tasks`` order)."""
    index = {t: i for i, t in enumerate(tasks)}
    score = 0.0
    for group in partition:
        members = [index[t] for t in group]
        for j in members:
            others = [matrix[i, j] for i in members if i != j and np.isfinite(matrix[i, j])]
            score += float(np.mean(others)) if others else 0.0
    return score


def candidate_partitions(matrix: np.ndarray, tasks: Sequence[str]) -> list[Partition]:
    """The best partition for each number of groups from 1 to T, in that order, canonically ordered."""
    if len(tasks) <= EXHAUSTIVE_UP_TO:
        best: dict[int, tuple[float, Partition]] = {}
        for partition in _set_partitions(tuple(tasks)):
            score = partition_score(matrix, partition, tasks)
            k = len(partition)
            if k not in best or score > best[k][0]:
                best[k] = (score, partition)
        order = {t: i for i, t in enumerate(tasks)}
        return [_ordered(list(best[k][1]), order) for k in sorted(best)]
    return sorted(_agglomerate(matrix, tasks), key=len)


def _set_partitions(tasks: tuple[str, ...]) -> Iterator[Partition]:
    """Every partition of ``tasks`` (each group's tasks in order; the groups in no particular order)."""
    if not tasks:
        yield ()
        return
    first, rest = tasks[0], tasks[1:]
    for smaller in _set_partitions(rest):
        yield ((first,), *smaller)
        for i in range(len(smaller)):
            yield (*smaller[:i], (first, *smaller[i]), *smaller[i + 1:])


def _agglomerate(matrix: np.ndarray, tasks: Sequence[str]) -> list[Partition]:
    """Greedy merging from singletons; the partition at every number of groups."""
    order = {t: i for i, t in enumerate(tasks)}
    current: list[tuple[str, ...]] = [(t,) for t in tasks]
    found = [_ordered(current, order)]
    while len(current) > 1:
        options = []
        for a in range(len(current)):
            for b in range(a + 1, len(current)):
                merged = [g for k, g in enumerate(current) if k not in (a, b)] + [current[a] + current[b]]
                options.append((partition_score(matrix, tuple(merged), tasks), merged))
        current = max(options, key=lambda option: option[0])[1]
        found.append(_ordered(current, order))
    return found


def _ordered(groups: list[tuple[str, ...]], order: dict[str, int]) -> Partition:
    """Tasks in task order within each group, groups by their first task."""
    inner = [tuple(sorted(g, key=order.__getitem__)) for g in groups]
    return tuple(sorted(inner, key=lambda g: order[g[0]]))
