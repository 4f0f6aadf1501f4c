"""Padded stacks: tuning trials of unlike widths, depths, learning rates and task weights train as one stacked
model, and every copy computes, learns and exports exactly what its lone training does."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl.data import load_table, split
from mtl.errors import TrialFailed
from mtl.fused import build_stack, copy_name, train_stack, why_not_stacked
from mtl.models import STRATEGIES, ModelConfig
from mtl.padding import padded_config, stack_key
from mtl.stacked import CannotPad, StackedDropout, build_stacked, copy_weights
from mtl.training import TrainConfig, build_for, train
from tests.conftest import MIXED_TASKS, mixed_frame

OPTIONS = {"mmoe": {"n_experts": 2}, "cgc": {}, "ple": {"levels": 1}, "grouped": {"groups": "task1|task2"}}


def _configs(strategy: str, tied: bool = False) -> list[ModelConfig]:
    """Three configurations of ``strategy`` with one stack key and unlike widths, depths and dropout."""
    options = OPTIONS.get(strategy, {})
    return [ModelConfig(strategy, shared_depth=1, shared_width=8, tower_depth=1, tower_width=4, tie_outputs=tied, options=options),
            ModelConfig(strategy, shared_depth=2, shared_width=5, tower_depth=2, tower_width=6, tie_outputs=tied, options=options,
                        dropout=0.1),
            ModelConfig(strategy, shared_depth=1, shared_width=3, tower_depth=0, tower_width=7, tie_outputs=tied, options=options)]


@pytest.mark.parametrize(("strategy", "tied"), [*((s, False) for s in sorted(STRATEGIES)), ("hard", True)])
def test_every_strategy_s_padded_copies_compute_and_learn_as_their_lone_models(strategy: str, tied: bool, tiny_splits) -> None:
    keras.backend.clear_session()
    configs, seeds = _configs(strategy, tied), (1, 2, 3)
    assert len({stack_key(c) for c in configs}) == 1
    net, stacked, copies = build_stack(configs, tiny_splits.train, seeds)
    rows = tiny_splits.train.take(np.arange(24))
    x = tf.stack([tf.constant(rows.inputs)] * 3, axis=1)
    tasks = tiny_splits.tasks
    with tf.GradientTape() as tape:  # training=False: dropout's draws differ from a lone model's (its rate is per copy)
        predicted = net(x, training=False)
        total = tf.add_n([tf.reduce_mean(tf.square(predicted[copy_name(t.name, k)][:, 0] - rows.targets[t.name]))
                          for k in range(3) for t in tasks])
    grads = dict(zip([v.path for v in net.trainable_variables], tape.gradient(total, net.trainable_variables)))
    for k, (config, seed, copy) in enumerate(zip(configs, seeds, copies, strict=True)):
        alone = build_for(config, tiny_splits.train, seed)
        assert all(np.array_equal(a, b) for a, b in zip(alone.get_weights(), copy_weights(stacked, copy, k), strict=True))
        with tf.GradientTape() as tape:
            out = copy(rows.inputs, training=False)
            loss = tf.add_n([tf.reduce_mean(tf.square(out[t.name][:, 0] - rows.targets[t.name])) for t in tasks])
        for t in tasks:
            np.testing.assert_allclose(np.asarray(predicted[copy_name(t.name, k)]), np.asarray(out[t.name]), rtol=1e-5, atol=1e-6)
        for variable, grad in zip(copy.trainable_variables, tape.gradient(loss, copy.trainable_variables), strict=True):
            padded = np.asarray(tf.convert_to_tensor(grads[stacked.get_layer(variable.path.split("/")[0]).weights[
                [w.path.split("/")[-1] for w in copy.get_layer(variable.path.split("/")[0]).weights].index(
                    variable.path.split("/")[-1])].path]))[k]
            corner = tuple(slice(0, n) for n in variable.shape)
            np.testing.assert_allclose(padded[corner], np.asarray(tf.convert_to_tensor(grad)), rtol=1e-4, atol=1e-6)
            rest = padded.copy()
            rest[corner] = 0.0
            assert not rest.any(), f"{variable.path}: a padded weight of copy {k} would move"
    for layer in stacked.layers:  # a layer copy k lacks gets no gradient in copy k's slice
        for variable in layer.trainable_weights:
            for k, copy in enumerate(copies):
                if layer.name not in [c.name for c in copy.layers]:
                    assert not np.asarray(tf.convert_to_tensor(grads[variable.path]))[k].any()


def test_a_padded_stack_trains_every_copy_as_its_lone_training_and_exports_lone_models(tiny_splits) -> None:
    configs = [replace(c, dropout=0.0) for c in _configs("hard")]  # dropout's draws are per copy, not its lone model's
    settings = [TrainConfig(learning_rate=rate, batch_size=32, epochs=6, patience=3, loss_weights=weights, seed=seed)
                for rate, weights, seed in ((0.03, {"task1": 1.5}, 11), (0.01, {}, 12), (0.02, {"task2": 0.5}, 13))]
    stacked = train_stack(configs, tiny_splits, settings)
    assert not any(isinstance(copy, TrialFailed) for copy in stacked)
    # the padded copies against their lone trainings: the deeper one, and the one whose tower has depth 0
    for config, setting, copy in list(zip(configs, settings, stacked, strict=True))[1:]:
        assert not isinstance(copy, TrialFailed)
        alone = train(config, tiny_splits, setting)
        assert len(copy.history["loss"]) == len(alone.history["loss"]) and copy.best_epoch == alone.best_epoch
        np.testing.assert_allclose(copy.history["val_objective"], alone.history["val_objective"], rtol=1e-4)
        assert copy.test["task1"]["loss"] == pytest.approx(alone.test["task1"]["loss"], rel=1e-4)
        # the exported model is the lone network, un-padded, with the copy's trained weights
        assert [w.shape for w in copy.model.get_weights()] == [w.shape for w in alone.model.get_weights()]
        np.testing.assert_allclose(copy.model.predict(tiny_splits.test.inputs, verbose=0)["task2"],
                                   alone.model.predict(tiny_splits.test.inputs, verbose=0)["task2"], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("weighting", ["gradnorm", "upgrad", "mgda_ub"])
def test_gradient_based_weightings_read_each_padded_copy_s_own_shared_variables(weighting: str, tiny_splits) -> None:
    configs = [replace(c, dropout=0.0) for c in _configs("hard")[:2]]  # trunks of depth 1 and 2: unlike shared variables
    settings = [TrainConfig(learning_rate=rate, batch_size=32, epochs=4, patience=4, weighting=weighting, seed=seed)
                for rate, seed in ((0.03, 11), (0.01, 12))]
    stacked = train_stack(configs, tiny_splits, settings)
    for config, setting, copy in zip(configs, settings, stacked, strict=True):
        assert not isinstance(copy, TrialFailed)
        alone = train(config, tiny_splits, setting)
        np.testing.assert_allclose(copy.weights["task1"], alone.weights["task1"], rtol=1e-4)
        np.testing.assert_allclose(copy.history["val_objective"], alone.history["val_objective"], rtol=1e-4)
        assert len(set(np.round(copy.weights["task1"], 6))) > 1  # the weights moved


def test_padded_copies_take_a_mixed_table_with_missing_values_strings_and_categories(tmp_path) -> None:
    path = tmp_path / "mixed.csv"
    mixed_frame(rows=200).to_csv(path, index=False)  # as pandas reads it: ints, strings, missing values, three task kinds
    splits = split(load_table(path, MIXED_TASKS), 0.2, 0.2, seed=0)
    configs = [replace(c, dropout=0.0) for c in _configs("hard")]
    settings = [TrainConfig(learning_rate=0.01, batch_size=16, epochs=1, patience=1, seed=seed) for seed in (1, 2, 3)]
    # build_stack checks every padded copy's outputs against its lone model on 8 rows before anything trains
    _, _, copies = build_stack(configs, splits.train, [s.seed for s in settings])
    assert {"Embedding", "StringLookup", "MissingIndicator"} <= {layer.__class__.__name__ for layer in copies[0].layers}
    results = train_stack(configs, splits, settings)
    for config, result in zip(configs, results, strict=True):
        assert not isinstance(result, TrialFailed) and np.isfinite(result.objective)
        assert [w.shape for w in result.model.get_weights()] == [w.shape for w in build_for(config, splits.train, 0).get_weights()]


def test_a_diverging_copy_fails_alone_and_the_others_train_on(tiny_splits) -> None:
    configs = _configs("hard")[:2]
    settings = [TrainConfig(learning_rate=1e9, batch_size=32, epochs=4, seed=1), TrainConfig(learning_rate=0.01, batch_size=32,
                                                                                             epochs=4, seed=2)]
    failed, trained = train_stack(configs, tiny_splits, settings)
    assert isinstance(failed, TrialFailed) and "diverged" in str(failed)
    assert not isinstance(trained, TrialFailed) and np.isfinite(trained.objective) and len(trained.history["loss"]) == 4


def test_padded_dropout_drops_each_copy_at_its_own_rate() -> None:
    dropout = StackedDropout(np.array([0.0, 0.5, 0.9]), seed=0)
    kept = np.asarray(dropout(tf.ones((4000, 3, 5)), training=True))
    np.testing.assert_array_equal(kept[:, 0], 1.0)  # rate 0: the copy passes unchanged
    for k, rate in ((1, 0.5), (2, 0.9)):
        assert (kept[:, k] == 0).mean() == pytest.approx(rate, abs=0.02) and kept[:, k].mean() == pytest.approx(1.0, abs=0.05)
    assert np.array_equal(np.asarray(dropout(tf.ones((2, 3, 5)), training=False)), np.ones((2, 3, 5)))


def test_what_cannot_share_a_stack_says_why() -> None:
    hard = ModelConfig("hard", shared_depth=1, tower_depth=1)
    assert stack_key(hard) == stack_key(replace(hard, tower_depth=0))  # a tower of depth 0 passes the trunk through
    assert stack_key(hard) != stack_key(replace(hard, shared_depth=0)) != stack_key(replace(hard, activation="tanh"))
    assert stack_key(replace(hard, shared_depth=0)) != stack_key(replace(hard, shared_depth=0, tower_depth=0))
    assert padded_config([hard, replace(hard, shared_width=100, tower_depth=3, dropout=0.2)]) == replace(
        hard, shared_width=100, tower_width=100, tower_depth=3, dropout=0.2)
    with pytest.raises(ValueError, match="stack keys"):
        padded_config([hard, replace(hard, strategy="independent")])
    assert why_not_stacked([TrainConfig(batch_size=32), TrainConfig(batch_size=64)]) == (
        "the trainings differ in batch size, epochs or patience")
    assert why_not_stacked([TrainConfig(learning_rate=0.1, loss_weights={"a": 2.0}), TrainConfig()]) is None
    with pytest.raises(CannotPad, match="identity"):  # a first layer missing from a copy cannot pass the features through
        build_stacked([_chain("a", "b"), _chain("b")], template=_chain("a", "b"))


def _chain(*names: str) -> keras.Model:
    """Dense layers of 2 units named ``names``, in order, over 3 inputs."""
    x = inputs = keras.Input((3,), name="x")
    for name in names:
        x = keras.layers.Dense(2, name=name)(x)
    return keras.Model(inputs, {"y": x})
