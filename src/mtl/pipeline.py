"""tf.data input pipelines over in-memory splits: tensors converted once, one iterator per ``fit``.

Given NumPy arrays, Keras converts them and builds a new tf.data pipeline at every ``fit`` and
``evaluate``, and makes a new iterator every epoch, each one first rewritten by tf.data's graph
optimisations (about 10 ms per iterator here, a quarter of a small model's epoch). Here each split's
arrays become tensors once (cached per :class:`~mtl.data.Dataset` object, so every trial of a
sweep shares them); ``fit`` gets repeating pipelines with ``steps_per_epoch`` /
``validation_steps``, so one iterator serves every training epoch (Keras still makes one per
validation pass), and the pipelines skip the graph rewrites, which buy nothing for in-memory
slices. Each epoch of training is a fresh permutation of the rows drawn from ``(seed, epoch)``, so
a trial's seed fixes the order of its batches.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from mtl.data import Dataset

Batch = tuple[Any, ...]  # (inputs, targets) or (inputs, targets, sample weights), as tensors

_TENSORS: weakref.WeakKeyDictionary[Dataset, Batch] = weakref.WeakKeyDictionary()
_PLAIN = tf.data.Options()
_PLAIN.experimental_optimization.apply_default_optimizations = False  # no graph rewrites at each new iterator


@dataclass(frozen=True)
class Feed:
    """A repeating dataset and how many of its batches make one pass over the split."""

    dataset: tf.data.Dataset
    steps: int


def without_rewrites(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with tf.data's graph rewrites off: they cost about 10 ms per new iterator and buy
    nothing for in-memory slices."""
    return dataset.with_options(_PLAIN)


def split_tensors(data: Dataset) -> Batch:
    """``data``'s inputs, targets (and sample weights where targets are missing) as tensors, converted once."""
    cached = _TENSORS.get(data)
    if cached is None:
        weights = data.sample_weights
        parts = (data.inputs, data.targets) if weights is None else (data.inputs, data.targets, weights)
        cached = tf.nest.map_structure(tf.convert_to_tensor, parts)
        _TENSORS[data] = cached
    return cached


def training_feed(data: Dataset, batch_size: int, seed: int) -> Feed:
    """Batches of ``batch_size`` rows, every epoch in a new order drawn from ``seed`` and the epoch number."""
    tensors, rows = split_tensors(data), len(data)

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(tf.range(rows, dtype=tf.int64), seed=key)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def take(rows_: tf.Tensor) -> Batch:
        batch: Batch = tf.nest.map_structure(lambda t: tf.gather(t, rows_), tensors)
        return batch

    dataset = tf.data.Dataset.counter().flat_map(epoch_batches).map(take).prefetch(2)
    return Feed(without_rewrites(dataset), math.ceil(rows / batch_size))


def evaluation_feed(data: Dataset, batch_size: int) -> Feed:
    """``data`` in order, in batches of ``batch_size`` rows, repeated."""
    tensors = split_tensors(data)
    if batch_size >= len(data):
        dataset = tf.data.Dataset.from_tensors(tensors).repeat()
    else:
        dataset = tf.data.Dataset.from_tensor_slices(tensors).batch(batch_size).repeat()
    return Feed(without_rewrites(dataset), math.ceil(len(data) / batch_size))
