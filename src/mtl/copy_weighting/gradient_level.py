"""The gradient-level methods per copy: every copy's Gram matrix of task gradients, combined by its own lone scheme."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import keras
import numpy as np
import tensorflow as tf

from mtl.copy_weighting.base import CopyWeighting, task_selector
from mtl.stacked import stacked_twins
from mtl.weighting import make_weighting
from mtl.weighting.aggregator import GradientAggregator
from mtl.weighting.mgda_ub import REPRESENTATION, required_representation


class CopyGradientAggregator(CopyWeighting):
    """A gradient-level method per copy (:class:`~mtl.weighting.aggregator.GradientAggregator`): on copy k's shared
    variables (its lone model's, as their stacked slices) the direction ``w_k @ G_k``, ``G_k`` the rows of its
    ``c_t L_t`` gradients and ``w_k`` what the scheme makes of their Gram matrix; elsewhere the gradient of
    ``sum_t c_t L_t``. The weights come from one lone instance of the scheme per copy (seeded with the copy's seed),
    so every copy combines its gradients exactly as its lone training would. Subclasses name the scheme."""

    persistent_tape = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        weights = (dict(zip(self.task_names, (float(c) for c in row))) for row in self.constants)
        self.schemes = [cast(GradientAggregator, make_weighting(self.SCHEME, self.tasks, w, self.options, seed))  # a gradient-level SCHEME
                        for w, seed in zip(weights, self.seeds, strict=True)]
        self.current = self.add_weight(shape=(self.copies, len(self.task_names)), initializer="ones", trainable=False,
                                       name=f"{self.SCHEME}_weights")
        self.current.assign(self.constants)
        self.shared: dict[str, np.ndarray] = {}  # a stacked variable's path -> (K,) 1 where it is one of copy k's shared
        self.sharing = np.zeros(self.copies, dtype=bool)  # the copies with any shared variable

    def effective(self) -> tf.Tensor:
        """``c_kt * w_kt`` of the latest step (``c_kt`` before the first)."""
        return tf.convert_to_tensor(self.current)

    def combine(self, losses: tf.Tensor) -> tf.Tensor:
        """``sum_k sum_t c_kt L_tk``: the loss the task gradients come from."""
        return tf.reduce_sum(self.constants * tf.transpose(losses))

    def setup(self, stacked: keras.Model, copies: Sequence[keras.Model], x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Find each copy's shared variables in its lone model, and their stacked twins."""
        self.shared = {}
        for k, lone in enumerate(copies):
            self.schemes[k].find_shared(lone, x)  # as alone, with the lone warning where nothing is shared
            twins = stacked_twins(stacked, lone)
            for path in self.schemes[k].shared_paths:
                self.shared.setdefault(twins[path].path, np.zeros(self.copies, dtype="float32"))[k] = 1.0
                self.sharing[k] = True

    def task_row(self, task: int) -> tf.Tensor:
        """The output gradients that select row ``task`` of every copy's G, the gradient of ``c_kt L_tk``."""
        return task_selector(task, len(self.task_names), self.constants[:, task])

    def gram(self, tape: tf.GradientTape, losses: tf.Tensor, rows: list[list[tf.Tensor]],
             variables: list[keras.Variable]) -> tf.Tensor:
        """Every copy's Gram matrix ``(K, T, T)`` of its task gradient rows (``rows[t]``, one per variable) on its
        own shared variables."""
        count = len(self.task_names)
        gram = tf.zeros((self.copies, count, count))
        for index, variable in enumerate(variables):
            mask = self.shared.get(variable.path)
            if mask is not None:
                flat = tf.stack([tf.reshape(row[index], (self.copies, -1)) for row in rows])  # (T, K, P)
                gram += mask[:, None, None] * tf.einsum("ikp,jkp->kij", flat, flat)
        return gram

    def gradients(self, tape: tf.GradientTape, losses: tf.Tensor, total: tf.Tensor,
                  variables: list[keras.Variable]) -> list[tf.Tensor | None]:
        """Each variable's update gradient, every copy's slice its own (records the step's effective weights)."""
        count = len(self.task_names)
        rows = [tape.gradient(losses, variables, output_gradients=self.task_row(t), unconnected_gradients=tf.UnconnectedGradients.ZERO)
                for t in range(count)]
        gram = self.gram(tape, losses, rows, variables)
        weights = tf.stack([tf.cast(scheme.combination(tf.cast(gram[k], "float64")), "float32") if self.sharing[k]
                            else tf.ones(count) for k, scheme in enumerate(self.schemes)])  # (K, T)
        self.current.assign(self.constants * weights)
        out = []
        for index, variable in enumerate(variables):
            mask = self.shared.get(variable.path, np.zeros(self.copies, dtype="float32"))
            coefficients = mask[:, None] * weights + (1.0 - mask[:, None])  # shared: w_kt; elsewhere 1 (sum_t c_t L_t)
            shape = (self.copies, *[1] * (len(variable.shape) - 1))
            out.append(sum(tf.reshape(coefficients[:, t], shape) * rows[t][index] for t in range(count)))
        return out


class CopyMgdaUbWeighting(CopyGradientAggregator):
    """:class:`~mtl.weighting.mgda_ub.MgdaUbWeighting` per copy: each copy's Gram matrix from its task gradients on its
    own shared representation (the output of its last trunk layer: its slice of that stacked layer's output, which a
    probe of the stacked model returns beside the predictions); the update as the other gradient-level methods'."""

    SCHEME = "mgda_ub"

    def setup(self, stacked: keras.Model, copies: Sequence[keras.Model], x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Find each copy's representation layer (a :class:`~mtl.errors.ConfigError` without one, as alone) and build
        the probe (the stacked model's layers and variables, with those layers' outputs too)."""
        super().setup(stacked, copies, x)
        names = [required_representation(lone).name for lone in copies]
        self.readers = {name: np.array([n == name for n in names], dtype="float32") for name in sorted(set(names))}
        outputs = {**dict(zip(stacked.output_names, stacked.outputs)),
                   **{REPRESENTATION + name: stacked.get_layer(name).output for name in self.readers}}
        # not tracked as a sub-layer: its variables are the stacked model's, which the trainer already holds
        object.__setattr__(self, "probe", keras.Model(stacked.input, outputs, name=f"{stacked.name}_with_representations"))
        self.captured: dict[str, tf.Tensor] = {}

    def forward(self, stacked: keras.Model, x: Any, training: bool) -> dict[str, tf.Tensor]:
        """The predictions, through the probe so every representation is on the step's tape."""
        outputs = dict(self.probe(x, training=training))
        self.captured = {name: outputs.pop(REPRESENTATION + name) for name in self.readers}
        return outputs

    def gram(self, tape: tf.GradientTape, losses: tf.Tensor, rows: list[list[tf.Tensor]],
             variables: list[keras.Variable]) -> tf.Tensor:
        """Every copy's Gram matrix of its task gradients on its representation ``(batch, K, width)``, slice k."""
        count = len(self.task_names)
        gram = tf.zeros((self.copies, count, count))
        for name, readers in self.readers.items():
            z = self.captured.pop(name)
            per_task = [tape.gradient(losses, z, output_gradients=self.task_row(t), unconnected_gradients=tf.UnconnectedGradients.ZERO)
                        for t in range(count)]
            flat = tf.stack([tf.reshape(tf.transpose(g, (1, 0, *range(2, len(g.shape)))), (self.copies, -1)) for g in per_task])
            gram += readers[:, None, None] * tf.einsum("ikp,jkp->kij", flat, flat)
        return gram


def copy_aggregator(name: str) -> type[CopyGradientAggregator]:
    """The stacked form of the gradient-level method ``name``."""
    return type(f"CopyAggregator_{name}", (CopyGradientAggregator,), {"SCHEME": name})
