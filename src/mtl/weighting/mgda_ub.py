"""MGDA-UB: Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018, section 3.3."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtl.errors import ConfigError
from mtl.models.roles import layer_roles
from mtl.weighting.aggregator import GradientAggregator
from mtl.weighting.mgda import min_norm_weights

REPRESENTATION = "__representation__"


def representation_layer(net: keras.Model) -> keras.layers.Layer | None:
    """The last layer of the shared trunk (role ``trunk.<i>``, highest ``i``), whose output every task reads; None without one."""
    trunk = {int(role.split(".")[1]): layer for role, layer in layer_roles(net).items()
             if role.count(".") == 1 and role.startswith("trunk.")}
    return trunk[max(trunk)] if trunk else None


def required_representation(net: keras.Model) -> keras.layers.Layer:
    """:func:`representation_layer`, or a :class:`~mtl.errors.ConfigError` saying MGDA-UB needs one."""
    layer = representation_layer(net)
    if layer is None:
        raise ConfigError(f"mgda_ub: model {net.name} has no shared trunk to take the representation from "
                          "(use strategy hard with shared_depth >= 1, or mgda)")
    return layer


class MgdaUbWeighting(GradientAggregator):
    """MGDA-UB: MGDA's min-norm weights from the task gradients on the shared representation Z.

    The upper bound of the paper's Theorem 1: the Gram matrix comes from the gradients of each
    ``c_t L_t`` on Z, the output of the last shared trunk layer for the batch (B x width numbers per
    task, one backward pass each through the towers only), not on the shared parameters. The shared
    variables are then updated with the gradient of ``sum_t c_t w_t L_t`` (one backward pass),
    the task-specific ones with that of ``sum_t c_t L_t``, as the paper's Algorithm 2. It needs a
    shared trunk (``hard``, or ``grouped`` with one group, ``shared_depth`` >= 1): any other model
    is a :class:`~mtl.errors.ConfigError` in :meth:`setup`. Tasks without a labelled row have a zero
    gradient and weight 0.
    """

    SCHEME = "mgda_ub"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.captured: dict[str, tf.Tensor] = {}  # the step's representation, set by forward, read by gradients

    def setup(self, net: keras.Model, x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Find the representation and build the model that also returns it (same layers, same variables)."""
        super().setup(net, x)
        layer = required_representation(net)
        outputs = {**dict(zip(net.output_names, net.outputs)), REPRESENTATION: layer.output}
        # not tracked as a sub-layer: its variables are net's, which the trainer already holds
        object.__setattr__(self, "probe", keras.Model(net.input, outputs, name=f"{net.name}_with_representation"))

    def forward(self, net: keras.Model, x: Any, training: bool) -> dict[str, tf.Tensor]:
        """The predictions, through the probe so the representation is on the step's tape."""
        outputs = dict(self.probe(x, training=training))
        self.captured[REPRESENTATION] = outputs.pop(REPRESENTATION)
        return outputs

    def gradients(
        self, tape: tf.GradientTape, losses: Mapping[str, tf.Tensor], total: tf.Tensor, variables: list[keras.Variable]
    ) -> list[tf.Tensor | None]:
        """Min-norm weights from the representation's gradients; the weighted loss's gradient on the shared
        variables, ``total``'s on the others."""
        z = self.captured.pop(REPRESENTATION)
        rows = [tape.gradient(losses[n], z, unconnected_gradients=tf.UnconnectedGradients.ZERO) for n in self.task_names]
        _, weights = self.aggregate(self.constants[:, None] * tf.stack([tf.reshape(r, [-1]) for r in rows]))
        self.current.assign(self.constants * weights)
        shared = [v for v in variables if v.path in self.shared_paths]
        others = [v for v in variables if v.path not in self.shared_paths]
        coefficients = tf.unstack(self.constants * weights)  # one backward pass for sum_t c_t w_t L_t
        weighted = tape.gradient([losses[n] for n in self.task_names], shared, output_gradients=coefficients,
                                 unconnected_gradients=tf.UnconnectedGradients.ZERO)
        by_path = dict(zip((v.path for v in shared), weighted))
        by_path.update(zip((v.path for v in others), tape.gradient(total, others)))
        return [by_path[v.path] for v in variables]

    def combination(self, gram: tf.Tensor) -> tf.Tensor:
        """The min-norm weights of the representation gradients."""
        return min_norm_weights(gram)
