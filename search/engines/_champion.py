"""The end of a sweep in MLflow: the best trial's results on the parent run, and its model as the registry's champion."""

from __future__ import annotations

from collections.abc import Callable

from mlflow.exceptions import MlflowException
from optuna.trial import FrozenTrial

from search.errors import StorageError
from search.space import Space
from search.tracking import Tracker, promote

Printer = Callable[[str], None]


def summary_metrics(trial: FrozenTrial, objective: float) -> dict[str, float]:
    """The parent run's summary of ``trial``: ``best_objective`` and, per task, ``best/val/<task>/<metric>``
    and ``best/test/<task>/<metric>`` (so the folded runs view shows the answer without opening a child)."""
    metrics = {"best_objective": objective}
    for split in ("val", "test"):
        for task, values in trial.user_attrs.get(split, {}).items():
            metrics.update({f"best/{split}/{task}/{name}": float(value) for name, value in values.items()})
    return metrics


def crown(tracker: Tracker, parent: str, trial: FrozenTrial, objective: float, space: Space, study_name: str,
          run_id: str | None, printer: Printer, say_kept: bool = True) -> None:
    """Log ``trial``'s summary to the parent run and, unless the space opts out (``[study] register = false``),
    register its model as the ``champion`` of the registered model named ``[study] registered_model``
    (default: the study's name) where it beats the current one (:func:`search.tracking.promote`); print
    where the alias stands (with ``say_kept`` false, only when it moved)."""
    tracker.log_metrics(parent, summary_metrics(trial, objective))
    register_champion(tracker, space, study_name, trial.number, run_id, objective, printer, say_kept)


def register_champion(tracker: Tracker, space: Space, study_name: str, number: int, run_id: str | None, objective: float,
                      printer: Printer, say_kept: bool = True) -> None:
    """Unless the space opts out, make trial ``number``'s model (run ``run_id``) the champion where it beats
    the current one (:func:`crown`'s registry half, for any engine)."""
    if not space.study.register or not run_id:
        return
    name = space.study.registered_model or study_name
    try:
        strategy = tracker.client.get_run(run_id).data.tags.get("strategy", "")
        tags = {"trial": number, "strategy": strategy, "study": study_name, "direction": space.objective.direction}
        promotion = promote(tracker.client, name, run_id, objective, space.objective.direction == "minimize", tags)
    except MlflowException as exc:
        raise StorageError(f"registering the champion as {name!r}: {exc.message.splitlines()[0]}") from None
    if promotion.moved or say_kept:
        printer(promotion.line())
