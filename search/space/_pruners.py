"""The pruners a space file can name, and the options each accepts."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import optuna

PRUNERS: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}


def pruner_options(name: str) -> dict[str, Any]:
    """The keyword options pruner ``name`` accepts, with their defaults."""
    return {
        p.name: p.default
        for p in inspect.signature(PRUNERS[name]).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
