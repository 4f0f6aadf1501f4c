"""Synthetic multi-task regression in the style of the MMoE paper (Ma et al., KDD 2018, section 3.2).

Each task i has a weight vector w_i = c * (sqrt(p) * u_0 + sqrt(1 - p) * u_i) built from orthonormal
vectors u_0..u_k, so any two tasks' weight vectors have cosine similarity ``p`` (the paper's
construction for two tasks, generalised to k). The label is
    y_i = w_i^T x + sum_j sin(alpha_j * w_i^T x + beta_j) + noise,
so ``correlation`` controls how much the tasks have in common and hence how much sharing helps.

With ``groups`` (a partition of the tasks into clusters, e.g. ``[["task1", "task2"], ["task3"]]``)
u_0 gives way to one shared direction per cluster: from orthonormal vectors v_1..v_m (one per
cluster) and u_1..u_k (one per task), task i in cluster g has
    w_i = c * (sqrt(p) * v_g + sqrt(1 - p) * u_i),
so two tasks in one cluster have cosine similarity ``p`` and two tasks in different clusters are
orthogonal (cosine 0): planted clusters for a strategy that groups tasks to find. One cluster of
every task gives the same data as no ``groups``.

With ``classification = m > 0`` the last m tasks become binary: the label is 1 where the generated
continuous value lies above its median over the generated rows (fixed by the generator, not by any
split), so each binary task is balanced and the data set mixes regression and classification heads.

With ``label_fraction = f < 1`` each task's label is present on a random fraction ``f`` of the rows,
drawn independently per task, and missing (NaN, masked out of that task's loss and metrics) on the
rest: the common case of targets measured on different rows, where a shared trunk learns from
every task's labels and a network of one task only from its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtl.data.dataset import Dataset
from mtl.errors import ConfigError, DataError
from mtl.partition import parse_partition
from mtl.tasks import Task


def task_directions(
    rng: np.random.Generator, n_features: int, clusters: Sequence[int], correlation: float, scale: float
) -> np.ndarray:
    """The tasks' weight vectors w_i, one row per task: task i in cluster g = ``clusters[i]`` (numbered
    from 0) gets ``scale * (sqrt(correlation) * v_g + sqrt(1 - correlation) * u_i)``, where the v's (one
    per cluster) and u's (one per task) are orthonormal, drawn from ``rng``."""
    n_clusters = max(clusters) + 1
    basis, _ = np.linalg.qr(rng.normal(size=(n_features, n_clusters + len(clusters))))
    shared, own = basis[:, :n_clusters], basis[:, n_clusters:]
    weights: np.ndarray = scale * (np.sqrt(correlation) * shared[:, list(clusters)] + np.sqrt(1.0 - correlation) * own)
    return weights.T.copy()  # rows contiguous: x @ weights[i] as before


def make_synthetic(
    n_samples: int = 4000,
    n_features: int = 16,
    n_tasks: int = 2,
    correlation: float = 0.5,
    noise: float = 0.1,
    n_sines: int = 10,
    scale: float = 1.0,
    classification: int = 0,
    label_fraction: float = 1.0,
    groups: str | Sequence[Sequence[str]] | None = None,
    seed: int = 0,
) -> Dataset:
    """Generate the data set; tasks are named ``task1``, ``task2``, ...; all are regression targets
    except the last ``classification``, which are binary (continuous value above its median).

    ``groups`` plants clusters of tasks (a list of task-name lists, or ``"task1+task2|task3"``): related
    within a cluster (cosine ``correlation``), unrelated across; None is one cluster of every task.
    """
    if not 0.0 <= correlation <= 1.0:
        raise DataError(f"synthetic: correlation must lie in [0, 1], got {correlation}")
    if n_tasks < 1 or n_samples < 10:
        raise DataError("synthetic: need n_tasks >= 1 and n_samples >= 10")
    task_names = [f"task{i + 1}" for i in range(n_tasks)]
    if groups is None:
        clusters = [0] * n_tasks
        if n_features < n_tasks + 1:
            raise DataError(f"synthetic: n_features must be at least n_tasks + 1 = {n_tasks + 1}")
    else:
        try:
            partition = parse_partition(groups, task_names)
        except ConfigError as exc:
            raise DataError(f"synthetic: {exc}") from None
        clusters = [next(c for c, group in enumerate(partition) if name in group) for name in task_names]
        if n_features < n_tasks + len(partition):
            raise DataError(f"synthetic: n_features must be at least n_tasks + number of groups = "
                            f"{n_tasks + len(partition)}, got {n_features}")
    if not isinstance(classification, (int, np.integer)) or isinstance(classification, bool) \
            or not 0 <= classification <= n_tasks:
        raise DataError(
            f"synthetic: classification must be an integer in [0, n_tasks = {n_tasks}], got {classification!r}"
        )
    if not 0.0 < label_fraction <= 1.0:
        raise DataError(f"synthetic: label_fraction must lie in (0, 1], got {label_fraction}")
    rng = np.random.default_rng(seed)
    weights = task_directions(rng, n_features, clusters, correlation, scale)
    alpha, beta = rng.normal(size=n_sines), rng.normal(size=n_sines)
    x = rng.normal(size=(n_samples, n_features))
    tasks, y = [], {}
    for i in range(n_tasks):
        z = x @ weights[i]
        target = z + np.sin(np.outer(z, alpha) + beta).sum(axis=1) + noise * rng.normal(size=n_samples)
        if i >= n_tasks - classification:
            task = Task(task_names[i], "binary")
            target = (target > np.median(target)).astype(float)
        else:
            task = Task(task_names[i], "regression")
        tasks.append(task)
        y[task.name] = target.astype("float32")
    if label_fraction < 1.0:
        labels = np.random.default_rng([seed, 1]).random((n_tasks, n_samples)) < label_fraction  # own stream: the rest stays as it was
        labels[~labels.any(axis=1), 0] = True  # no task without a label
        for task, present in zip(tasks, labels, strict=True):
            y[task.name][~present] = np.nan
    names = tuple(f"x{j}" for j in range(n_features))
    return Dataset(x.astype("float32"), y, tuple(tasks), names, missing=label_fraction < 1.0)
