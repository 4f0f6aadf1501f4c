"""Joint training: the objective ignores loss weights, divergence fails the trial, seeds reproduce."""

from __future__ import annotations

import numpy as np
import pytest

from mtl.data import Dataset, split
from mtl.errors import TrialFailed
from mtl.models import ModelConfig
from mtl.objective import Objective, baseline_losses
from mtl.tasks import Task
from mtl.training import VAL_OBJECTIVE, TrainConfig, compile_model, evaluate, train

CONFIG = ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4)


def test_objective_is_independent_of_loss_weights(tiny_splits) -> None:
    result = train(CONFIG, tiny_splits, TrainConfig(epochs=2, batch_size=64, loss_weights={"task1": 1.0, "task2": 1.0}))
    baselines = baseline_losses(tiny_splits, "val")
    objectives, weighted = [], []
    for weights in ({"task1": 1.0, "task2": 1.0}, {"task1": 10.0, "task2": 0.1}):
        compile_model(result.model, tiny_splits, TrainConfig(loss_weights=weights))
        flat = result.model.evaluate(tiny_splits.val.x, tiny_splits.val.y, verbose=0, return_dict=True)
        weighted.append(flat["loss"])
        objectives.append(Objective().value(evaluate(result.model, tiny_splits.val, baselines), tiny_splits.tasks))
    assert abs(weighted[0] - weighted[1]) > 0.1 * weighted[0]  # the weighted loss moves...
    assert objectives[0] == pytest.approx(objectives[1], rel=1e-6)  # ...the objective does not
    assert objectives[0] == pytest.approx(result.objective, rel=1e-5)


def test_normalised_loss_is_one_for_the_trivial_predictor(tiny_splits) -> None:
    baselines = baseline_losses(tiny_splits, "val")
    for task in tiny_splits.tasks:
        mean = tiny_splits.train.y[task.name].mean()
        mse = float(np.mean((tiny_splits.val.y[task.name] - mean) ** 2))
        assert mse / baselines[task.name] == pytest.approx(1.0)


def test_early_stopping_keeps_the_best_validation_epoch(tiny_splits) -> None:
    result = train(CONFIG, tiny_splits, TrainConfig(epochs=6, patience=2, learning_rate=0.05, batch_size=32))
    curve = result.history[VAL_OBJECTIVE]
    assert result.best_epoch == int(np.argmin(curve))
    assert result.objective == pytest.approx(min(curve), rel=1e-4)
    assert set(result.val) == set(result.test) == {"task1", "task2"}
    assert {"loss", "rmse", "mae", "normalized_loss"} <= set(result.test["task1"])


def test_same_seed_same_result(tiny_splits) -> None:
    a = train(CONFIG, tiny_splits, TrainConfig(epochs=2, seed=4))
    b = train(CONFIG, tiny_splits, TrainConfig(epochs=2, seed=4))
    assert a.objective == pytest.approx(b.objective, rel=1e-6)


def test_divergence_fails_the_trial(tiny_splits) -> None:
    with pytest.raises(TrialFailed, match="diverged"):
        train(CONFIG, tiny_splits, TrainConfig(epochs=3, learning_rate=1e9))


def test_classification_tasks_train_with_their_metrics() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = {"b": (x[:, 0] > 0).astype("float32"), "m": np.digitize(x[:, 1], [-0.5, 0.5]).astype("float32")}
    data = Dataset(x, y, (Task("b", "binary"), Task("m", "multiclass", 3)), ("a", "b", "c", "d"))
    result = train(CONFIG, split(data, 0.2, 0.2, seed=0), TrainConfig(epochs=8, learning_rate=0.02, batch_size=32))
    assert set(result.val["b"]) == {"loss", "auc", "accuracy", "normalized_loss"}
    assert result.val["b"]["normalized_loss"] < 0.9 and result.val["m"]["normalized_loss"] < 0.9


def test_repeated_trials_do_not_accumulate_keras_graphs(tiny_splits) -> None:
    names = []
    for _ in range(3):
        model = train(CONFIG, tiny_splits, TrainConfig(epochs=1)).model
        names.append(sorted([layer.name for layer in model.layers] + [v.path for v in model.variables + model.optimizer.variables]))
    assert names[0] == names[1] == names[2]  # no "_1", "_2" suffixes piling up across trials


def test_a_single_task_trains_with_its_named_metrics(tiny_splits) -> None:
    task = tiny_splits.tasks[0]
    one = split(Dataset(tiny_splits.train.x, {task.name: tiny_splits.train.y[task.name]}, (task,), tiny_splits.train.feature_names),
                0.25, 0.25, seed=0)
    result = train(CONFIG, one, TrainConfig(epochs=2))
    assert set(result.val) == {"task1"} and {"loss", "rmse", "mae", "normalized_loss"} <= set(result.val["task1"])
    assert "val_task1_rmse" in result.history
