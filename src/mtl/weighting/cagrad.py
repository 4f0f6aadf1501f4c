"""CAGrad: Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021."""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from mtl.errors import ConfigError
from mtl.weighting.aggregator import GradientAggregator, mean_of_present, present
from mtl.weighting.base import at_least

MAX_ITERATIONS = 1000
TOLERANCE = 1e-9


def simplex_projection(values: tf.Tensor, active: tf.Tensor) -> tf.Tensor:
    """The Euclidean projection of ``values`` onto the simplex over the ``active`` entries (the others 0)."""
    tasks = values.shape[0]
    masked = tf.where(active, values, tf.reduce_min(values) - 1e6 * (1.0 + tf.reduce_max(tf.abs(values))))
    ordered = tf.sort(masked, direction="DESCENDING")
    excess = (tf.cumsum(ordered) - 1.0) / tf.range(1, tasks + 1, dtype=values.dtype)
    count = tf.reduce_sum(tf.cast(ordered > excess, "int32"))
    shift = excess[tf.maximum(count, 1) - 1]
    return tf.where(active, tf.maximum(values - shift, 0.0), tf.zeros_like(values))


def cagrad_weights(gram: tf.Tensor, c: float) -> tf.Tensor:
    """The weights of CAGrad's direction ``(g_0 + c |g_0| g_w / |g_w|) / (1 + c^2)`` (``gram``: the gradients' Gram matrix).

    g_0 is the mean gradient and ``g_w = sum_t w_t g_t`` with w on the simplex minimising
    ``g_w . g_0 + c |g_0| |g_w|`` (the paper's dual problem), over the tasks with a non-zero gradient.
    The authors solve it with SLSQP; here projected gradient descent from the uniform mix, each step
    ``1 / L`` with L the objective's curvature bound at the current point (``c |g_0| lambda_max / |g_w|``),
    until w moves by less than 1e-9 or after 1000 steps. The division by ``1 + c^2`` is the authors'
    default rescaling; ``c = 0`` gives the mean gradient.
    """
    active = present(gram)
    mean = mean_of_present(gram)
    toward_mean = tf.linalg.matvec(gram, mean)  # g_t . g_0
    radius = c * tf.sqrt(tf.maximum(tf.tensordot(mean, toward_mean, 1), 0.0))  # c |g_0|
    largest = tf.reduce_max(tf.linalg.eigvalsh(gram))

    def norm_of(weights: tf.Tensor) -> tf.Tensor:
        """``|g_w|``."""
        return tf.sqrt(tf.maximum(tf.tensordot(weights, tf.linalg.matvec(gram, weights), 1), 0.0))

    def step(i: tf.Tensor, weights: tf.Tensor, moved: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """One projected gradient step."""
        norm = norm_of(weights)
        slope = toward_mean + radius * tf.math.divide_no_nan(tf.linalg.matvec(gram, weights), norm)
        new = simplex_projection(weights - tf.math.divide_no_nan(slope * norm, radius * largest), active)
        return i + 1, new, tf.reduce_max(tf.abs(new - weights))

    _, weights, _ = tf.while_loop(
        lambda i, _, moved: tf.logical_and(i < MAX_ITERATIONS, moved > TOLERANCE),
        step,
        (tf.constant(0), mean, tf.constant(1.0, gram.dtype)),
    )
    return (mean + tf.math.divide_no_nan(radius, norm_of(weights)) * weights) / (1.0 + c**2)


class CaGradWeighting(GradientAggregator):
    """CAGrad: the direction within ``c |g_0|`` of the mean gradient g_0 that most improves the worst task.

    Option ``c`` in [0, 1) (default 0.4): 0 is plain gradient descent on the mean. The mean is
    over the tasks with a labelled row in the batch. Weights: the coefficients of the task
    gradients in the (rescaled) direction, ``1/T`` each for ``c = 0``.
    """

    SCHEME = "cagrad"
    OPTIONS = {"c": 0.4}

    @classmethod
    def resolve_options(cls, given: Mapping[str, float]) -> dict[str, float]:
        """The options, with ``0 <= c < 1``."""
        options = super().resolve_options(given)
        at_least(cls.SCHEME, options, "c", 0.0)
        if options["c"] >= 1.0:
            raise ConfigError(f"cagrad: weighting option 'c' must be < 1, got {options['c']!r}")
        return options

    def combination(self, gram: tf.Tensor) -> tf.Tensor:
        """CAGrad's weights for this step."""
        return cagrad_weights(gram, self.options["c"])
