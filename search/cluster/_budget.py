"""The study-wide trial budget, exact across any number of workers.

Optuna's ``n_trials`` counts per process; :class:`StudyBudget` counts the study's complete and
pruned trials plus those running anywhere. A running trial whose worker died would hold a slot of
the budget for ever, so on a storage with heartbeats the budget first fails stale trials (which
retries them) and, when only other workers' running trials fill the budget, waits for them to end
or go stale instead of leaving the study short.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import optuna
from optuna.storages import fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)  # trials that use up the budget
OCCUPYING = (*COUNTED, TrialState.RUNNING)


class BudgetReached(RuntimeError):
    """Raised at a trial's start when other workers already took the study's whole budget."""


def check_budget(study: optuna.Study, trial: optuna.Trial, budget: int) -> None:
    """Raise :class:`BudgetReached` when earlier trials already fill ``budget``.

    The worker does not stop here: :class:`StudyBudget`, run right after, stops it or waits, and a
    worker that waited for a dead worker's trial then runs that trial's retry.
    """
    ahead = study.get_trials(deepcopy=False, states=OCCUPYING)
    if sum(t.number < trial.number for t in ahead) >= budget:
        raise BudgetReached(f"budget of {budget} trials already taken by other workers")


class StudyBudget:
    """Optuna callback: stop the worker once the study's counted plus running trials reach ``budget``.

    ``heartbeats`` says whether the storage records worker heartbeats (see :mod:`search.cluster`).
    """

    def __init__(self, budget: int, heartbeats: bool, printer: Callable[[str], None], poll_seconds: float = 1.0) -> None:
        self.budget, self.heartbeats, self.printer, self.poll_seconds = budget, heartbeats, printer, poll_seconds

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Run after each of this worker's trials."""
        if self.filled(study):
            study.stop()

    def filled(self, study: optuna.Study) -> bool:
        """Whether the budget is taken (True: stop this worker); waits while only other workers' running trials
        fill it on a storage with heartbeats."""
        told = False
        while True:
            if self.heartbeats:
                fail_stale_trials(study)  # a dead worker's trial fails here and its retry is queued
            occupying = study.get_trials(deepcopy=False, states=OCCUPYING)
            running = sum(t.state == TrialState.RUNNING for t in occupying)
            counted = len(occupying) - running
            if counted + running < self.budget:
                return False
            if counted >= self.budget or not self.heartbeats:
                return True
            if not told:
                self.printer(f"budget filled by {running} running trial(s) of other workers: waiting for them to end")
                told = True
            time.sleep(self.poll_seconds)
