"""Stacked copies: K networks of one configuration as one network whose weights carry a leading copy axis.

A lone model (any strategy, tied outputs, mixed-type inputs) is cloned layer by layer with a copy
axis after the batch axis: activations are ``(batch, K, ...)``; a ``Dense`` becomes a
:class:`StackedDense` with a ``(K, in, out)`` kernel used as ``einsum("bki,kio->bko")``, an
``Embedding`` a :class:`StackedEmbedding` with ``(K, rows, dim)`` tables, a ``CrossStitch`` unit a
:class:`StackedCrossStitch` with ``(K, n, n)`` mixes; layers without weights (normalisation,
lookups, dropout, concatenation, gates' sums) work on the copy axis as they are, and layers whose
weights are fixed statistics of the training split (normalisation, lookups) are the same for every
copy. So one op serves all K copies of a layer where disjoint sub-graphs needed K ops: on these
small, dispatch-bound models that is most of the time a training takes.

Copy ``k``'s slice of every weight starts as the lone model built with its seed
(:func:`stack_weights`) and comes back out as that lone model's weights (:func:`copy_weights`), so
an exported copy is an ordinary Keras model. Copies share no weight and Adam's updates are per
element, so one copy's loss never moves another's weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from mtl.models.cross_stitch import CrossStitch


class StackedDense(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """``copies`` Dense layers of ``units`` as one: ``(batch, K, in)`` -> ``(batch, K, units)``."""

    def __init__(self, units: int, copies: int, activation: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.copies, self.activation = units, copies, keras.activations.get(activation)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """A ``(K, in, units)`` kernel and a ``(K, units)`` bias (values come from the lone copies)."""
        self.kernel = self.add_weight(shape=(self.copies, input_shape[-1], self.units), initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(self.copies, self.units), initializer="zeros", name="bias")

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        """Each copy's slice of ``x`` through its own kernel and bias."""
        return self.activation(ops.einsum("bki,kio->bko", x, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The input shape with ``units`` last."""
        return (*input_shape[:-1], self.units)


class StackedEmbedding(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """``copies`` Embedding tables as one: indices ``(batch, K, n)`` -> ``(batch, K, n, dim)``, copy k reading table k."""

    def __init__(self, rows: int, dim: int, copies: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows, self.dim, self.copies = rows, dim, copies

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """A ``(K, rows, dim)`` table."""
        self.embeddings = self.add_weight(shape=(self.copies, self.rows, self.dim), initializer="zeros", name="embeddings")

    def call(self, indices: keras.KerasTensor) -> keras.KerasTensor:
        """Look every copy's indices up in its own table (one gather over the K tables laid end to end)."""
        offsets = ops.reshape(ops.arange(self.copies, dtype="int64") * self.rows, (1, self.copies, 1))
        flat = ops.reshape(self.embeddings, (self.copies * self.rows, self.dim))
        return ops.take(flat, ops.cast(indices, "int64") + offsets, axis=0)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The index shape with ``dim`` appended."""
        return (*input_shape, self.dim)


class StackedCrossStitch(CrossStitch):
    """``copies`` cross-stitch units as one: a ``(K, n, n)`` mix over columns of shape ``(batch, K, width)``."""

    def __init__(self, copies: int, self_weight: float = 0.9, **kwargs: Any) -> None:
        super().__init__(self_weight, **kwargs)
        self.copies = copies

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        """A ``(K, n, n)`` mix (values come from the lone copies)."""
        n = len(input_shape)
        self.mix = self.add_weight(shape=(self.copies, n, n), initializer="zeros", name="mix")

    def call(self, inputs: list[keras.KerasTensor]) -> list[keras.KerasTensor]:
        """Mix each copy's columns with its own matrix."""
        mixed = ops.einsum("kij,bkjw->bkiw", self.mix, ops.stack(inputs, axis=2))
        return [mixed[:, :, i] for i in range(len(inputs))]


def _stacked_layer(layer: keras.layers.Layer, copies: int) -> keras.layers.Layer:
    """The layer that plays ``layer`` for ``copies`` copies at once (a fresh twin where it has no copy weights)."""
    if isinstance(layer, keras.layers.Dense):
        return StackedDense(layer.units, copies, keras.activations.serialize(layer.activation), name=layer.name)
    if isinstance(layer, keras.layers.Embedding):
        return StackedEmbedding(layer.input_dim, layer.output_dim, copies, name=layer.name)
    if isinstance(layer, CrossStitch):
        return StackedCrossStitch(copies, layer.self_weight, name=layer.name)
    if isinstance(layer, keras.layers.Flatten):  # (batch, K, 1, dim) -> (batch, K, dim): flatten within each copy
        return keras.layers.Reshape((copies, -1), name=layer.name)
    return layer.__class__.from_config(layer.get_config())


STACKED = (StackedDense, StackedEmbedding, StackedCrossStitch)


def build_stacked(copies: Sequence[keras.Model]) -> keras.Model:
    """One model over inputs of shape ``(batch, K, ...)`` that computes every copy of ``copies`` (lone models of one
    configuration, each built with its seed) on its own slice of the copy axis, weights stacked from them; its outputs
    are each task's ``(batch, K, units)``."""
    count, lone = len(copies), copies[0]
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(shape=(count, *t.shape[1:]), dtype=t.dtype, name=t.name.split(":")[0]), lone.input)
    stacked = keras.models.clone_model(lone, input_tensors=inputs, clone_function=lambda layer: _stacked_layer(layer, count))
    stack_weights(stacked, copies)
    return stacked


def stack_weights(stacked: keras.Model, copies: Sequence[keras.Model]) -> None:
    """Set every copy's slice of ``stacked``'s weights to that lone copy's weights."""
    for layer in stacked.layers:
        if not layer.weights:
            continue
        own = [copy.get_layer(layer.name).weights for copy in copies]
        for index, variable in enumerate(layer.weights):
            values = [np.asarray(weights[index]) for weights in own]
            variable.assign(np.stack(values) if isinstance(layer, STACKED) else values[0])


def copy_weights(stacked: keras.Model, lone: keras.Model, copy: int) -> list[np.ndarray]:
    """Copy ``copy``'s weights in ``stacked``, in the order ``lone.get_weights()`` lists them."""
    values = []
    for layer in lone.layers:
        twin = stacked.get_layer(layer.name)
        values += [np.asarray(v)[copy] if isinstance(twin, STACKED) else np.asarray(v) for v in twin.weights]
    return values
