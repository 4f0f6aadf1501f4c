"""Loss weighting: every scheme trains and saves a plain model, adapts as published, and leaves the objective alone."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from mtl.errors import ConfigError
from mtl.models import ModelConfig
from mtl.objective import Objective, baseline_losses
from mtl.training import VAL_OBJECTIVE, TrainConfig, TrainResult, evaluate, train
from mtl.weighting import WEIGHTINGS, last_shared_kernel

CONFIG = ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4)
TASKS = ("task1", "task2")


def fit(splits, weighting: str, epochs: int, config: ModelConfig = CONFIG, **settings) -> TrainResult:
    """Train without early stopping (patience = epochs) at a brisk learning rate."""
    settings = {"epochs": epochs, "patience": epochs, "learning_rate": 0.02, "batch_size": 32, **settings}
    return train(config, splits, TrainConfig(weighting=weighting, **settings))


@pytest.mark.parametrize("weighting", sorted(WEIGHTINGS))
def test_each_weighting_trains_saves_and_keeps_the_objective(weighting, tiny_splits, tmp_path) -> None:
    constants = {"task1": 2.0, "task2": 0.5}
    result = fit(tiny_splits, weighting, epochs=2, loss_weights=constants)
    assert set(result.weights) == set(TASKS)
    for task in TASKS:
        assert result.weights[task] == result.history[f"weight_{task}"] and len(result.weights[task]) == 2
    if weighting == "fixed":
        assert result.weights == {task: [constants[task]] * 2 for task in TASKS}

    path = tmp_path / "model.keras"
    result.model.save(path)
    reloaded = keras.models.load_model(path)
    x = tiny_splits.test.x
    before, after = result.model.predict(x, verbose=0), reloaded.predict(x, verbose=0)
    for task in TASKS:
        np.testing.assert_array_equal(before[task], after[task])

    # The objective is the weight-free mean of val loss / baseline loss, every epoch and at the end.
    baselines = baseline_losses(tiny_splits, "val")
    recomputed = np.mean([np.array(result.history[f"val_{t}_loss"]) / baselines[t] for t in TASKS], axis=0)
    np.testing.assert_allclose(result.history[VAL_OBJECTIVE], recomputed, rtol=1e-6)
    evaluated = Objective().value(evaluate(result.model, tiny_splits.val, baselines), tiny_splits.tasks)
    assert result.objective == pytest.approx(evaluated, rel=1e-6)
    assert result.objective == pytest.approx(result.history[VAL_OBJECTIVE][result.best_epoch], rel=1e-5)


def test_uncertainty_learns_log_variances_and_logs_their_weights(tiny_splits) -> None:
    result = fit(tiny_splits, "uncertainty", epochs=3)
    for task in TASKS:
        log_vars = np.array(result.history[f"log_var_{task}"])
        assert np.all(log_vars != 0.0) and len(set(log_vars)) == 3  # they start at 0 and keep moving
        # the logged weight is the epoch's mean over its steps of exp(-s): between its values at the epoch's ends
        ends = np.exp(-np.concatenate([[0.0], log_vars]))
        low, high = np.minimum(ends[:-1], ends[1:]), np.maximum(ends[:-1], ends[1:])
        assert np.all((low - 1e-6 <= result.weights[task]) & (result.weights[task] <= high + 1e-6))


def test_dwa_follows_the_softmax_of_loss_ratios(tiny_splits) -> None:
    temperature = 1.5
    result = fit(tiny_splits, "dwa", epochs=4, weighting_options={"temperature": temperature})
    weights = np.array([result.weights[t] for t in TASKS])  # (task, epoch)
    losses = np.array([result.history[f"{t}_loss"] for t in TASKS])
    np.testing.assert_array_equal(weights[:, :2], 1.0)
    for epoch in (2, 3):
        ratios = losses[:, epoch - 1] / losses[:, epoch - 2]
        expected = len(TASKS) * np.exp(ratios / temperature) / np.exp(ratios / temperature).sum()
        np.testing.assert_allclose(weights[:, epoch], expected, rtol=1e-6)
    assert not np.allclose(weights[:, 2:], 1.0)


def test_gradnorm_moves_weights_that_sum_to_the_task_count(tiny_splits) -> None:
    result = fit(tiny_splits, "gradnorm", epochs=3)
    weights = np.array([result.weights[t] for t in TASKS])
    np.testing.assert_allclose(weights.sum(axis=0), len(TASKS), rtol=1e-5)
    assert np.abs(weights - 1.0).max() > 1e-3 and len(set(weights[0])) == 3
    assert last_shared_kernel(result.model, tiny_splits.train.x).path == "shared_0/kernel"


def test_gradnorm_without_shared_weights_stays_fixed(tiny_splits, caplog) -> None:
    config = ModelConfig(strategy="independent", shared_depth=1, shared_width=4, tower_depth=0)
    with caplog.at_level(logging.WARNING, logger="mtl.weighting.gradnorm"):
        result = fit(tiny_splits, "gradnorm", epochs=2, config=config)
    assert result.weights == {t: [1.0, 1.0] for t in TASKS}
    assert "no weight is shared" in caplog.text


@pytest.mark.parametrize(
    ("weighting", "options", "message"),
    [
        ("softmax", {}, "unknown weighting 'softmax'"),
        ("dwa", {"alpha": 1.0}, "unknown weighting option"),
        ("dwa", {"temperature": 0.0}, "'temperature' must be > 0"),
        ("gradnorm", {"alpha": "high"}, "must be a number"),
    ],
)
def test_bad_weighting_settings_are_config_errors(weighting, options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(weighting=weighting, weighting_options=options)
