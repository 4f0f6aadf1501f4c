"""FAMO: Liu, Liang, Liu, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from mtl.weighting.base import Weighting, at_least, stack

EPSILON = 1e-8  # the authors' offset inside the logarithms (their minimum losses are 0)
BETA_1, BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-8


class FamoWeighting(Weighting):
    """FAMO: weights ``z = softmax(xi)`` on the log-losses, the logits xi learnt so every task's log-loss falls at the same rate.

    The training loss is ``sum_t c_t z_t log L_t / C`` with ``C = sum_t c_t z_t / L_t`` held
    constant, so its gradient ``sum_t (c_t z_t / (C L_t)) grad L_t`` has weights summing to 1.
    After each step the batch's losses are computed again and, with ``delta_t = log L_t(before) -
    log L_t(after)``, xi moves along ``-(grad_xi z^T delta + gamma xi)``: as the authors' code, by
    Adam (rate ``lr``, decay ``gamma`` added to the gradient, PyTorch's defaults otherwise), from
    xi = 0. The logged weights are ``c_t z_t``. A task whose batch loss is 0 (no labelled row)
    is left out of that step's loss and its logit does not move.
    """

    SCHEME = "famo"
    OPTIONS = {"lr": 0.025, "gamma": 1e-3}
    relooks = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shape = (len(self.task_names),)
        self.logits = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="famo_logits")
        self.first_moment = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="famo_m")
        self.second_moment = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="famo_v")
        self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False, name="famo_steps")

    @classmethod
    def resolve_options(cls, given: Mapping[str, float]) -> dict[str, float]:
        """The options, with a learning rate > 0 and a decay >= 0."""
        options = super().resolve_options(given)
        at_least(cls.SCHEME, options, "lr", 0.0, strict=True)
        at_least(cls.SCHEME, options, "gamma", 0.0)
        return options

    def effective(self) -> tf.Tensor:
        """``c_t z_t``."""
        return self.constants * tf.nn.softmax(tf.convert_to_tensor(self.logits))

    def combine(self, losses: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """``sum_t c_t z_t log L_t / C`` over the tasks with a non-zero loss."""
        values = stack(losses, self.task_names)
        weights = tf.where(values > 0, self.effective(), tf.zeros_like(values))
        scale = tf.stop_gradient(tf.reduce_sum(weights / (values + EPSILON)))
        return tf.math.divide_no_nan(tf.reduce_sum(weights * tf.math.log(values + EPSILON)), scale)

    def after_step(self, before: tf.Tensor, after: tf.Tensor) -> None:
        """One Adam step on the logits from the fall of each task's log-loss on this batch."""
        active = before > 0
        logits = tf.convert_to_tensor(self.logits)
        exp = tf.where(active, tf.exp(logits - tf.reduce_max(logits)), tf.zeros_like(logits))
        z = tf.math.divide_no_nan(exp, tf.reduce_sum(exp))  # softmax over the tasks with a loss
        delta = tf.math.log(before + EPSILON) - tf.math.log(after + EPSILON)
        gradient = z * (delta - tf.reduce_sum(z * delta)) + self.options["gamma"] * logits
        gradient = tf.where(active, gradient, tf.zeros_like(gradient))
        self.steps.assign_add(1.0)
        self.first_moment.assign(BETA_1 * self.first_moment + (1.0 - BETA_1) * gradient)
        self.second_moment.assign(BETA_2 * self.second_moment + (1.0 - BETA_2) * gradient**2)
        first = self.first_moment / (1.0 - BETA_1**self.steps)
        second = self.second_moment / (1.0 - BETA_2**self.steps)
        self.logits.assign_sub(self.options["lr"] * first / (tf.sqrt(second) + ADAM_EPSILON))
