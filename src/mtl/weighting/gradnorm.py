"""GradNorm: Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for Adaptive Loss Balancing", ICML 2018."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtl.errors import ConfigError
from mtl.weighting.base import Weighting, at_least, stack
from mtl.weighting.shared import last_shared_kernel

log = logging.getLogger(__name__)
MIN_WEIGHT = 1e-3


class GradNormWeighting(Weighting):
    """Weights moved after every step so each task's gradient norm on the last shared kernel W balances.

    With ``G_t = w_t * ||dL_t/dW||``, ``r_t`` the task's loss ratio ``L_t / L_t(0)`` over its mean,
    one gradient step (rate ``lr``) on ``sum_t |G_t - mean(G) * r_t^alpha|`` (target held constant,
    so the step is ``sign(G_t - target_t) * ||dL_t/dW||``), then the weights are floored at 1e-3
    and renormalised to sum to the number of tasks. They start at ``c_t`` so renormalised.
    W is the last weight matrix every task output depends on (:func:`last_shared_kernel`: the
    body's, else a tied output head's); where there is none (``independent``, or ``shared_depth``
    0, without tied heads) GradNorm degenerates to its fixed starting weights, with a warning.
    """

    SCHEME = "gradnorm"
    OPTIONS = {"alpha": 1.5, "lr": 0.025}
    persistent_tape = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        n = len(self.task_names)
        self.current = self.add_weight(shape=(n,), initializer="ones", trainable=False, name="gradnorm_weights")
        self.current.assign(starting_weights(self.constants))
        self.initial_losses = self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="initial_losses")
        self.started = self.add_weight(shape=(), initializer="zeros", trainable=False, name="started")
        self.shared_path: str | None = None

    @classmethod
    def resolve_options(cls, given: Mapping[str, float]) -> dict[str, float]:
        """The options, with alpha >= 0 and a learning rate > 0."""
        options = super().resolve_options(given)
        at_least(cls.SCHEME, options, "alpha", 0.0)
        at_least(cls.SCHEME, options, "lr", 0.0, strict=True)
        return options

    def effective(self) -> tf.Tensor:
        """The current weights."""
        return tf.convert_to_tensor(self.current)

    def setup(self, net: keras.Model, x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Find W, the last shared kernel, or warn that the weights will stay fixed."""
        kernel = last_shared_kernel(net, x)
        self.shared_path = None if kernel is None else kernel.path
        if kernel is None:
            warn_fixed(net.name)

    def update(self, tape: tf.GradientTape, losses: Mapping[str, tf.Tensor], net: keras.Model) -> None:
        """One GradNorm step on the weights from this batch's per-task losses."""
        if self.shared_path is None:
            return
        kernel = next(v for v in net.trainable_variables if v.path == self.shared_path)
        values = stack(losses, self.task_names)
        norms = tf.stack([tf.norm(tape.gradient(losses[n], kernel)) for n in self.task_names])
        self.current.assign(gradnorm_step(self, values, norms))


def warn_fixed(model: str) -> None:
    """Warn that GradNorm's weights stay fixed for ``model``, which shares no weight across all task outputs."""
    log.warning("gradnorm: no weight is shared by all task outputs of %s; the weights stay fixed", model)


def starting_weights(constants: np.ndarray) -> np.ndarray:
    """GradNorm's first weights (tasks on the last axis): ``c_t`` renormalised to sum to the number of tasks;
    :class:`ConfigError` unless every ``c_t`` > 0."""
    if not (constants > 0).all():
        raise ConfigError(f"gradnorm: loss_weights must be > 0 (its starting weights), got {constants.tolist()}")
    weights: np.ndarray = constants * constants.shape[-1] / constants.sum(axis=-1, keepdims=True)
    return weights


def gradnorm_step(weighting: Any, values: tf.Tensor, norms: tf.Tensor) -> tf.Tensor:
    """The next weights (tasks on the last axis) from the batch's losses ``values`` and each task's gradient norm on W,
    ``norms``; the first call's losses become ``weighting``'s initial losses (its ``current``, ``initial_losses``,
    ``started`` and ``options`` are read; the initial losses and the start are set)."""
    initial = tf.where(weighting.started > 0, tf.convert_to_tensor(weighting.initial_losses), values)
    weighting.initial_losses.assign(initial)
    weighting.started.assign(1.0)
    weights = tf.convert_to_tensor(weighting.current)
    grad_norms = weights * norms
    ratios = values / tf.maximum(initial, 1e-12)
    target = (tf.reduce_mean(grad_norms, axis=-1, keepdims=True)
              * (ratios / tf.reduce_mean(ratios, axis=-1, keepdims=True)) ** weighting.options["alpha"])
    stepped = tf.maximum(weights - weighting.options["lr"] * tf.sign(grad_norms - target) * norms, MIN_WEIGHT)
    return stepped * len(weighting.task_names) / tf.reduce_sum(stepped, axis=-1, keepdims=True)
