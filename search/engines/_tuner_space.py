"""A space file as a keras-tuner search space, conditions included, found by asking ``sample``.

keras-tuner must know every hyperparameter and its conditions before a trial starts: its oracles
only propose values for parameters already in their space, and one first met inside a trial is
given its default (its low end) there. The conditions live only in :func:`search.space.sample`,
so they are read off it rather than restated: ``sample`` is run with chosen answers (no training),
and a discrete parameter whose values change which parameters ``sample`` asks for next is the
parent of those; the child is active for exactly the parent values that made ``sample`` ask for it.
Each child is declared in ``hp.conditional_scope(parent, values)``, nested inside its parent's own
scopes, so keras-tuner draws values only for active parameters.

This assumes what ``sample`` does: each conditional parameter is decided by one earlier choice or
integer parameter (a depth, the strategy), whose every value is tried (milliseconds for the shipped
spaces). Float parameters are not tried as parents: keras-tuner conditions list parent values.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import keras_tuner

from mtl.tasks import Task
from search.space import Param, Space, Suggest, sample

Condition = tuple[str, tuple[Any, ...]]  # (parent name, the parent values that make the child active)


@dataclass(frozen=True)
class TunerSpace:
    """Every parameter ``sample`` can ask for (fixed ones excepted, parents first) and each one's conditions."""

    params: dict[str, Param]
    conditions: dict[str, tuple[Condition, ...]]  # outermost first; absent for unconditional parameters

    def declare(self) -> keras_tuner.HyperParameters:
        """A keras-tuner space with every parameter registered in its conditional scopes."""
        hp = keras_tuner.HyperParameters()
        for param in self.params.values():
            self._retrieve(hp, param)
        return hp

    def suggest(self, hp: keras_tuner.HyperParameters) -> Suggest:
        """The keras-tuner adapter: a trial's value from ``hp``; fixed values as they are, never registered."""

        def suggest(param: Param) -> Any:
            if param.is_fixed:
                return param.value
            value = self._retrieve(hp, param)
            if value is None:
                raise RuntimeError(f"keras-tuner holds {param.name!r} inactive, but sample() asked for it")
            if param.kind in ("int", "float"):
                # keras-tuner 1.4.8 maps a probability of exactly 1 (the Bayesian optimiser's bound) to
                # high + 1 for a log-scaled integer: keep values in range, and the trial's record true.
                value = hp.values[param.name] = min(max(value, param.low), param.high)
            return value

        return suggest

    def _retrieve(self, hp: keras_tuner.HyperParameters, param: Param) -> Any:
        with ExitStack() as scopes:
            for parent, values in self.conditions.get(param.name, ()):
                scopes.enter_context(hp.conditional_scope(parent, list(values)))
            return _hyperparameter(hp, param)


def _hyperparameter(hp: keras_tuner.HyperParameters, param: Param) -> Any:
    """Register (or read) ``param`` in ``hp`` as its keras-tuner equivalent."""
    if param.kind == "choice":
        if isinstance(param.choices[0], bool):
            return hp.Boolean(param.name)
        return hp.Choice(param.name, list(param.choices))
    sampling = "log" if param.log else "linear"
    if param.kind == "int":
        step = int(param.step) if param.step is not None else None
        return hp.Int(param.name, int(param.low), int(param.high), step=step, sampling=sampling)
    return hp.Float(param.name, param.low, param.high, step=param.step, sampling=sampling)


def tuner_space(space: Space, tasks: tuple[Task, ...]) -> TunerSpace:
    """Find every parameter ``sample`` can ask for and the parent values under which it does."""
    params: dict[str, Param] = {}
    parents: dict[str, Condition] = {}

    def explore(answers: Mapping[str, Any]) -> None:
        asked = _asked(space, tasks, answers)
        params.update(asked)
        for name, param in asked.items():
            if name in answers or param.kind == "float":
                continue
            outcomes = {value: _asked(space, tasks, {**answers, name: value}).keys() for value in _values(param)}
            branches: dict[frozenset[str], Any] = {}
            for value, names in outcomes.items():
                branches.setdefault(frozenset(names), value)
            if len(branches) == 1:
                continue  # every value of `name` leads to the same parameters: not a parent
            for child in frozenset.union(*branches) - frozenset.intersection(*branches):
                parents.setdefault(child, (name, tuple(v for v, names in outcomes.items() if child in names)))
            for value in branches.values():  # deeper conditions, under each way `name` can go
                explore({**answers, name: value})
            return

    def scopes(name: str) -> tuple[Condition, ...]:
        if name not in parents:
            return ()
        return (*scopes(parents[name][0]), parents[name])

    explore({})
    return TunerSpace(params, {name: scopes(name) for name in params if name in parents})


def _asked(space: Space, tasks: tuple[Task, ...], answers: Mapping[str, Any]) -> dict[str, Param]:
    """The non-fixed parameters ``sample`` asks for, in order, when answered from ``answers`` (else the first value)."""
    asked: dict[str, Param] = {}

    def suggest(param: Param) -> Any:
        if param.is_fixed:
            return param.value
        asked[param.name] = param
        return answers.get(param.name, param.choices[0] if param.kind == "choice" else param.low)

    sample(space, tasks, suggest)
    return asked


def _values(param: Param) -> list[Any]:
    """Every value of a choice or integer parameter."""
    if param.kind == "choice":
        return list(param.choices)
    return list(range(int(param.low), int(param.high) + 1, int(param.step or 1)))
