"""One trial, engine-agnostic: the space's data, warm starts, sample -> train -> track, single-task baselines."""

from __future__ import annotations

from search.trial._baselines import (
    Baseline,
    baseline_config,
    baseline_settings,
    latest_baselines,
    run_baselines,
    train_baseline,
    train_baselines,
)
from search.trial._data import prepare_data
from search.trial._fused import run_fused
from search.trial._lean import lean_process
from search.trial._run import BestSoFar, TrialContext, TrialOutcome, fixed_params, run_trial, why_not_fused
from search.trial._stacked import BatchTrial, run_batch
from search.trial._warm import Sources, resolve_init, warm_start

__all__ = [
    "Baseline",
    "BatchTrial",
    "BestSoFar",
    "baseline_config",
    "baseline_settings",
    "Sources",
    "TrialContext",
    "TrialOutcome",
    "fixed_params",
    "latest_baselines",
    "lean_process",
    "prepare_data",
    "resolve_init",
    "run_baselines",
    "run_batch",
    "run_fused",
    "run_trial",
    "train_baseline",
    "train_baselines",
    "warm_start",
    "why_not_fused",
]
