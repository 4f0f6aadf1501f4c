"""Multi-gate mixture of experts (Ma et al., KDD 2018): shared experts, one softmax gate per task.

Also home of the pieces the PLE builders reuse: the :class:`GatedSum` layer, expert stacks,
gated mixtures and the integer option reader.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from mtl.errors import ConfigError
from mtl.models.config import ModelConfig
from mtl.models.layers import dense_stack
from mtl.tasks import Task

MMOE_OPTIONS: dict[str, tuple[type, object]] = {"n_experts": (int, 4), "expert_depth": (int, 1), "expert_width": (int, 32)}


@keras.saving.register_keras_serializable(package="mtl")
class GatedSum(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Weighted sum of expert outputs: ``call([gate, e_0, ..., e_{n-1}])`` returns ``sum_k gate[:, k] * e_k``.

    ``gate`` is (batch, n) and each expert output (batch, width); the layer has no weights.
    """

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        """Check that the gate has one weight per expert and that all experts share a shape."""
        gate_shape, *expert_shapes = input_shape
        if gate_shape[-1] != len(expert_shapes):
            raise ConfigError(f"{self.name}: gate of width {gate_shape[-1]} over {len(expert_shapes)} experts")
        if len({tuple(s[1:]) for s in expert_shapes}) != 1:
            raise ConfigError(f"{self.name}: experts of unlike shapes {expert_shapes}")
        self.built = True

    def call(self, inputs: list[keras.KerasTensor]) -> keras.KerasTensor:
        """Mix the experts with the gate's weights."""
        gate, *experts = inputs  # (..., n) and n of (..., width): any leading axes (batch, or batch and copy)
        return ops.sum(ops.expand_dims(gate, -1) * ops.stack(experts, axis=-2), axis=-2)

    def compute_output_shape(self, input_shape: list[tuple[int | None, ...]]) -> tuple[int | None, ...]:
        """The shape of one expert's output."""
        return tuple(input_shape[1])

    def get_config(self) -> dict[str, Any]:
        """The base layer config: the layer has no arguments of its own."""
        config: dict[str, Any] = super().get_config()
        return config


def int_option(config: ModelConfig, name: str, default: object, minimum: int) -> int:
    """``config.options[name]`` (``default`` when absent), checked to be an integer of at least ``minimum``."""
    value = config.options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{config.strategy}: option {name!r} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def expert_shape(config: ModelConfig) -> tuple[int, int]:
    """``(expert_depth, expert_width)`` from the options; the width defaults to ``shared_width`` (32 if that is 0)."""
    depth = int_option(config, "expert_depth", MMOE_OPTIONS["expert_depth"][1], 1)
    width = int_option(config, "expert_width", config.shared_width or MMOE_OPTIONS["expert_width"][1], 1)
    return depth, width


def experts(x: keras.KerasTensor, config: ModelConfig, count: int, prefix: str) -> list[keras.KerasTensor]:
    """``count`` expert stacks over ``x``, expert ``k`` made of Dense layers ``{prefix}_{k}_{i}``."""
    depth, width = expert_shape(config)
    return [dense_stack(x, depth, width, config.activation, config.dropout, f"{prefix}_{k}") for k in range(count)]


def gated_mixture(
    x: keras.KerasTensor, expert_outputs: list[keras.KerasTensor], gate_name: str, mix_name: str
) -> keras.KerasTensor:
    """A softmax gate named ``gate_name`` over ``x`` weighting ``expert_outputs``, summed by ``mix_name``."""
    gate = keras.layers.Dense(len(expert_outputs), activation="softmax", name=gate_name)(x)
    return GatedSum(name=mix_name)([gate, *expert_outputs])


def mmoe_body(x: keras.KerasTensor, config: ModelConfig, tasks: tuple[Task, ...]) -> dict[str, keras.KerasTensor]:
    """``n_experts`` experts ``expert_<k>_<i>``; per task a gate ``gate_<task>``, mixture ``mix_<task>`` and tower."""
    shared = experts(x, config, int_option(config, "n_experts", MMOE_OPTIONS["n_experts"][1], 1), "expert")
    return {
        t.name: dense_stack(
            gated_mixture(x, shared, f"gate_{t.name}", f"mix_{t.name}"),
            config.tower_depth,
            config.tower_width,
            config.activation,
            config.dropout,
            f"tower_{t.name}",
        )
        for t in tasks
    }
