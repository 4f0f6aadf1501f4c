"""The end of a sweep in MLflow: the best trial's results on the parent run, and its model as the registry's champion.

A sweep that compares nothing crowns its best trial where it beats the current champion's
validation objective (:func:`search.tracking.promote`). A comparison crowns the verdict's first arm
(:attr:`search.compare.Verdict.best`, the best mean confirmed test objective), and the version is
that arm's tuning trial, the very configuration every confirmation seed retrained: its Logged Model
is kept whatever ``[tracking] log_models`` says, it stays the same run however many seeds a resume
adds, and it was chosen on validation data alone (a confirmation seed picked as the one closest to
the arm's median would be chosen by its test score). The version carries the verdict
(:func:`verdict_tags`) and its sentences as description; the alias moves only when the confirmed
ranking puts another arm or trial first (:func:`search.tracking.promote_confirmed`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mlflow.exceptions import MlflowException
from optuna.trial import FrozenTrial

from search.engines._common import Printer
from search.errors import StorageError
from search.space import Space
from search.tracking import Promotion, Tracker, promote, promote_confirmed

if TYPE_CHECKING:  # search.compare imports the engines
    from search.compare import Verdict

MAX_TEXT = 5000  # MLflow's SQL stores keep a version's tag values and description in 5000 characters


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

    def register() -> Promotion:
        strategy = tracker.get_run(run_id).data.tags.get("strategy", "")
        tags = {"trial": number, "strategy": strategy, "study": study_name, "direction": space.objective.direction}
        return promote(tracker, name, run_id, objective, space.objective.direction == "minimize", tags)

    _say(_registered(name, register), printer, say_kept)


def verdict_tags(verdict: Verdict, space: Space, study_name: str, trial: FrozenTrial, objective: float,
                 strategy: str) -> dict[str, str]:
    """The champion version's tags in a comparison: ``study``, ``arm``, ``strategy``, ``held.<setting>`` for each
    setting the arm holds, ``trial``, ``val_objective`` (the tuning trial's, ``objective``), the confirmed test objective over the
    seeds every ranked arm has (``test_objective_mean``, ``test_objective_sd``, ``test_objective_n``,
    ``test_objective_failed``), ``reference_arm``, ``direction`` and ``seeds`` (the seeds planned per arm); with
    replicates, ``replicate`` (0: the crowned trial is replicate 0's tuning trial of the arm; the confirmed test
    objective is then the mean of the replicates' means) and ``replicates``."""
    best = verdict.best
    if best is None or space.compare is None:
        raise ValueError("a verdict without a confirmed arm crowns nothing")
    standing = next(s for s in verdict.standings if s.arm == best)
    held = {f"held.{key}": str(value) for key, value in space.compare.arm(best).held.items()}
    return {"study": study_name, "arm": best, "strategy": strategy, **held, "trial": str(trial.number),
            "val_objective": repr(float(objective)),
            "test_objective_mean": repr(standing.mean), "test_objective_sd": repr(standing.std),
            "test_objective_n": str(standing.n), "test_objective_failed": str(standing.failed),
            "reference_arm": verdict.reference, "direction": space.objective.direction, "seeds": str(verdict.seeds),
            **({"replicate": "0", "replicates": str(verdict.replicates)} if verdict.replicates > 1 else {})}


def crown_confirmed(tracker: Tracker, parent: str, trial: FrozenTrial, objective: float, verdict: Verdict, space: Space,
                    study_name: str, run_id: str | None, printer: Printer, say_kept: bool = True) -> None:
    """A comparison's end: the verdict's first arm's tuning ``trial`` (validation ``objective``) summarised on the
    parent run and, unless the
    space opts out, its model the champion carrying the verdict (:func:`verdict_tags`; description: the verdict's
    sentences), moved only when the confirmed ranking puts another arm or trial first."""
    best = next(s for s in verdict.standings if s.arm == verdict.best)
    tracker.log_metrics(parent, summary_metrics(trial, objective))
    if not space.study.register or not run_id:
        return
    name = space.study.registered_model or study_name

    def register() -> Promotion:
        strategy = tracker.get_run(run_id).data.tags.get("strategy", "")
        tags = {k: v[:MAX_TEXT] for k, v in verdict_tags(verdict, space, study_name, trial, objective, strategy).items()}
        return promote_confirmed(tracker, name, run_id, tags, "\n".join(verdict.sentences())[:MAX_TEXT], best.mean)

    _say(_registered(name, register), printer, say_kept)


def _registered(name: str, register: Callable[[], Promotion]) -> Promotion:
    """``register()``, an MLflow error turned into a :class:`~search.errors.StorageError` naming ``name``."""
    try:
        return register()
    except MlflowException as exc:
        raise StorageError(f"registering the champion as {name!r}: {exc.message.splitlines()[0]}") from None


def _say(promotion: Promotion, printer: Printer, say_kept: bool) -> None:
    """Print where the alias stands (where it stayed, only with ``say_kept``)."""
    if promotion.moved or say_kept:
        printer(promotion.line())
