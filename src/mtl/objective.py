"""The selection objective: independent of loss weights, comparable across tasks of any scale.

Default: the mean over tasks of (task loss / trivial-baseline loss), lower is better. A baseline
predicts the training mean (regression) or the training class prior (classification), so 1.0
means "no better than the prior" for every task alike. Alternatively one named metric per task,
averaged, with a stated direction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mtl.data import Splits
from mtl.errors import ConfigError
from mtl.tasks import Task

NORMALIZED_LOSS = "normalized_loss"


@dataclass(frozen=True)
class Objective:
    """Which per-task number is scored (``metrics``: task -> metric name) and in which direction."""

    metrics: Mapping[str, str] | None = None
    direction: Literal["minimize", "maximize"] = "minimize"

    def check(self, tasks: tuple[Task, ...]) -> None:
        """Raise :class:`ConfigError` if a named metric does not exist for its task."""
        if self.direction not in ("minimize", "maximize"):
            raise ConfigError(f"objective direction must be minimize or maximize, not {self.direction!r}")
        if self.metrics is None:
            return
        by_name = {t.name: t for t in tasks}
        for task_name, metric in self.metrics.items():
            if task_name not in by_name:
                raise ConfigError(f"objective names unknown task {task_name!r}")
            allowed = ("loss", NORMALIZED_LOSS, *by_name[task_name].metric_names)
            if metric not in allowed:
                raise ConfigError(f"objective: task {task_name!r} has no metric {metric!r} (choose from {', '.join(allowed)})")
        missing = set(by_name) - set(self.metrics)
        if missing:
            raise ConfigError(f"objective names no metric for task(s) {', '.join(sorted(missing))}")

    def metric_for(self, task: Task) -> str:
        """The metric scored for ``task``."""
        return NORMALIZED_LOSS if self.metrics is None else self.metrics[task.name]

    def task_scores(self, per_task: Mapping[str, Mapping[str, float]], tasks: tuple[Task, ...]) -> dict[str, float]:
        """Each task's scored value, from ``{task: {metric: value}}``."""
        return {t.name: float(per_task[t.name][self.metric_for(t)]) for t in tasks}

    def value(self, per_task: Mapping[str, Mapping[str, float]], tasks: tuple[Task, ...]) -> float:
        """The scalar objective: the mean of the task scores."""
        return float(np.mean(list(self.task_scores(per_task, tasks).values())))


def baseline_losses(splits: Splits, on: str = "val") -> dict[str, float]:
    """Trivial-baseline loss per task on split ``on``, using training statistics only (present targets only)."""
    evaluated = getattr(splits, on)
    return {
        t.name: max(t.baseline_loss(_present(splits.train.y[t.name]), _present(evaluated.y[t.name])), 1e-12)
        for t in splits.tasks
    }


def _present(values: np.ndarray) -> np.ndarray:
    present: np.ndarray = values[~np.isnan(values)]
    return present


def per_task_metrics(
    flat: Mapping[str, float], tasks: tuple[Task, ...], baselines: Mapping[str, float], prefix: str = ""
) -> dict[str, dict[str, float]]:
    """Regroup Keras' flat ``{prefix}{task}_{metric}`` logs into ``{task: {metric: value}}``.

    Adds ``normalized_loss`` (loss / baseline loss) for every task.
    """
    grouped: dict[str, dict[str, float]] = {}
    for task in tasks:
        values = {m: float(flat[f"{prefix}{task.name}_{m}"]) for m in ("loss", *task.metric_names)}
        values[NORMALIZED_LOSS] = values["loss"] / baselines[task.name]
        grouped[task.name] = values
    return grouped
