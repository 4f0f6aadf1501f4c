"""IMTL-G: Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang, "Towards Impartial Multi-task Learning", ICLR 2021."""

from __future__ import annotations

import tensorflow as tf

from mtl.weighting.aggregator import GradientAggregator, nonzero, present


def pseudo_inverse(gram: tf.Tensor) -> tf.Tensor:
    """The Moore-Penrose inverse of a Gram matrix, eigenvalues below the rank tolerance (:func:`nonzero`) taken as zero."""
    values, vectors = tf.linalg.eigh(gram)
    keep = nonzero(values)
    inverse = tf.where(keep, 1.0 / tf.where(keep, values, tf.ones_like(values)), tf.zeros_like(values))
    return tf.matmul(vectors * inverse[None, :], vectors, transpose_b=True)


def imtl_weights(gram: tf.Tensor) -> tf.Tensor:
    """Weights summing to 1 whose combination ``d`` has equal projections ``d . g_t / |g_t|`` on every task.

    The paper's closed form ``alpha_{2..T} = g_1 U^T (D U^T)^-1`` solves ``U d = lambda 1`` with
    ``sum alpha = 1``; in terms of the Gram matrix K and the norms n that is
    ``alpha = K^-1 n / (1^T K^-1 n)`` (pseudo-inverse for collinear gradients), over the tasks
    with a non-zero gradient. The sum is taken in absolute value, so the common projection stays
    positive (the closed form would flip the direction to ascent where ``1^T K^-1 n < 0``).
    """
    active = present(gram)
    norms = tf.where(active, tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), 0.0)), tf.zeros_like(gram[0]))
    solution = tf.linalg.matvec(pseudo_inverse(gram), norms)
    return tf.math.divide_no_nan(solution, tf.abs(tf.reduce_sum(solution)))


class ImtlGWeighting(GradientAggregator):
    """IMTL-G: the combination whose projections onto every unit task gradient are equal (weights sum to 1).

    The gradients are those on the task-shared parameters, as the paper defines IMTL-G (its
    loss-balancing half, IMTL-L, is not part of this scheme). Tasks without a labelled row get weight 0.
    """

    SCHEME = "imtl_g"

    def combination(self, gram: tf.Tensor) -> tf.Tensor:
        """The impartial weights."""
        return imtl_weights(gram)
