"""UPGrad: Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024 (TorchJD)."""

from __future__ import annotations

import tensorflow as tf

from mtl.weighting.aggregator import GradientAggregator, present

MAX_SWEEPS = 200
TOLERANCE = 1e-10


def dual_cone_projections(gram: tf.Tensor) -> tf.Tensor:
    """Row i: the weights ``v`` of the projection of g_i onto the dual cone of the gradients, ``{x : g_t . x >= 0}``.

    That projection is ``G^T v`` with ``v = argmin_{v >= e_i} v^T K v`` (K = ``gram``; the paper's
    Proposition 1, the quadratic program TorchJD hands to a solver). Solved here by exact coordinate
    descent, all rows at once, until no weight moves by more than 1e-10 or after 200 sweeps. Rows of
    tasks with a zero gradient are zero, and those weights are never moved.
    """
    tasks = gram.shape[0]
    active = present(gram)
    floor = tf.linalg.diag(tf.cast(active, gram.dtype))  # the lower bounds e_i, for the tasks that count
    diagonal = tf.linalg.diag_part(gram)

    def sweep(i: tf.Tensor, weights: tf.Tensor, moved: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """One pass over the coordinates, each set to its exact minimiser above its bound."""
        start = weights
        for j in range(tasks):
            column = tf.linalg.matvec(weights, gram[:, j])  # (K v)_j for every row
            best = tf.maximum(floor[:, j], weights[:, j] - tf.math.divide_no_nan(column, diagonal[j]))
            change = tf.where(active[j], best - weights[:, j], tf.zeros_like(best))
            weights += change[:, None] * tf.one_hot(j, tasks, dtype=gram.dtype)[None, :]
        return i + 1, weights, tf.reduce_max(tf.abs(weights - start))

    _, weights, _ = tf.while_loop(
        lambda i, _, moved: tf.logical_and(i < MAX_SWEEPS, moved > TOLERANCE),
        sweep,
        (tf.constant(0), floor, tf.constant(1.0, gram.dtype)),
    )
    return weights


class UpgradWeighting(GradientAggregator):
    """UPGrad: the mean of the task gradients, each projected onto the dual cone of all of them.

    The direction has a non-negative inner product with every task gradient (no task's loss
    increases to first order) and equals the mean gradient where no two conflict. Weights: the
    mean of the projections' weights, so they sum to at least 1 (exactly 1 without conflicts).
    TorchJD normalises and regularises the Gram matrix before its solver; here the coordinate
    descent needs neither. Tasks without a labelled row are left out of the mean.
    """

    SCHEME = "upgrad"

    def combination(self, gram: tf.Tensor) -> tf.Tensor:
        """The mean of the dual-cone projections' weights over the tasks with a gradient."""
        count = tf.reduce_sum(tf.cast(present(gram), gram.dtype))
        return tf.math.divide_no_nan(tf.reduce_sum(dual_cone_projections(gram), axis=0), count)
