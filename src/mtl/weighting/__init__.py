"""Multi-task loss weighting: a registry of schemes, the training wrapper and its epoch callback."""

from __future__ import annotations

from collections.abc import Mapping

from mtl.errors import ConfigError
from mtl.tasks import Task
from mtl.weighting.aggregator import GradientAggregator
from mtl.weighting.aligned import AlignedMtlWeighting
from mtl.weighting.base import Weighting, draw_seed
from mtl.weighting.cagrad import CaGradWeighting
from mtl.weighting.callback import WEIGHT_PREFIX, WeightLogger
from mtl.weighting.dwa import DwaWeighting, dwa_weights
from mtl.weighting.famo import FamoWeighting
from mtl.weighting.fixed import FixedWeighting
from mtl.weighting.gradnorm import GradNormWeighting
from mtl.weighting.imtl import ImtlGWeighting
from mtl.weighting.mgda import MgdaWeighting
from mtl.weighting.mgda_ub import MgdaUbWeighting
from mtl.weighting.pcgrad import PCGradWeighting
from mtl.weighting.rlw import RlwWeighting
from mtl.weighting.shared import last_shared_kernel, shared_variables
from mtl.weighting.trainer import WeightedTrainer
from mtl.weighting.uncertainty import UncertaintyWeighting
from mtl.weighting.upgrad import UpgradWeighting

# loss-level schemes, then gradient-level ones (GradientAggregator): a space's ``weighting`` names either
WEIGHTINGS: dict[str, type[Weighting]] = {
    "fixed": FixedWeighting,
    "uncertainty": UncertaintyWeighting,
    "dwa": DwaWeighting,
    "gradnorm": GradNormWeighting,
    "famo": FamoWeighting,
    "rlw": RlwWeighting,
    "pcgrad": PCGradWeighting,
    "mgda": MgdaWeighting,
    "mgda_ub": MgdaUbWeighting,
    "cagrad": CaGradWeighting,
    "imtl_g": ImtlGWeighting,
    "aligned_mtl": AlignedMtlWeighting,
    "upgrad": UpgradWeighting,
}


def check_weighting(name: str, options: Mapping[str, float]) -> None:
    """Raise :class:`ConfigError` for an unknown scheme, or an option it lacks or a value out of range."""
    if name not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting {name!r} (known: {', '.join(WEIGHTINGS)})")
    WEIGHTINGS[name].resolve_options(options)


def make_weighting(
    name: str, tasks: tuple[Task, ...], constants: Mapping[str, float], options: Mapping[str, float], seed: int = 0
) -> Weighting:
    """A fresh weighting ``name`` over ``tasks`` with constants c_t and its options (defaults filled in), for a
    training with ``seed`` (the seed of its random draws, if any)."""
    check_weighting(name, options)
    return WEIGHTINGS[name](tasks, constants, options, seed=seed)


__all__ = [
    "WEIGHTINGS",
    "WEIGHT_PREFIX",
    "AlignedMtlWeighting",
    "CaGradWeighting",
    "DwaWeighting",
    "FamoWeighting",
    "FixedWeighting",
    "GradNormWeighting",
    "GradientAggregator",
    "ImtlGWeighting",
    "MgdaUbWeighting",
    "MgdaWeighting",
    "PCGradWeighting",
    "RlwWeighting",
    "UncertaintyWeighting",
    "UpgradWeighting",
    "WeightLogger",
    "WeightedTrainer",
    "Weighting",
    "check_weighting",
    "draw_seed",
    "dwa_weights",
    "last_shared_kernel",
    "make_weighting",
    "shared_variables",
]
