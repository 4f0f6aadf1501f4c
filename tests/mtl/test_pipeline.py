"""Input pipelines: tensors made once per split, a new permutation every epoch, whole splits for evaluation."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mtl.data import Splits
from mtl.pipeline import evaluation_feed, split_tensors, training_feed


def epochs_of(splits: Splits, batch_size: int, seed: int, epochs: int) -> list[np.ndarray]:
    """The rows each epoch of the training feed yields (found by matching feature rows), in order."""
    feed = training_feed(splits.train, batch_size, seed)
    index = {row.tobytes(): i for i, row in enumerate(splits.train.x)}
    iterator = iter(feed.dataset)
    out = []
    for _ in range(epochs):
        rows = [index[row.tobytes()] for _ in range(feed.steps) for row in next(iterator)[0].numpy()]
        out.append(np.array(rows))
    return out


def test_every_epoch_is_a_new_permutation_of_all_training_rows_fixed_by_the_seed(tiny_splits) -> None:
    first = epochs_of(tiny_splits, batch_size=64, seed=5, epochs=3)
    n = len(tiny_splits.train)
    assert training_feed(tiny_splits.train, 64, 5).steps == -(-n // 64)
    for rows in first:
        assert sorted(rows) == list(range(n))  # each row exactly once, the last batch ragged
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    again = epochs_of(tiny_splits, batch_size=64, seed=5, epochs=3)
    other = epochs_of(tiny_splits, batch_size=64, seed=6, epochs=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_targets_and_features_stay_together(tiny_splits) -> None:
    feed = training_feed(tiny_splits.train, 32, 0)
    x, y = next(iter(feed.dataset))
    rows = [int(np.flatnonzero((tiny_splits.train.x == row).all(axis=1))[0]) for row in x.numpy()]
    for task, values in y.items():
        np.testing.assert_array_equal(values.numpy(), tiny_splits.train.targets[task][rows])


def test_tensors_are_converted_once_per_split(tiny_splits) -> None:
    first = split_tensors(tiny_splits.val)
    assert split_tensors(tiny_splits.val) is first
    assert split_tensors(tiny_splits.test) is not first


def test_evaluation_feed_yields_the_split_in_order_in_one_batch_or_several(tiny_splits) -> None:
    val = tiny_splits.val
    whole = evaluation_feed(val, len(val))
    assert whole.steps == 1
    x, _ = next(iter(whole.dataset))
    np.testing.assert_array_equal(x.numpy(), val.x)
    parts = evaluation_feed(val, 30)
    assert parts.steps == -(-len(val) // 30)
    iterator = iter(parts.dataset)
    stacked = tf.concat([next(iterator)[0] for _ in range(parts.steps)], axis=0)
    np.testing.assert_array_equal(stacked.numpy(), val.x)
    np.testing.assert_array_equal(next(iterator)[0].numpy(), val.x[:30])  # it repeats
