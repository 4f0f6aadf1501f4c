"""The engines that propose trials: Optuna (studies, samplers, pruners, the sweep loop, arms) and keras-tuner."""

from __future__ import annotations

from search.engines._common import CAUGHT
from search.engines._keras_tuner import run_tuner_sweep
from search.engines._optuna import (
    FailureGuard,
    Progress,
    budget_complete,
    crown_champion,
    finish_sweep,
    load_sweep,
    open_sweep,
    run_sweep,
    tune_sweep,
)
from search.engines._study import (
    counted_trials,
    load_existing_study,
    make_sampler,
    open_study,
    stored_space,
)
from search.engines._sweep import (
    ArmStudy,
    OpenSweep,
    SweepResult,
    arm_study_name,
    best_trial,
    mean_objective,
    own_arms,
    pareto_trials,
    replicate_arm_space,
    replicate_seed,
    splits_arms,
)
from search.engines._tuner_space import tuner_space

__all__ = [
    "ArmStudy",
    "CAUGHT",
    "FailureGuard",
    "OpenSweep",
    "Progress",
    "SweepResult",
    "arm_study_name",
    "replicate_arm_space",
    "replicate_seed",
    "best_trial",
    "budget_complete",
    "counted_trials",
    "crown_champion",
    "finish_sweep",
    "load_existing_study",
    "load_sweep",
    "make_sampler",
    "mean_objective",
    "open_study",
    "open_sweep",
    "own_arms",
    "pareto_trials",
    "run_sweep",
    "splits_arms",
    "run_tuner_sweep",
    "stored_space",
    "tune_sweep",
    "tuner_space",
]
