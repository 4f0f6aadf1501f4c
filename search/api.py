"""The Python API for notebooks: run a space (optionally on a data frame in memory) and read the result back.

Everything logs exactly as ``python -m search run`` does (Optuna study, MLflow parent and child
runs, the report); stores default to the embedded ones under ``mlruns/``. Bad input raises the
project's exceptions (:class:`~search.errors.SpaceError`, :class:`~search.errors.StorageError`,
:class:`~mtl.errors.DataError`) with the one-line messages the CLI prints.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from search.affinity import AffinityRun, run_affinity
from search.compare import Verdict, read_confirmations, verdict_of
from search.engines import ArmStudy, best_trial, load_sweep
from search.errors import StorageError
from search.pipeline import REPORTS, run_pipeline
from search.space import Space, load_space
from search.stores import default_storage, default_tracking_uri
from search.tracking import RUN_ID_ATTR, Tracker, download_model
from search.trial import prepare_data


@dataclass(frozen=True)
class Result:
    """A sweep as stored: its study (for a comparison, the host study and each arm's), MLflow parent run and answer."""

    space: Space
    study: optuna.Study
    parent_run_id: str
    storage: str
    tracking_uri: str
    arms: tuple[ArmStudy, ...] = ()
    verdict: Verdict | None = None  # a comparison's answer; None for a sweep that compares nothing
    report: Path | None = None  # ``report.md``, when one was written

    @property
    def best(self) -> FrozenTrial | None:
        """The best complete trial: the sweep's, or for a comparison the best tuning trial of the verdict's best arm."""
        if not self.arms:
            return best_trial(self.study)
        arm = next((a for a in self.arms if self.verdict and a.name == self.verdict.best), None)
        return best_trial(arm.study) if arm else None

    @property
    def best_run_id(self) -> str | None:
        """The MLflow run of :attr:`best` (None without one)."""
        best = self.best
        return None if best is None else best.user_attrs.get(RUN_ID_ATTR)

    def trials_dataframe(self) -> pd.DataFrame:
        """Optuna's trials table; for a comparison every arm's trials, with an ``arm`` column first."""
        if not self.arms:
            return self.study.trials_dataframe()
        frames = [a.study.trials_dataframe().assign(arm=a.name) for a in self.arms]
        frame = pd.concat(frames, ignore_index=True)
        return frame[["arm", *(c for c in frame.columns if c != "arm")]]

    def load_model(self) -> keras.Model:
        """The Keras model :attr:`best` logged to MLflow (custom layers registered by :mod:`mtl`)."""
        run_id = self.best_run_id
        if run_id is None:
            raise StorageError(f"study {self.study.study_name!r} has no complete trial with a logged model")
        with tempfile.TemporaryDirectory() as folder:
            path, _ = download_model(self.tracking_uri, run_id, folder)
            return keras.models.load_model(path)


def run(space: Space | str | Path, study: str | None = None, data: pd.DataFrame | None = None, *,
        trials: int | None = None, timeout: float | None = None, seed: int | None = None, storage: str | None = None,
        tracking_uri: str | None = None, report: bool = True, printer: Callable[[str], None] = print) -> Result:
    """Run (or resume) a sweep of ``space`` as ``python -m search run`` does, and return its result.

    ``data`` is a table in memory used in place of the file ``[data] source`` names (the space's
    ``[[data.tasks]]`` name its target columns; the same checks apply). A comparison space tunes
    every arm, confirms and judges, so :attr:`Result.verdict` holds the answer. ``report`` writes
    ``reports/<study>/`` and logs it to the parent run.
    """
    space = space if isinstance(space, Space) else load_space(space)
    if seed is not None:
        space = space.with_seed(seed)
    outcome = run_pipeline(space, study, storage, tracking_uri, trials, timeout, frame=data,
                           reports=REPORTS if report else None, printer=printer)
    sweep = outcome.sweep
    return Result(space, sweep.study, sweep.parent_run_id, sweep.storage, sweep.tracking_uri,
                  sweep.arms if sweep.compares else (), outcome.verdict, outcome.report)


def task_affinity(space: Space | str | Path, study: str | None = None, data: pd.DataFrame | None = None, *,
                  seed: int | None = None, tracking_uri: str | None = None, printer: Callable[[str], None] = print) -> AffinityRun:
    """Measure which tasks help each other, as ``python -m search affinity`` does: one logged run (tag
    ``kind=affinity``) in the study's experiment; its matrix, candidate partitions and run id.

    ``data`` is a table in memory used in place of the file ``[data] source`` names.
    """
    space = space if isinstance(space, Space) else load_space(space)
    if seed is not None:
        space = space.with_seed(seed)
    tracking_uri = tracking_uri or default_tracking_uri()
    name = study or space.study.name
    return run_affinity(space, prepare_data(space, frame=data), Tracker(tracking_uri, name),
                        name, printer=printer)


def load(study: str, storage: str | None = None, tracking_uri: str | None = None, data: pd.DataFrame | None = None) -> Result:
    """A stored sweep's result, read back from its stores (the verdict as its confirmation runs give it).

    ``data`` is the data frame the sweep ran on, where it ran on one (its tasks are read from it).
    """
    storage, tracking_uri = storage or default_storage(), tracking_uri or default_tracking_uri()
    sweep = load_sweep(study, storage, tracking_uri, frame=data)
    verdict = verdict_of(sweep, read_confirmations(sweep)) if sweep.compares else None
    return Result(sweep.space, sweep.study, sweep.parent_run_id, storage, tracking_uri,
                  sweep.arms if sweep.compares else (), verdict)
