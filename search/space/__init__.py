"""Space files: a TOML file loaded into a typed, validated :class:`Space`, and one trial's values sampled from it."""

from __future__ import annotations

from search.space._arms import RESERVED_ARM, Arm, CompareSettings
from search.space._file import load_space, parse_space
from search.space._groups import wants_affinity, with_candidates
from search.space._params import Param
from search.space._pruners import PRUNERS, pruner_options
from search.space._sampling import Sampled, Suggest, optuna_suggest, sample
from search.space._settings import BASELINE_KEYS, Space

__all__ = [
    "RESERVED_ARM",
    "Arm",
    "BASELINE_KEYS",
    "CompareSettings",
    "PRUNERS",
    "Param",
    "Sampled",
    "Space",
    "Suggest",
    "load_space",
    "optuna_suggest",
    "parse_space",
    "pruner_options",
    "sample",
    "wants_affinity",
    "with_candidates",
]
