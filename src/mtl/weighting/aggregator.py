"""Gradient-level schemes: the tasks' gradients on the shared variables, aggregated into one update direction."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtl.weighting.base import Weighting, stack
from mtl.weighting.shared import shared_variables

log = logging.getLogger(__name__)


class GradientAggregator(Weighting):
    """Turns the T x P matrix G of task gradients on the shared variables into one update direction.

    Row t of G is the gradient of ``c_t * L_t`` (the constants scale each task's loss) on the
    variables every task output depends on (:func:`~mtl.weighting.shared.shared_variables`, found in
    :meth:`setup`), flattened and concatenated. Every method here combines the rows linearly: a
    subclass implements :meth:`combination`, the weights ``w`` (from the T x T Gram matrix), and
    the direction is ``w @ G``. Task-specific variables get the gradient of ``sum_t c_t L_t``, which
    is also the logged ``loss``. The effective weight of task t (logged as ``weight_<task>``) is
    ``c_t * w_t``, the coefficient of its loss gradient in a step's shared update (averaged over the epoch).

    A task without a labelled row in a batch has a zero loss and a zero row; every method leaves
    such rows out (weight 0 in that step). Where nothing is shared (``independent``) the update is
    the plain sum, with a warning, and the weights stay ``c_t``.
    """

    persistent_tape = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current = self.add_weight(
            shape=(len(self.task_names),), initializer="ones", trainable=False, name=f"{self.SCHEME}_weights"
        )
        self.current.assign(self.constants)
        self.shared_paths: frozenset[str] = frozenset()

    def effective(self) -> tf.Tensor:
        """``c_t * w_t`` of the latest step (``c_t`` before the first)."""
        return tf.convert_to_tensor(self.current)

    def combine(self, losses: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """``sum_t c_t L_t``: the loss the task gradients come from (the aggregation changes only the direction)."""
        return tf.reduce_sum(self.constants * stack(losses, self.task_names))

    def setup(self, net: keras.Model, x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Find the shared variables (:meth:`find_shared`)."""
        self.find_shared(net, x)

    def find_shared(self, net: keras.Model, x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Find the shared variables, or warn that the update will be the plain sum (all a stacked copy's scheme
        needs of its lone model)."""
        self.shared_paths = frozenset(v.path for v in shared_variables(net, x))
        if not self.shared_paths:
            log.warning("%s: no weight is shared by all task outputs of %s; training on the plain sum", self.SCHEME, net.name)

    def gradients(
        self, tape: tf.GradientTape, losses: Mapping[str, tf.Tensor], total: tf.Tensor, variables: list[keras.Variable]
    ) -> list[tf.Tensor | None]:
        """Each variable's update gradient: the aggregated direction on the shared ones, that of ``total``
        (``sum_t c_t L_t``) on the others; records the step's effective weights."""
        shared = [v for v in variables if v.path in self.shared_paths]
        if not shared:
            return super().gradients(tape, losses, total, variables)
        rows = [tape.gradient(losses[n], shared, unconnected_gradients=tf.UnconnectedGradients.ZERO) for n in self.task_names]
        flat = [tf.concat([tf.reshape(tf.convert_to_tensor(g), [-1]) for g in row], 0) for row in rows]
        matrix = self.constants[:, None] * tf.stack(flat)
        direction, weights = self.aggregate(matrix)
        self.current.assign(self.constants * weights)
        sizes = [int(np.prod(v.shape)) for v in shared]
        by_path = {v.path: tf.reshape(part, v.shape) for v, part in zip(shared, tf.split(direction, sizes))}
        others = [v for v in variables if v.path not in self.shared_paths]
        by_path.update(zip((v.path for v in others), tape.gradient(total, others)))
        return [by_path[v.path] for v in variables]

    def aggregate(self, gradients: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The update direction [P] and the weights [T] that combine the rows of ``gradients`` [T, P] into it."""
        gram = tf.cast(tf.matmul(gradients, gradients, transpose_b=True), "float64")
        weights = tf.cast(self.combination(gram), "float32")
        return tf.linalg.matvec(gradients, weights, transpose_a=True), weights

    def combination(self, gram: tf.Tensor) -> tf.Tensor:
        """The weights [T] (float64) of the task gradients whose Gram matrix is ``gram`` [T, T] (float64)."""
        raise NotImplementedError


def present(gram: tf.Tensor) -> tf.Tensor:
    """Which tasks have a non-zero gradient (a labelled row in the batch): a boolean [T]."""
    return tf.linalg.diag_part(gram) > 0


def mean_of_present(gram: tf.Tensor) -> tf.Tensor:
    """Weights 1/n on the n tasks with a non-zero gradient, 0 elsewhere (all 0 if there are none)."""
    mask = tf.cast(present(gram), gram.dtype)
    return tf.math.divide_no_nan(mask, tf.reduce_sum(mask))


def nonzero(eigenvalues: tf.Tensor) -> tf.Tensor:
    """Which eigenvalues of a T x T Gram matrix count as non-zero: those above ``max * T * eps``,
    eps that of float32 (the gradients' precision; the rank tolerance of the Aligned-MTL authors' code)."""
    return eigenvalues > tf.reduce_max(eigenvalues) * eigenvalues.shape[0] * float(np.finfo(np.float32).eps)
