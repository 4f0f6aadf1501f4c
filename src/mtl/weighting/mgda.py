"""MGDA: Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018."""

from __future__ import annotations

import tensorflow as tf

from mtl.weighting.aggregator import GradientAggregator, mean_of_present, present

MAX_ITERATIONS = 1000
TOLERANCE = 1e-9


def min_norm_weights(gram: tf.Tensor) -> tf.Tensor:
    """The point of the simplex whose combination of the gradients has the least norm (``gram``: their Gram matrix).

    Frank-Wolfe with exact line search, as the paper's Algorithm 2, in its pairwise form: each step
    moves weight from the task in the support whose gradient has the largest inner product with the
    current point to the task with the smallest, which converges linearly where the plain form
    stalls near a face. Over the tasks with a non-zero gradient, from their uniform mix; it stops
    when the weights move by less than 1e-9 (sum of absolute changes) or after 1000 steps. With two
    tasks the first step lands on the exact minimiser.
    """
    active = present(gram)
    tasks = gram.shape[0]

    def step(i: tf.Tensor, weights: tf.Tensor, moved: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """One pairwise step."""
        products = tf.linalg.matvec(gram, weights)  # g_t . g_w
        spread = tf.reduce_max(products) - tf.reduce_min(products) + 1.0
        to = tf.argmin(tf.where(active, products, tf.reduce_max(products) + spread))
        away = tf.argmax(tf.where(weights > 0, products, tf.reduce_min(products) - spread))
        curvature = gram[to, to] + gram[away, away] - 2.0 * gram[to, away]  # |g_to - g_away|^2
        shift = tf.clip_by_value(tf.math.divide_no_nan(products[away] - products[to], curvature), 0.0, weights[away])
        change = shift * (tf.one_hot(to, tasks, dtype=gram.dtype) - tf.one_hot(away, tasks, dtype=gram.dtype))
        return i + 1, weights + change, tf.reduce_sum(tf.abs(change))

    _, weights, _ = tf.while_loop(
        lambda i, _, moved: tf.logical_and(i < MAX_ITERATIONS, moved >= TOLERANCE),
        step,
        (tf.constant(0), mean_of_present(gram), tf.constant(1.0, gram.dtype)),
    )
    return weights


class MgdaWeighting(GradientAggregator):
    """MGDA: the min-norm point of the convex hull of the task gradients (weights on the simplex, sum 1).

    Here the gradients are on the shared parameters, the paper's exact MGDA, for any strategy;
    MGDA-UB, its fast variant on the shared representation, is ``mgda_ub``
    (:mod:`mtl.weighting.mgda_ub`). No gradient normalisation (the
    paper's default). Tasks without a labelled row are left out of the hull.
    """

    SCHEME = "mgda"

    def combination(self, gram: tf.Tensor) -> tf.Tensor:
        """The min-norm weights."""
        return min_norm_weights(gram)
