"""Aligned-MTL: Senushkin, Patakin, Kuznetsov & Konushin, "Independent Component Alignment for Multi-Task Learning", CVPR 2023."""

from __future__ import annotations

import tensorflow as tf

from mtl.weighting.aggregator import GradientAggregator, nonzero


def alignment(gram: tf.Tensor) -> tf.Tensor:
    """The T x T matrix B with ``B G`` the aligned gradients: ``sigma_min V Sigma^-1 V^T`` from ``gram = V Sigma^2 V^T``.

    ``B G`` keeps G's row space and gives all its non-zero singular values the smallest one,
    sigma_min (condition number 1). Eigenvalues below the rank tolerance (:func:`nonzero`, the
    authors' code's) count as zero and drop out, which is how zero rows (tasks without a labelled
    row) are left out.
    """
    values, vectors = tf.linalg.eigh(gram)
    keep = nonzero(values)
    kept = tf.where(keep, values, tf.reduce_max(values))  # the dropped ones neither divide nor count as smallest
    smallest = tf.reduce_min(kept)
    factors = tf.where(keep, tf.sqrt(smallest / kept), tf.zeros_like(values))
    return tf.matmul(vectors * factors[None, :], vectors, transpose_b=True)


class AlignedMtlWeighting(GradientAggregator):
    """Aligned-MTL: the sum of the aligned task gradients (the rows of ``B G``, whose singular values all equal G's smallest).

    The weights are B's column sums (as the authors' code: task preferences all 1, scale mode
    ``min``); equal-norm orthogonal gradients keep weight 1 each, so the direction is their sum.
    """

    SCHEME = "aligned_mtl"

    def combination(self, gram: tf.Tensor) -> tf.Tensor:
        """The column sums of the alignment."""
        return tf.reduce_sum(alignment(gram), axis=0)
