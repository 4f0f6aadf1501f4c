"""A sweep's parts, engine-free of the loop: the arms' studies and replicates, the open sweep, the result, and
reading a study's best trials."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from mtl.data import Splits
from search.space import Space
from search.tracking import MEAN_ATTR, Tracker
from search.trial import Sources, prepare_data


@dataclass(frozen=True)
class ArmStudy:
    """The study one arm is tuned in, with the space it searches; ``name`` is None for a sweep that compares nothing.

    With ``[compare] replicates``, an arm has one study per ``replicate``, each on that replicate's ``splits``
    (None: the sweep's, replicate 0's)."""

    name: str | None
    space: Space
    study: optuna.Study
    replicate: int = 0
    splits: Splits | None = None

    @property
    def label(self) -> str:
        """How lines and metrics name it: the arm's name, with ``/r<replicate>`` from replicate 1 on."""
        return f"{self.name}/r{self.replicate}" if self.replicate else str(self.name)


REPLICATE_STRIDE = 1000  # replicate r's seeds are the space's seed + r * this


def replicate_seed(space: Space, replicate: int) -> int:
    """The seed of replicate ``replicate``: its outer split, its tuning's sampler and (+ an offset) its confirmation
    seeds; replicate 0 is the space's seed, so one replicate is the comparison as it always was."""
    return space.study.seed + REPLICATE_STRIDE * replicate


def replicate_arm_space(space: Space, arm: str, replicate: int) -> Space:
    """The space ``arm`` searches in ``replicate``: its seed (trials' and confirmations' training seeds, the sampler's)
    moved by the replicate's offset from the arm's own (:meth:`~search.space.Space.arm_space`)."""
    own = space.arm_space(arm)
    return own.with_seed(own.study.seed + REPLICATE_STRIDE * replicate) if replicate else own


def arm_study_name(study_name: str, arm: str, replicate: int = 0) -> str:
    """The Optuna study an arm of comparison ``study_name`` is tuned in (for ``replicate``)."""
    return f"{study_name}/{arm}" + (f"/r{replicate}" if replicate else "")


def replicate_splits(space: Space, splits: Splits, frame: pd.DataFrame | None) -> tuple[Splits, ...]:
    """Every replicate's splits: replicate 0's are ``splits``, each later one's rows re-cut with its seed."""
    count = space.compare.replicates if space.compare is not None else 1
    return (splits, *(prepare_data(space, frame=frame, split_seed=replicate_seed(space, r)) for r in range(1, count)))


@dataclass(frozen=True)
class SweepResult:
    """The study after the sweep, its parent MLflow run, and its best trial (None if none completed).

    For a comparison, ``study`` is the host study, ``best`` is None and ``arms`` holds each arm's study.
    """

    study: optuna.Study
    parent_run_id: str
    best: FrozenTrial | None
    arms: tuple[ArmStudy, ...] = ()

    @property
    def pareto(self) -> list[FrozenTrial]:
        """The non-dominated trials of a study with one objective per task (empty otherwise)."""
        return pareto_trials(self.study)


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Optuna's Pareto-optimal trials of a multi-objective study, by number; empty for one objective."""
    return sorted(study.best_trials, key=lambda t: t.number) if len(study.directions) > 1 else []


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial, or None; with one objective per task, the Pareto trial of best mean objective."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    if len(study.directions) == 1:
        return study.best_trial
    pick = min if study.directions[0] == optuna.study.StudyDirection.MINIMIZE else max
    return pick(pareto_trials(study), key=lambda t: t.user_attrs[MEAN_ATTR])


def mean_objective(trial: FrozenTrial) -> float:
    """The mean objective over tasks of a complete trial (its value when there is one objective)."""
    return float(trial.user_attrs.get(MEAN_ATTR, trial.values[0]))


@dataclass(frozen=True)
class OpenSweep:
    """A sweep ready to run: its data, study, tracker and MLflow parent run."""

    space: Space
    splits: Splits
    study: optuna.Study
    tracker: Tracker
    parent_run_id: str
    budget: int
    storage: str
    tracking_uri: str
    sources: Sources | None = None
    arms: tuple[ArmStudy, ...] = ()
    frame: pd.DataFrame | None = None  # the table in memory, where the data came as a data frame

    @property
    def compares(self) -> bool:
        """True when the sweep tunes several arms."""
        return self.space.compare is not None


def splits_arms(space: Space, jobs: int) -> bool:
    """True when ``jobs`` processes tune a comparison's arms apart, each process its own arms
    (:func:`own_arms`): a comparison with at least ``jobs`` arms, ``jobs`` > 1."""
    return space.compare is not None and 1 < jobs <= len(space.arm_names)


def own_arms(sweep: OpenSweep, worker: int, jobs: int) -> tuple[ArmStudy, ...]:
    """The arms process ``worker`` of ``jobs`` tunes: every ``jobs``-th from its own index where the
    arms are split (:func:`splits_arms`), else all of them in turn."""
    return sweep.arms[worker::jobs] if splits_arms(sweep.space, jobs) else sweep.arms
