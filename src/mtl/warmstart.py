"""Warm starts: copy weights into a freshly built model by layer role, and freeze parts of it.

Weights come from other models built by the same builders (a multi-task model, or a single-task
``hard`` model of one task), read once into a :class:`Source` (role -> arrays). What goes where:

- a **trunk** source fills the shared trunk (``trunk.<i>`` roles, strategy ``hard``) from its own
  shared trunk;
- a **tower** source for task ``t`` fills ``tower.t.<i>`` and ``head.t``, and, where the model gives
  ``t`` a private trunk (``independent``, the columns of ``cross_stitch``), ``trunk.t.<i>`` from the
  source's private trunk of ``t`` or, failing that, from its shared trunk (a single-task model's own).

Each filled part must have the same layers (by role) and weight shapes in the model and the source;
otherwise a :class:`ConfigError` names the role, the layer and both shapes. Freezing
(:data:`FREEZE`) marks layers non-trainable by role; it must happen before the model is compiled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from mtl.errors import ConfigError
from mtl.models.roles import TIED_HEAD, is_head, layer_roles, task_names

FREEZE = ("none", "trunk", "towers", "all-but-heads")


@dataclass(frozen=True)
class Source:
    """One model's weights by role; ``label`` says where they came from (a run id or a file)."""

    label: str
    tasks: tuple[str, ...]
    weights: Mapping[str, tuple[np.ndarray, ...]]


def read_source(model: keras.Model, label: str) -> Source:
    """The weights of every role of ``model``, copied out as arrays."""
    return Source(label, task_names(model), {role: tuple(layer.get_weights()) for role, layer in layer_roles(model).items()})


def load_source(path: str | Path, label: str) -> Source:
    """Read a saved ``.keras`` model's weights by role; :class:`ConfigError` if the file cannot be loaded."""
    import mtl.models  # noqa: F401  (registers the custom layers a saved model may use)

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for unreadable or foreign files
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{label}: cannot load a Keras model from {path}: {why}") from None
    return read_source(model, label)


@dataclass(frozen=True)
class WarmStart:
    """Where a model's weights start from and which of its layers train.

    ``towers`` maps task names to sources. ``freeze`` is one of :data:`FREEZE`. With
    ``finetune_after`` = N, the frozen layers train again after N epochs, at the learning rate
    times ``finetune_lr_factor``.
    """

    trunk: Source | None = None
    towers: Mapping[str, Source] = field(default_factory=dict)
    freeze: str = "none"
    finetune_after: int | None = None
    finetune_lr_factor: float = 0.1

    def __post_init__(self) -> None:
        """Reject an unknown freeze setting or a non-positive fine-tuning epoch or factor."""
        if self.freeze not in FREEZE:
            raise ConfigError(f"freeze must be one of {', '.join(FREEZE)}, not {self.freeze!r}")
        if self.finetune_after is not None and self.finetune_after < 1:
            raise ConfigError(f"finetune_after must be >= 1 epoch, got {self.finetune_after}")
        if self.finetune_lr_factor <= 0:
            raise ConfigError(f"finetune_lr_factor must be > 0, got {self.finetune_lr_factor}")


def _indexed(roles: Mapping[str, object], prefix: str) -> list[str]:
    """The roles ``<prefix><i>`` in index order."""
    found = [r for r in roles if re.fullmatch(rf"{re.escape(prefix)}\d+", r)]
    return sorted(found, key=lambda r: int(r.rsplit(".", 1)[1]))


def _stack(part: str, source: Source, targets: list[str], sources: list[str]) -> list[tuple[str, str]]:
    """Pair a stack of target roles with a stack of source roles of the same depth."""
    if len(targets) != len(sources):
        raise ConfigError(f"{part} from {source.label}: the model has {len(targets)} layer(s) "
                          f"({', '.join(targets) or 'none'}), the source {len(sources)} ({', '.join(sources) or 'none'})")
    return list(zip(targets, sources))


def _pairs(roles: Mapping[str, keras.layers.Layer], warm: WarmStart) -> list[tuple[str, Source, str]]:
    """(target role, source, source role) for every layer the warm start fills."""
    pairs: list[tuple[str, Source, str]] = []
    if warm.trunk is not None:
        trunk = _indexed(roles, "trunk.")
        if not trunk:
            raise ConfigError(f"trunk from {warm.trunk.label}: the model has no shared trunk "
                              "(only strategy hard with shared_depth > 0 has one)")
        pairs += [(t, warm.trunk, s) for t, s in _stack("trunk", warm.trunk, trunk, _indexed(warm.trunk.weights, "trunk."))]
    for task, source in warm.towers.items():
        part = f"tower of {task}"
        if task not in source.tasks:
            raise ConfigError(f"{part} from {source.label}: the source has no task {task!r} (its tasks: {', '.join(source.tasks)})")
        if f"head.{task}" not in roles:
            raise ConfigError(f"{part} from {source.label}: the model has no task {task!r}")
        if roles[f"head.{task}"].name == TIED_HEAD:
            raise ConfigError(f"{part} from {source.label}: the model's output head is tied (one for every task), "
                              "so no single task's source can fill it")
        tower = _stack(part, source, _indexed(roles, f"tower.{task}."), _indexed(source.weights, f"tower.{task}."))
        own = _indexed(roles, f"trunk.{task}.")
        if own:
            source_trunk = _indexed(source.weights, f"trunk.{task}.") or _indexed(source.weights, "trunk.")
            tower += _stack(f"trunk of {task}", source, own, source_trunk)
        pairs += [(t, source, s) for t, s in [*tower, (f"head.{task}", f"head.{task}")]]
    return pairs


def load_weights(model: keras.Model, warm: WarmStart) -> list[str]:
    """Copy every source's weights into ``model`` by role; return the roles filled.

    Everything is checked before anything is copied: a missing role or a shape mismatch raises
    :class:`ConfigError` and leaves ``model`` untouched.
    """
    roles = layer_roles(model)
    pairs = _pairs(roles, warm)
    for target, source, role in pairs:
        layer = roles[target]
        have, give = [tuple(w.shape) for w in layer.weights], [w.shape for w in source.weights[role]]
        if have != give:
            raise ConfigError(f"layer {layer.name} ({target}) has weight shapes {have}, "
                              f"the source {source.label} has {give} ({role})")
    for target, source, role in pairs:
        roles[target].set_weights(list(source.weights[role]))
    return [target for target, _, _ in pairs]


def freeze(model: keras.Model, what: str) -> list[keras.layers.Layer]:
    """Mark the layers ``what`` names non-trainable (see :data:`FREEZE`); return them.

    ``trunk``: shared and private trunk layers; ``towers``: tower layers; ``all-but-heads``: every
    layer with weights except the output heads.
    """
    if what not in FREEZE:
        raise ConfigError(f"freeze must be one of {', '.join(FREEZE)}, not {what!r}")
    roles = layer_roles(model)
    if what == "none":
        chosen: list[keras.layers.Layer] = []
    elif what == "all-but-heads":
        heads = {id(layer) for role, layer in roles.items() if is_head(role)}
        chosen = [layer for layer in model.layers if layer.trainable_weights and id(layer) not in heads]
    else:
        prefix = "trunk." if what == "trunk" else "tower."
        chosen = [layer for role, layer in roles.items() if role.startswith(prefix)]
    for layer in chosen:
        layer.trainable = False
    return chosen
