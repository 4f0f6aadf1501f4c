"""Warm starts: weights move by role, mismatches are named, frozen layers stay put, fine-tuning unfreezes."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from mtl.errors import ConfigError
from mtl.fused import train_stack
from mtl.models import ModelConfig, build_model
from mtl.models.roles import layer_roles
from mtl.training import TrainConfig, TrainResult, train
from mtl.warmstart import WarmStart, load_weights, read_source

HARD = ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4)


def built(config: ModelConfig, splits, tasks=None, seed: int = 0) -> keras.Model:
    x = splits.train.x
    return build_model(config, tasks or splits.tasks, x.mean(axis=0), x.var(axis=0), seed=seed)


def weights_of(model: keras.Model, name: str) -> list[np.ndarray]:
    return model.get_layer(name).get_weights()


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_roles_name_the_parts_of_every_layout(tiny_splits) -> None:
    hard = layer_roles(built(HARD, tiny_splits))
    assert {r: layer.name for r, layer in hard.items()} == {
        "trunk.0": "shared_0", "tower.task1.0": "tower_task1_0", "tower.task2.0": "tower_task2_0",
        "head.task1": "head_task1", "head.task2": "head_task2"}
    independent = layer_roles(built(ModelConfig(strategy="independent", shared_depth=2, shared_width=4), tiny_splits))
    assert independent["trunk.task2.1"].name == "trunk_task2_1" and "trunk.0" not in independent
    tied = layer_roles(built(ModelConfig(tie_outputs=True), tiny_splits))
    assert tied["head.task1"] is tied["head.task2"]


def test_loaded_weights_equal_the_source_before_training(tiny_splits) -> None:
    joint = built(HARD, tiny_splits, seed=1)
    single = {t.name: built(HARD, tiny_splits, tasks=(t,), seed=10 + i) for i, t in enumerate(tiny_splits.tasks)}
    target = built(HARD, tiny_splits, seed=2)
    warm = WarmStart(trunk=read_source(joint, "joint"), towers={n: read_source(m, n) for n, m in single.items()})
    filled = load_weights(target, warm)
    assert sorted(filled) == ["head.task1", "head.task2", "tower.task1.0", "tower.task2.0", "trunk.0"]
    assert same(weights_of(target, "shared_0"), weights_of(joint, "shared_0"))
    for name, model in single.items():
        for layer in (f"tower_{name}_0", f"head_{name}"):
            assert same(weights_of(target, layer), weights_of(model, layer))

    # an independent model takes each task's private trunk from that task's single-task model
    independent = built(ModelConfig(strategy="independent", shared_depth=1, shared_width=8, tower_depth=1, tower_width=4), tiny_splits)
    load_weights(independent, WarmStart(towers={n: read_source(m, n) for n, m in single.items()}))
    assert same(weights_of(independent, "trunk_task2_0"), weights_of(single["task2"], "shared_0"))


def test_a_mismatch_names_the_layer_and_both_shapes_and_copies_nothing(tiny_splits) -> None:
    target = built(HARD, tiny_splits, seed=2)
    before = target.get_weights()
    wide = read_source(built(ModelConfig(shared_depth=1, shared_width=16, tower_depth=1, tower_width=4), tiny_splits), "wide.keras")
    with pytest.raises(ConfigError, match=r"layer shared_0 \(trunk.0\) has weight shapes \[\(6, 8\), \(8,\)\], "
                                          r"the source wide.keras has \[\(6, 16\), \(16,\)\]"):
        load_weights(target, WarmStart(trunk=wide, towers={"task1": wide}))
    assert same(target.get_weights(), before)
    deep = read_source(built(ModelConfig(shared_depth=2, shared_width=8), tiny_splits), "deep")
    with pytest.raises(ConfigError, match=r"trunk from deep: the model has 1 layer\(s\) \(trunk.0\), the source 2"):
        load_weights(target, WarmStart(trunk=deep))
    with pytest.raises(ConfigError, match="no shared trunk"):
        load_weights(built(ModelConfig(strategy="mmoe"), tiny_splits), WarmStart(trunk=deep))


class Snapshots(keras.callbacks.Callback):
    """The weights of one layer of the trained network after every epoch."""

    def __init__(self, layer: str) -> None:
        super().__init__()
        self.layer, self.seen = layer, []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seen.append(self.model.net.get_layer(self.layer).get_weights())


def test_frozen_layers_stay_put_while_the_rest_moves(tiny_splits) -> None:
    source = read_source(built(HARD, tiny_splits, seed=1), "joint")
    config = TrainConfig(epochs=2, patience=5, learning_rate=0.01, seed=4)
    result = train(HARD, tiny_splits, config, warm=WarmStart(trunk=source, freeze="trunk"))
    assert same(weights_of(result.model, "shared_0"), list(source.weights["trunk.0"]))
    start = built(HARD, tiny_splits, seed=4)  # the same seed builds the same initial towers
    assert not same(weights_of(result.model, "tower_task1_0"), weights_of(start, "tower_task1_0"))
    assert not same(weights_of(result.model, "head_task2"), weights_of(start, "head_task2"))


def test_the_fine_tuning_phase_unfreezes(tiny_splits) -> None:
    source = read_source(built(HARD, tiny_splits, seed=1), "joint")
    trunk = Snapshots("shared_0")
    warm = WarmStart(trunk=source, towers={"task1": source}, freeze="all-but-heads", finetune_after=1, finetune_lr_factor=0.5)
    result = train(HARD, tiny_splits, TrainConfig(epochs=3, patience=5, learning_rate=0.01), warm=warm, callbacks=[trunk])
    assert len(trunk.seen) == 3 and len(result.history["loss"]) == 3
    assert same(trunk.seen[0], list(source.weights["trunk.0"]))  # frozen in epoch 1
    assert not same(trunk.seen[2], list(source.weights["trunk.0"]))  # trained after it
    assert all(layer.trainable for layer in result.model.layers)


def test_a_stack_warm_starts_freezes_and_fine_tunes_every_copy_as_its_lone_training(tiny_splits) -> None:
    source = read_source(built(HARD, tiny_splits, seed=1), "joint")
    warm = WarmStart(trunk=source, towers={"task1": source}, freeze="all-but-heads", finetune_after=2, finetune_lr_factor=0.5)
    settings = [TrainConfig(epochs=4, patience=5, learning_rate=rate, seed=seed) for rate, seed in ((0.01, 4), (0.03, 5))]
    stacked = train_stack([HARD, HARD], tiny_splits, settings, warm=warm)
    for setting, copy in zip(settings, stacked, strict=True):
        alone = train(HARD, tiny_splits, setting, warm=warm)
        assert isinstance(copy, TrainResult) and len(copy.history["loss"]) == 4
        for key in ("loss", "val_objective", "task1_loss", "val_task2_loss"):
            assert copy.history[key] == pytest.approx(alone.history[key], rel=1e-4), key
        assert copy.best_epoch == alone.best_epoch
        for task, metrics in alone.test.items():
            assert copy.test[task] == pytest.approx(metrics, rel=1e-4), task
        assert all(layer.trainable for layer in copy.model.layers)  # unfrozen for the fine-tuning phase
        assert not same(weights_of(copy.model, "shared_0"), list(source.weights["trunk.0"]))  # and trained in it

    frozen = train_stack([HARD, HARD], tiny_splits, [replace(s, epochs=2) for s in settings], warm=replace(warm, finetune_after=None))
    for copy in frozen:
        assert isinstance(copy, TrainResult)
        assert same(weights_of(copy.model, "shared_0"), list(source.weights["trunk.0"]))  # loaded, then never moved
        assert same(weights_of(copy.model, "tower_task1_0"), list(source.weights["tower.task1.0"]))
        assert not copy.model.get_layer("shared_0").trainable and copy.model.get_layer("head_task1").trainable
