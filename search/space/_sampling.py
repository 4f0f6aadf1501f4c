"""Turn a space into one trial's concrete values through an engine's suggest API.

``Suggest`` is the only thing an engine adapter provides: given a :class:`Param` it returns a
value. The Optuna adapter lives here; conditions (a width only exists when its depth > 0) are
expressed once, in :func:`sample`, so every engine gets the same define-by-run space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from mtl.models import STRATEGY_OPTIONS, USES_SHARED_STACK, ModelConfig
from mtl.tasks import Task
from search.space._params import Param
from search.space._settings import WEIGHTING_OPTIONS, Space

Suggest = Callable[[Param], Any]


@dataclass(frozen=True)
class Sampled:
    """One trial's architecture, optimiser settings, loss weights, what it freezes and its weighting's options,
    plus every value as a flat dict."""

    model: ModelConfig
    learning_rate: float
    batch_size: int
    weighting: str
    loss_weights: dict[str, float]
    params: dict[str, Any]
    freeze: str = "none"
    weighting_options: dict[str, float] = field(default_factory=dict)


def optuna_suggest(trial: optuna.trial.BaseTrial) -> Suggest:
    """The Optuna define-by-run adapter: fixed values are returned as they are, not suggested."""

    def suggest(param: Param) -> Any:
        if param.kind == "fixed":
            return param.value
        if param.kind == "choice":
            return trial.suggest_categorical(param.name, list(param.choices))
        if param.kind == "int":
            return trial.suggest_int(param.name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log)
        return trial.suggest_float(param.name, param.low, param.high, step=param.step, log=param.log)

    return suggest


def sample(space: Space, tasks: tuple[Task, ...], suggest: Suggest) -> Sampled:
    """Draw every setting of ``space`` for ``tasks`` through ``suggest``."""
    values: dict[str, Any] = {}

    def draw(name: str) -> Any:
        values[name] = suggest(space.params[name])
        return values[name]

    strategy = draw("strategy")
    shared_depth = draw("shared_depth") if strategy in USES_SHARED_STACK else 0
    shared_width = draw("shared_width") if shared_depth > 0 else 0
    options = {name: draw(name) for name in STRATEGY_OPTIONS[strategy] if name in space.params}
    tower_depth = draw("tower_depth")
    tower_width = draw("tower_width") if tower_depth > 0 else 0
    model = ModelConfig(
        strategy=strategy,
        shared_depth=shared_depth,
        shared_width=shared_width,
        tower_depth=tower_depth,
        tower_width=tower_width,
        tie_outputs=draw("tie_outputs"),
        activation=draw("activation"),
        dropout=draw("dropout"),
        options=options,
    )
    learning_rate, batch_size, weighting = draw("learning_rate"), draw("batch_size"), draw("weighting")
    weights = {}
    for task in tasks:
        param = space.loss_weight_for(task.name)
        weights[task.name] = values[param.name] = float(suggest(param))
    freeze = draw("freeze")
    weighting_options = {option: float(draw(name)) for name, (scheme, option) in WEIGHTING_OPTIONS.items()
                         if scheme == weighting and name in space.params}
    return Sampled(model, learning_rate, batch_size, weighting, weights, values, freeze, weighting_options)
