"""The engines that propose trials: Optuna (studies, samplers, pruners, the sweep loop, arms) and keras-tuner."""

from __future__ import annotations

from search.engines._keras_tuner import run_tuner_sweep
from search.engines._optuna import (
    ARMS_ATTR,
    CAUGHT,
    RUN_ID_ATTR,
    STEP_MS_ATTR,
    WORKER_ATTR,
    ArmStudy,
    FailureGuard,
    OpenSweep,
    Progress,
    SweepResult,
    arm_study_name,
    best_trial,
    crown_champion,
    finish_sweep,
    load_sweep,
    mean_objective,
    open_sweep,
    pareto_trials,
    run_sweep,
    tune_sweep,
)
from search.engines._study import (
    BUDGET_ATTR,
    PARENT_ATTR,
    counted_trials,
    load_existing_study,
    make_sampler,
    open_study,
    stored_space,
)
from search.engines._tuner_space import tuner_space

__all__ = [
    "ARMS_ATTR",
    "ArmStudy",
    "BUDGET_ATTR",
    "CAUGHT",
    "FailureGuard",
    "OpenSweep",
    "PARENT_ATTR",
    "Progress",
    "RUN_ID_ATTR",
    "STEP_MS_ATTR",
    "WORKER_ATTR",
    "SweepResult",
    "arm_study_name",
    "best_trial",
    "counted_trials",
    "crown_champion",
    "finish_sweep",
    "load_existing_study",
    "load_sweep",
    "make_sampler",
    "mean_objective",
    "open_study",
    "open_sweep",
    "pareto_trials",
    "run_sweep",
    "run_tuner_sweep",
    "stored_space",
    "tune_sweep",
    "tuner_space",
]
