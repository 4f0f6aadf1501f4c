"""PCGrad: Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient Surgery for Multi-Task Learning", NeurIPS 2020."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtl.weighting.aggregator import GradientAggregator, present
from mtl.weighting.base import draw_seed


def pcgrad_weights(gram: tf.Tensor, order: tf.Tensor) -> tf.Tensor:
    """The coefficients of the original gradients in ``sum_i g_i^PC`` (``gram``: their Gram matrix).

    Each g_i^PC starts as g_i and, for each j in ``order`` (a permutation of the tasks), loses its
    component along g_j where ``g_i^PC . g_j < 0``: ``g_i^PC -= (g_i^PC . g_j / |g_j|^2) g_j``
    (Algorithm 1). Tracked as coefficients of the originals, so only the Gram matrix is needed;
    a zero g_j projects nothing, and its own coefficient is set to 0 (it adds nothing to the sum).
    """
    tasks = gram.shape[0]
    coefficients = tf.eye(tasks, dtype=gram.dtype)  # row i: g_i^PC in terms of the original gradients
    for k in range(tasks):
        j = order[k]
        inner = tf.linalg.matvec(coefficients, gram[:, j])  # g_i^PC . g_j for every i
        step = tf.math.divide_no_nan(tf.minimum(inner, 0.0), gram[j, j])
        coefficients -= step[:, None] * tf.one_hot(j, tasks, dtype=gram.dtype)[None, :]
    return tf.where(present(gram), tf.reduce_sum(coefficients, axis=0), tf.zeros_like(gram[0]))


class PCGradWeighting(GradientAggregator):
    """PCGrad: each task gradient projected onto the normal plane of every gradient it conflicts with, then summed.

    The paper visits the other tasks in random order; here one seeded random permutation per step
    (from a Keras seed generator seeded from the training's seed) serves every task, as in
    the authors' TensorFlow code, which also visits the task itself (a no-op unless a projection has
    turned g_i^PC against g_i). Weights: the coefficient of each original gradient in the sum (all 1
    where nothing conflicts, so they sum to about T).
    """

    SCHEME = "pcgrad"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed_generator = keras.random.SeedGenerator(draw_seed(self.seed), name="pcgrad_seed")

    def combination(self, gram: tf.Tensor) -> tf.Tensor:
        """The coefficients of the projected sum, in this step's random task order."""
        order = tf.argsort(keras.random.uniform((len(self.task_names),), seed=self.seed_generator))
        return pcgrad_weights(gram, order)
