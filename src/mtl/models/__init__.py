"""Model builders: a registry of sharing strategies behind one ``build_model`` entry point."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from mtl.errors import ConfigError
from mtl.models.config import ModelConfig
from mtl.models.hard import hard_body
from mtl.models.heads import add_heads, check_tying
from mtl.tasks import Task

Body = Callable[[keras.KerasTensor, ModelConfig, tuple[Task, ...]], dict[str, keras.KerasTensor]]

STRATEGIES: dict[str, Body] = {"hard": hard_body}


def build_model(
    config: ModelConfig,
    tasks: tuple[Task, ...],
    feature_mean: np.ndarray,
    feature_var: np.ndarray,
    seed: int = 0,
) -> keras.Model:
    """The functional multi-task model: raw features -> standardisation -> strategy body -> task heads.

    ``feature_mean`` / ``feature_var`` are training-split statistics; they live in a
    ``Normalization`` layer so the saved model takes raw features.
    """
    if config.strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {config.strategy!r} (known: {', '.join(sorted(STRATEGIES))})")
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(len(feature_mean),), name="features")
    x = keras.layers.Normalization(mean=feature_mean, variance=np.maximum(feature_var, 1e-12), name="standardize")(inputs)
    features = STRATEGIES[config.strategy](x, config, tasks)
    outputs = add_heads(features, tasks, config.tie_outputs)
    return keras.Model(inputs, outputs, name=f"mtl_{config.strategy}")


__all__ = ["STRATEGIES", "ModelConfig", "build_model", "check_tying"]
