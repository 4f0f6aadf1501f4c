"""Model builders: a registry of sharing strategies behind one ``build_model`` entry point."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np

from mtl.errors import ConfigError
from mtl.models.config import ModelConfig
from mtl.models.cross_stitch import CROSS_STITCH_OPTIONS, cross_stitch_body
from mtl.models.grouped import GROUPED_OPTIONS, grouped_body
from mtl.models.hard import hard_body
from mtl.models.heads import add_heads, check_tying
from mtl.models.independent import independent_body
from mtl.models.inputs import encoded_inputs
from mtl.models.mmoe import MMOE_OPTIONS, mmoe_body
from mtl.models.ple import CGC_OPTIONS, PLE_OPTIONS, cgc_body, ple_body
from mtl.tasks import Task

Body = Callable[[keras.KerasTensor, ModelConfig, tuple[Task, ...]], dict[str, keras.KerasTensor]]

STRATEGIES: dict[str, Body] = {
    "hard": hard_body,
    "independent": independent_body,
    "mmoe": mmoe_body,
    "cgc": cgc_body,
    "ple": ple_body,
    "cross_stitch": cross_stitch_body,
    "grouped": grouped_body,
}

# Per strategy, its ``ModelConfig.options`` as name -> (type, default); the space loader makes them searchable.
# (MMoE/PLE's ``expert_width`` falls back to ``shared_width`` when that is non-zero, else to the 32 listed here.)
STRATEGY_OPTIONS: dict[str, dict[str, tuple[type, object]]] = {
    "hard": {},
    "independent": {},
    "mmoe": MMOE_OPTIONS,
    "cgc": CGC_OPTIONS,
    "ple": PLE_OPTIONS,
    "cross_stitch": CROSS_STITCH_OPTIONS,
    "grouped": GROUPED_OPTIONS,
}

# Strategies built from the shared Dense stack (shared_depth x shared_width); the expert-based
# ones (mmoe, cgc, ple) size their experts with their own options instead.
USES_SHARED_STACK = frozenset({"hard", "independent", "cross_stitch", "grouped"})


def build_model(
    config: ModelConfig,
    tasks: tuple[Task, ...],
    feature_mean: np.ndarray,
    feature_var: np.ndarray,
    seed: int = 0,
    missing: Sequence[int] | None = None,
    vocabularies: Mapping[str, Sequence[str]] | None = None,
) -> keras.Model:
    """The functional multi-task model: raw features -> encoding -> strategy body -> task heads.

    ``feature_mean`` / ``feature_var`` are training-split statistics of the numeric features; they
    live in a ``Normalization`` layer so the saved model takes raw features. ``missing`` (impute
    NaN, indicators for the listed columns) and ``vocabularies`` (categorical inputs) are described
    in :mod:`mtl.models.inputs`.
    """
    if config.strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {config.strategy!r} (known: {', '.join(sorted(STRATEGIES))})")
    keras.utils.set_random_seed(seed)
    inputs, x = encoded_inputs(feature_mean, feature_var, missing, vocabularies)
    features = STRATEGIES[config.strategy](x, config, tasks)
    outputs = add_heads(features, tasks, config.tie_outputs)
    return keras.Model(inputs, outputs, name=f"mtl_{config.strategy}")


__all__ = ["STRATEGIES", "STRATEGY_OPTIONS", "USES_SHARED_STACK", "ModelConfig", "build_model", "check_tying"]
