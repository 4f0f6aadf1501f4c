"""The engines that propose trials: Optuna (studies, samplers, pruners, the sweep loop) and keras-tuner."""

from __future__ import annotations

from search.engines._keras_tuner import run_tuner_sweep
from search.engines._optuna import (
    CAUGHT,
    RUN_ID_ATTR,
    FailureGuard,
    Progress,
    SweepResult,
    finish_sweep,
    mean_objective,
    open_sweep,
    pareto_trials,
    run_sweep,
)
from search.engines._study import BUDGET_ATTR, PARENT_ATTR, load_existing_study, make_sampler, open_study, stored_space
from search.engines._tuner_space import tuner_space

__all__ = [
    "BUDGET_ATTR",
    "CAUGHT",
    "FailureGuard",
    "PARENT_ATTR",
    "Progress",
    "RUN_ID_ATTR",
    "SweepResult",
    "finish_sweep",
    "load_existing_study",
    "make_sampler",
    "mean_objective",
    "open_study",
    "open_sweep",
    "pareto_trials",
    "run_sweep",
    "run_tuner_sweep",
    "stored_space",
    "tuner_space",
]
