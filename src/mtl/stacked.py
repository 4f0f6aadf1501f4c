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

**Padded stacks.** Copies of *different* configurations of one strategy (tuning trials) stack too:
the stacked model is cloned from a *template*, the lone model of a configuration as wide and as
deep as the widest and deepest copy (:func:`mtl.padding.padded_config`). Copy k's weights sit in
the leading corner of each padded weight; a Dense layer multiplies each copy's outputs by its
unit mask (its own width's units 1, the padding 0), so padded units are exactly 0 whatever the
activation, and a layer (or cross-stitch unit) a copy does not have is an identity for that copy (it needs equal input
and output widths: :class:`CannotPad` otherwise). Padded units and skipped layers then get zero
gradients, so Adam never moves them, and a padded copy computes and learns what its lone model
does. A dropout layer drops each copy's units at that copy's own rate (0 where the copy has no
such layer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from mtl.models.cross_stitch import CrossStitch


class CannotPad(ValueError):
    """Raised when copies of different configurations cannot share one padded template."""


class StackedDense(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """``copies`` Dense layers of ``units`` as one: ``(batch, K, in)`` -> ``(batch, K, units)``.

    In a padded stack, ``unit_mask`` ``(K, units)`` zeroes each copy's padded units and ``present``
    ``(K,)`` (1 or 0) makes the layer an identity for the copies without it.
    """

    def __init__(self, units: int, copies: int, activation: str | None = None, unit_mask: np.ndarray | None = None,
                 present: np.ndarray | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.copies, self.activation = units, copies, keras.activations.get(activation)
        self.unit_mask = None if unit_mask is None else ops.convert_to_tensor(unit_mask[None], "float32")
        self.present = None if present is None else ops.convert_to_tensor(present[None, :, None], "float32")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """A ``(K, in, units)`` kernel and a ``(K, units)`` bias (values come from the lone copies)."""
        self.kernel = self.add_weight(shape=(self.copies, input_shape[-1], self.units), initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(self.copies, self.units), initializer="zeros", name="bias")

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        """Each copy's slice of ``x`` through its own kernel and bias (masked, or passed through, where padded)."""
        y = self.activation(ops.einsum("bki,kio->bko", x, self.kernel) + self.bias)
        if self.unit_mask is not None:
            y = y * self.unit_mask
        if self.present is not None:
            y = y * self.present + x * (1.0 - self.present)
        return y

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

    def __init__(self, copies: int, self_weight: float = 0.9, present: np.ndarray | None = None, **kwargs: Any) -> None:
        super().__init__(self_weight, **kwargs)
        self.copies = copies
        self.present = None if present is None else ops.convert_to_tensor(present[None, :, None], "float32")

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        """A ``(K, n, n)`` mix (values come from the lone copies)."""
        n = len(input_shape)
        self.mix = self.add_weight(shape=(self.copies, n, n), initializer="zeros", name="mix")

    def call(self, inputs: list[keras.KerasTensor]) -> list[keras.KerasTensor]:
        """Mix each copy's columns with its own matrix (copies without this unit pass their columns through)."""
        mixed = ops.einsum("kij,bkjw->bkiw", self.mix, ops.stack(inputs, axis=2))
        if self.present is None:
            return [mixed[:, :, i] for i in range(len(inputs))]
        return [mixed[:, :, i] * self.present + x * (1.0 - self.present) for i, x in enumerate(inputs)]


class StackedDropout(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Dropout at a rate per copy on ``(batch, K, ...)`` (rate 0: the copy passes unchanged)."""

    def __init__(self, rates: np.ndarray, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rates = np.asarray(rates, dtype="float32")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x: keras.KerasTensor, training: bool = False) -> keras.KerasTensor:
        """Each copy's units kept with probability ``1 - rate`` and scaled by its inverse, in training only."""
        if not training or not self.rates.any():
            return x
        shape = (1, self.copies, *([1] * (len(x.shape) - 2)))
        keep = ops.reshape(ops.convert_to_tensor(1.0 - self.rates), shape)
        kept = ops.cast(keras.random.uniform(ops.shape(x), seed=self.seed_generator) < keep, x.dtype)
        return x * kept / keep

    @property
    def copies(self) -> int:
        """The number of copies."""
        return len(self.rates)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The input shape."""
        return input_shape


def _padded_dense(layer: keras.layers.Dense, copies: Sequence[keras.Model]) -> StackedDense:
    """The stacked Dense that plays the template's ``layer`` for lone ``copies`` of their own widths and depths."""
    units, width = layer.units, int(layer.kernel.shape[0])
    own = [_layer_or_none(copy, layer.name) for copy in copies]
    present = np.array([lone is not None for lone in own], dtype="float32")
    if not present.all() and width != units:
        raise CannotPad(f"layer {layer.name!r} ({width} -> {units}) is missing from some copies and cannot be an identity")
    mask = np.ones((len(copies), units), dtype="float32")
    for k, lone in enumerate(own):
        if lone is not None:
            if lone.units > units or int(lone.kernel.shape[0]) > width:
                raise CannotPad(f"layer {layer.name!r} of copy {k} is wider than the template's")
            mask[k, lone.units:] = 0.0
    return StackedDense(units, len(copies), keras.activations.serialize(layer.activation), None if mask.all() else mask,
                        None if present.all() else present, name=layer.name)


def _padded_dropout(layer: keras.layers.Dropout, copies: Sequence[keras.Model]) -> StackedDropout:
    """The per-copy dropout that plays the template's ``layer``: each copy's own rate, 0 where it has no such layer."""
    rates = [0.0 if (lone := _layer_or_none(copy, layer.name)) is None else float(lone.rate) for copy in copies]
    return StackedDropout(np.array(rates), name=layer.name)


def _layer_or_none(model: keras.Model, name: str) -> keras.layers.Layer | None:
    """``model``'s layer ``name``, or None if it has none."""
    return next((layer for layer in model.layers if layer.name == name), None)


def _stacked_layer(layer: keras.layers.Layer, copies: int, padded: Sequence[keras.Model] | None = None) -> keras.layers.Layer:
    """The layer that plays ``layer`` for ``copies`` copies at once (a fresh twin where it has no copy weights);
    ``padded``: the lone copies of a padded stack whose template ``layer`` belongs to."""
    if padded is not None and isinstance(layer, keras.layers.Dense):
        return _padded_dense(layer, padded)
    if padded is not None and isinstance(layer, keras.layers.Dropout):
        return _padded_dropout(layer, padded)
    if padded is not None and isinstance(layer, CrossStitch):
        present = np.array([_layer_or_none(copy, layer.name) is not None for copy in padded], dtype="float32")
        return StackedCrossStitch(copies, layer.self_weight, None if present.all() else present, name=layer.name)
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


def build_stacked(copies: Sequence[keras.Model], template: keras.Model | None = None) -> keras.Model:
    """One model over inputs of shape ``(batch, K, ...)`` that computes every copy of ``copies`` (lone models, each
    built with its seed) on its own slice of the copy axis, weights stacked from them; its outputs are each task's
    ``(batch, K, units)``.

    Without ``template`` the copies share one configuration; with it (the lone model of their padded configuration,
    :func:`mtl.padding.padded_config`) they may differ in widths, depths and dropout, padded as the module says.
    Raises :class:`CannotPad` where they cannot.
    """
    count, lone = len(copies), template or copies[0]
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(shape=(count, *t.shape[1:]), dtype=t.dtype, name=t.name.split(":")[0]), lone.input)
    padded = None if template is None else copies
    stacked = keras.models.clone_model(lone, input_tensors=inputs, clone_function=lambda layer: _stacked_layer(layer, count, padded))
    stack_weights(stacked, copies)
    return stacked


def _corner(value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` in the leading corner of zeros of ``shape`` (itself where the shapes agree)."""
    if value.shape == shape:
        return value
    out = np.zeros(shape, dtype=value.dtype)
    out[tuple(slice(0, n) for n in value.shape)] = value
    return out


def stack_weights(stacked: keras.Model, copies: Sequence[keras.Model]) -> None:
    """Set every copy's slice of ``stacked``'s weights to that lone copy's weights (padded with zeros, and zeros
    where the copy has no such layer)."""
    for layer in stacked.layers:
        if not layer.weights:
            continue
        own = [None if (lone := _layer_or_none(copy, layer.name)) is None else lone.weights for copy in copies]
        for index, variable in enumerate(layer.weights):
            if not isinstance(layer, STACKED):
                variable.assign(np.asarray(next(w for w in own if w is not None)[index]))
                continue
            shape = tuple(variable.shape[1:])
            variable.assign(np.stack([np.zeros(shape, "float32") if w is None else _corner(np.asarray(w[index]), shape)
                                      for w in own]))


def stacked_twins(stacked: keras.Model, lone: keras.Model) -> dict[str, keras.Variable]:
    """Each weight of ``lone`` (by path) -> the weight of ``stacked`` that holds its copy's slice (the same layer's, in
    the same place)."""
    return {mine.path: twin for layer in lone.layers
            for mine, twin in zip(layer.weights, stacked.get_layer(layer.name).weights, strict=True)}


def copy_weights(stacked: keras.Model, lone: keras.Model, copy: int) -> list[np.ndarray]:
    """Copy ``copy``'s weights in ``stacked`` (un-padded to ``lone``'s shapes), in the order ``lone.get_weights()``
    lists them."""
    values = []
    for layer in lone.layers:
        twin = stacked.get_layer(layer.name)
        for mine, v in zip(layer.weights, twin.weights, strict=True):
            value = np.asarray(v)[copy] if isinstance(twin, STACKED) else np.asarray(v)
            values.append(value[tuple(slice(0, n) for n in mine.shape)])
    return values
