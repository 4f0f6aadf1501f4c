"""FAMO: Liu, Liang, Liu, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
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
        self.logits, self.first_moment, self.second_moment, self.steps = famo_state(self, (len(self.task_names),))

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
        return famo_loss(self.effective(), stack(losses, self.task_names))

    def after_step(self, before: tf.Tensor, after: tf.Tensor) -> None:
        """One Adam step on the logits from the fall of each task's log-loss on this batch."""
        famo_step(self.logits, self.first_moment, self.second_moment, self.steps, before, after, self.options)


def famo_state(layer: keras.layers.Layer, shape: tuple[int, ...]) -> tuple[keras.Variable, ...]:
    """FAMO's state on ``layer``, tasks on the last axis of ``shape``: the logits xi, Adam's two moments, the step count."""
    made = [layer.add_weight(shape=shape, initializer="zeros", trainable=False, name=f"famo_{name}") for name in ("logits", "m", "v")]
    return (*made, layer.add_weight(shape=(), initializer="zeros", trainable=False, name="famo_steps"))


def famo_loss(weights: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """``sum_t w_t log L_t / C`` over the tasks (the last axis) whose loss ``values`` are not 0, summed over any
    leading axis (the copies of a stack: each its own C)."""
    weights = tf.where(values > 0, weights, tf.zeros_like(values))
    scale = tf.stop_gradient(tf.reduce_sum(weights / (values + EPSILON), axis=-1))
    return tf.reduce_sum(tf.math.divide_no_nan(tf.reduce_sum(weights * tf.math.log(values + EPSILON), axis=-1), scale))


def famo_step(logits: keras.Variable, first_moment: keras.Variable, second_moment: keras.Variable, steps: keras.Variable,
              before: tf.Tensor, after: tf.Tensor, options: Mapping[str, float]) -> None:
    """One Adam step on the logits (tasks on the last axis) from the fall of each task's log-loss, ``before`` to
    ``after`` the optimiser's step; a task whose loss was 0 keeps its logit."""
    active = before > 0
    values = tf.convert_to_tensor(logits)
    exp = tf.where(active, tf.exp(values - tf.reduce_max(values, axis=-1, keepdims=True)), tf.zeros_like(values))
    z = tf.math.divide_no_nan(exp, tf.reduce_sum(exp, axis=-1, keepdims=True))  # softmax over the tasks with a loss
    delta = tf.math.log(before + EPSILON) - tf.math.log(after + EPSILON)
    gradient = z * (delta - tf.reduce_sum(z * delta, axis=-1, keepdims=True)) + options["gamma"] * values
    gradient = tf.where(active, gradient, tf.zeros_like(gradient))
    steps.assign_add(1.0)
    first_moment.assign(BETA_1 * first_moment + (1.0 - BETA_1) * gradient)
    second_moment.assign(BETA_2 * second_moment + (1.0 - BETA_2) * gradient**2)
    first = first_moment / (1.0 - BETA_1**steps)
    second = second_moment / (1.0 - BETA_2**steps)
    logits.assign_sub(options["lr"] * first / (tf.sqrt(second) + ADAM_EPSILON))
