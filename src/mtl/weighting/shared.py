"""Which variable is the last one every task output depends on (the "last shared layer")."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from mtl.models.roles import TIED_HEAD


def shared_variables(net: keras.Model, x: np.ndarray | dict[str, np.ndarray]) -> list[keras.Variable]:
    """The trainable variables that every output of ``net`` depends on, in the model's variable order.

    Dependence is structural: the gradient of the output's sum on a few rows of ``x`` (the model's
    inputs: one array, or a dict of named ones) exists.
    Tied output heads count as shared, like trunk layers.
    """
    variables = net.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        outputs = net(_first_rows(x, 8), training=False)
        totals = {name: tf.reduce_sum(out) for name, out in outputs.items()}
    reached = [
        {i for i, g in enumerate(tape.gradient(total, variables)) if g is not None} for total in totals.values()
    ]
    del tape
    return [variables[i] for i in sorted(set.intersection(*reached))]


def _first_rows(x: np.ndarray | dict[str, np.ndarray], n: int) -> tf.Tensor | dict[str, tf.Tensor]:
    """The first ``n`` rows as tensors: float32 features, strings as ``tf.string``."""
    if isinstance(x, dict):
        return {name: tf.convert_to_tensor(values[:n]) for name, values in x.items()}
    return tf.convert_to_tensor(x[:n], dtype="float32")


def last_shared_kernel(net: keras.Model, x: np.ndarray | dict[str, np.ndarray]) -> keras.Variable | None:
    """The last shared variable of the body, else of a tied output head; None if nothing is shared.

    Weight matrices come before other variables (biases, for example) within each group.
    """
    shared = shared_variables(net, x)
    head = {v.path for layer in net.layers if layer.name == TIED_HEAD for v in layer.trainable_variables}
    for group in ([v for v in shared if v.path not in head], shared):
        if group:
            return ([v for v in group if len(v.shape) >= 2] or group)[-1]
    return None
