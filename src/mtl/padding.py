"""Which configurations of one strategy share a padded stack, and the template configuration they pad to.

Tuning trials differ in widths, depths and dropout; padded, they train as one stacked model
(:mod:`mtl.stacked`). Every hidden width of the template (trunk, towers, experts) is the widest
hidden width of any copy, so that a layer a copy lacks can pass its input through unchanged, and
every depth the deepest. What cannot pad must agree: the strategy, tying, activation, the
strategy's other options (the number of experts, groups, levels), and whether the trunk is
empty (a trunk of depth 0 in one copy and 1 in another would need its first layer to be an
identity from the features' width to the hidden width; towers, which read a hidden width, pad
from depth 0 to any depth, unless the trunk is empty).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace

from mtl.models import ModelConfig
from mtl.models.mmoe import expert_shape

WIDTH_OPTIONS = ("expert_width",)
DEPTH_OPTIONS = ("expert_depth",)


def stack_key(config: ModelConfig) -> Hashable:
    """Configurations with equal keys pad into one stack (with equal training settings: the caller's part)."""
    options = tuple(sorted((k, str(v)) for k, v in config.options.items() if k not in WIDTH_OPTIONS + DEPTH_OPTIONS))
    empty_trunk = config.shared_depth == 0
    return (config.strategy, config.tie_outputs, config.activation, options, empty_trunk,
            config.tower_depth == 0 if empty_trunk else None)


def _hidden_widths(config: ModelConfig) -> list[int]:
    """Every hidden width ``config`` builds with (trunk, towers, experts where the strategy has them)."""
    widths = [w for w, depth in ((config.shared_width, config.shared_depth), (config.tower_width, config.tower_depth)) if depth]
    if config.strategy in ("mmoe", "cgc", "ple"):
        widths.append(expert_shape(config)[1])
    return widths


def padded_config(configs: Sequence[ModelConfig]) -> ModelConfig:
    """The template of ``configs`` (one :func:`stack_key`): every hidden width the widest, every depth the deepest,
    dropout the highest (each copy then drops at its own rate)."""
    if len({stack_key(c) for c in configs}) != 1:
        raise ValueError("configurations of different stack keys do not pad together")
    width = max(w for c in configs for w in _hidden_widths(c) or [1])
    first = configs[0]
    options = dict(first.options)
    if first.strategy in ("mmoe", "cgc", "ple"):
        options["expert_width"] = width
        options["expert_depth"] = max(expert_shape(c)[0] for c in configs)
    return replace(first, shared_width=width, tower_width=width, shared_depth=max(c.shared_depth for c in configs),
                   tower_depth=max(c.tower_depth for c in configs), dropout=max(c.dropout for c in configs), options=options)
