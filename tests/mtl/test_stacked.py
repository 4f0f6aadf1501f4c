"""Stacked copies: every strategy's K copies as one network compute, and learn, exactly what K lone networks do."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl.data import load_table, split
from mtl.fused import build_fused, copy_name, copy_tasks
from mtl.models import STRATEGIES, ModelConfig
from mtl.stacked import copy_weights
from mtl.training import build_for
from mtl.weighting import WeightedTrainer, make_weighting
from tests.conftest import MIXED_TASKS, mixed_frame

SEEDS = (3, 4, 5)
OPTIONS = {"mmoe": {"n_experts": 3, "expert_width": 8}, "cgc": {"expert_width": 8}, "ple": {"expert_width": 8},
           "grouped": {"groups": "task1|task2"}}
CONFIGS = [pytest.param(ModelConfig(s, shared_depth=2, shared_width=8, tower_depth=1, tower_width=4, options=OPTIONS.get(s, {})), id=s)
           for s in sorted(STRATEGIES)]
CONFIGS.append(pytest.param(ModelConfig("hard", shared_depth=1, shared_width=8, tower_depth=1, tower_width=4, tie_outputs=True),
                            id="hard-tied"))


def _batches(data, rows: int) -> list:
    """One batch of ``rows`` rows per seed, each drawn with that seed (the copies' own feeds)."""
    picks = [np.random.default_rng(seed).choice(len(data), rows, replace=False) for seed in SEEDS]
    return [data.take(p) for p in picks]


def _stacked_input(batches) -> object:
    parts = [b.inputs for b in batches]
    if isinstance(parts[0], dict):
        return {k: np.stack([p[k] if p[k].ndim > 1 else p[k][:, None] for p in parts], axis=1) for k in parts[0]}
    return np.stack(parts, axis=1)


def _check_copies(config: ModelConfig, splits) -> None:
    """Forward pass and one step's gradients of every copy: stacked against lone, to float rounding."""
    net, stacked, copies = build_fused(config, splits.train, SEEDS)
    for index, (seed, copy) in enumerate(zip(SEEDS, copies, strict=True)):
        alone = build_for(config, splits.train, seed)  # each slice starts as the lone model of its seed
        assert all(np.array_equal(a, b) for a, b in zip(alone.get_weights(), copy_weights(stacked, copy, index), strict=True))
    batches = _batches(splits.train, 24)
    x = _stacked_input(batches)
    tasks = splits.tasks
    fused_tasks = copy_tasks(tasks, len(SEEDS))
    trainer = WeightedTrainer(net, fused_tasks, make_weighting("fixed", fused_tasks, {}, {}))
    y = {copy_name(t.name, k): b.targets[t.name] for k, b in enumerate(batches) for t in tasks}
    weights = batches[0].sample_weights and {copy_name(t.name, k): b.sample_weights[t.name] for k, b in enumerate(batches)
                                             for t in tasks}
    with tf.GradientTape() as tape:
        predicted = net(x, training=True)
        total = trainer.weighting.combine(trainer.batch_losses(y, predicted, weights))
    stacked_grads = dict(zip([v.path for v in net.trainable_variables], tape.gradient(total, net.trainable_variables)))
    for k, (copy, batch) in enumerate(zip(copies, batches, strict=True)):
        lone_trainer = WeightedTrainer(copy, tasks, make_weighting("fixed", tasks, {}, {}))
        with tf.GradientTape() as tape:
            alone = copy(batch.inputs, training=True)
            loss = lone_trainer.weighting.combine(lone_trainer.batch_losses(batch.targets, alone, batch.sample_weights))
        for t in tasks:
            np.testing.assert_allclose(np.asarray(predicted[copy_name(t.name, k)]), np.asarray(alone[t.name]), rtol=1e-5, atol=1e-6)
        lone_grads = tape.gradient(loss, copy.trainable_variables)
        assert len(lone_grads) == len(stacked_grads)
        for variable, grad in zip(copy.trainable_variables, lone_grads, strict=True):
            mine = np.asarray(tf.convert_to_tensor(stacked_grads[variable.path]))[k]  # every trainable weight has a copy axis
            np.testing.assert_allclose(mine, np.asarray(tf.convert_to_tensor(grad)), rtol=1e-4, atol=1e-6, err_msg=variable.path)


@pytest.mark.parametrize("config", CONFIGS)
def test_every_strategy_s_stacked_copies_are_their_lone_models(config: ModelConfig, tiny_splits) -> None:
    keras.backend.clear_session()
    _check_copies(config, tiny_splits)


def test_stacked_copies_take_mixed_tables_with_missing_values_and_embeddings(tmp_path) -> None:
    path = tmp_path / "mixed.csv"
    mixed_frame(rows=240).assign(city=lambda f: f["city"].astype(str) + (f.index % 13).astype(str)).to_csv(path, index=False)
    splits = split(load_table(path, MIXED_TASKS), 0.2, 0.2, seed=0)
    layers = [layer.__class__.__name__ for layer in build_for(ModelConfig(shared_width=8, tower_width=4), splits.train, 0).layers]
    assert "Embedding" in layers and "StringLookup" in layers and "MissingIndicator" in layers
    _check_copies(ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4), splits)
