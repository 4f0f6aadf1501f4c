"""Fused training: K seeded copies in one model are K trainings one by one, copy for copy."""

from __future__ import annotations

import numpy as np
import pytest

from mtl.copy_weighting import COPY_WEIGHTINGS
from mtl.data import load_table, split
from mtl.fused import train_fused, train_stack, why_not_stacked
from mtl.models import ModelConfig
from mtl.objective import baseline_losses
from mtl.training import TrainConfig, TrainResult, compile_trainer, evaluate, task_metrics, train
from mtl.weighting import WEIGHTINGS, WeightedTrainer, make_weighting
from tests.conftest import MIXED_TASKS, mixed_frame

CONFIG = ModelConfig("hard", shared_depth=1, shared_width=16, tower_depth=1, tower_width=8)
SEEDS = (11, 12, 13)


def test_every_fused_copy_is_its_unfused_training(tiny_splits) -> None:
    settings = TrainConfig(learning_rate=0.03, batch_size=32, epochs=60, patience=3, loss_weights={"task1": 1.5})
    fused = train_fused(CONFIG, tiny_splits, settings, SEEDS)
    plain = [train(CONFIG, tiny_splits, TrainConfig(**{**settings.__dict__, "seed": seed})) for seed in SEEDS]
    # every copy reads its own seed's batches: each is its unfused training, step for step (tolerance: float rounding)
    for copy, alone in zip(fused, plain, strict=True):
        assert len(copy.history["loss"]) == len(alone.history["loss"]) and copy.best_epoch == alone.best_epoch
        np.testing.assert_allclose(copy.history["val_objective"], alone.history["val_objective"], rtol=1e-4)
        np.testing.assert_allclose(copy.history["loss"], alone.history["loss"], rtol=1e-4)
        for task in ("task1", "task2"):
            assert copy.test[task]["loss"] == pytest.approx(alone.test[task]["loss"], rel=1e-4)
            assert copy.val[task]["normalized_loss"] == pytest.approx(alone.val[task]["normalized_loss"], rel=1e-4)
    # every copy stops on its own objective and keeps its best weights: its model alone scores what its result says
    assert len({len(r.history["loss"]) for r in fused}) > 1  # the copies stopped at different epochs
    for result in fused:
        assert len(result.history["val_objective"]) == len(result.history["loss"]) >= result.best_epoch + 1
        assert min(result.history["val_objective"]) == pytest.approx(result.objective, rel=1e-4)
        again = evaluate(result.model, tiny_splits.test, baseline_losses(tiny_splits, "test"))
        assert again["task2"]["loss"] == pytest.approx(result.test["task2"]["loss"], rel=1e-4)
        assert set(result.weights) == {"task1", "task2"} and result.weights["task1"][0] == pytest.approx(1.5)


@pytest.mark.parametrize(("weighting", "options", "kept"), [("uncertainty", {}, "log_var_task1"),
                                                             ("dwa", {"temperature": 0.5}, "weight_task1"),
                                                             ("rlw", {}, "weight_task1"), ("famo", {}, "weight_task1"),
                                                             ("gradnorm", {}, "weight_task1"),
                                                             # the gradient-level methods share one stacked path
                                                             # (CopyGradientAggregator); pcgrad draws, mgda_ub probes
                                                             *((m, {}, "weight_task1") for m in ("pcgrad", "upgrad", "mgda_ub"))])
def test_every_fused_copy_keeps_its_own_weighting_state_as_its_unfused_training(tiny_splits, weighting, options, kept) -> None:
    settings = TrainConfig(learning_rate=0.03, batch_size=32, epochs=8, patience=8, loss_weights={"task1": 1.5},
                           weighting=weighting, weighting_options=options)
    seeds = SEEDS[:2]
    learning_rates = (0.03, 0.01)  # each copy its own rate: its own log-variances move at it
    fused = train_stack([CONFIG] * 2, tiny_splits, [TrainConfig(**{**settings.__dict__, "seed": s, "learning_rate": r})
                                                     for s, r in zip(seeds, learning_rates, strict=True)])
    for copy, seed, rate in zip(fused, seeds, learning_rates, strict=True):
        assert isinstance(copy, TrainResult)
        alone = train(CONFIG, tiny_splits, TrainConfig(**{**settings.__dict__, "seed": seed, "learning_rate": rate}))
        np.testing.assert_allclose(copy.history["val_objective"], alone.history["val_objective"], rtol=1e-4)
        for task in ("task1", "task2"):
            np.testing.assert_allclose(copy.history[f"{task}_loss"], alone.history[f"{task}_loss"], rtol=1e-4)
            np.testing.assert_allclose(copy.weights[task], alone.weights[task], rtol=1e-4)  # the weights it trained with
        np.testing.assert_allclose(copy.history[kept], alone.history[kept], rtol=1e-4, atol=1e-6)
        assert len(set(np.round(copy.weights["task1"], 6))) > 1  # the state moved: the weights are not the constants
    assert not np.allclose(fused[0].weights["task1"], fused[1].weights["task1"])  # and each copy's moved its own way


def test_every_weighting_has_a_stacked_form_and_copies_of_a_stack_weigh_alike() -> None:
    assert set(COPY_WEIGHTINGS) == set(WEIGHTINGS)
    assert why_not_stacked([TrainConfig(weighting="dwa"), TrainConfig()]) == "the trainings differ in their weighting or its options"


def test_fused_copies_of_a_mixed_table_with_missing_targets_are_their_unfused_trainings(tmp_path) -> None:
    path = tmp_path / "mixed.csv"
    mixed_frame().to_csv(path, index=False)
    splits = split(load_table(path, MIXED_TASKS), 0.2, 0.2, seed=0)
    assert isinstance(splits.train.inputs, dict) and splits.train.sample_weights is not None
    settings = TrainConfig(learning_rate=0.003, batch_size=16, epochs=4, patience=10)
    fused = train_fused(ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4), splits, settings, (5, 6))
    for seed, copy in zip((5, 6), fused, strict=True):
        alone = train(ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4), splits,
                      TrainConfig(**{**settings.__dict__, "seed": seed}))
        # "loss" is not compared: alone it is the mean of the batches' totals, fused the sum of the per-task means
        # 1e-3 here: each step matches to float rounding (tests/mtl/test_stacked.py), and the rounding of the stacked
        # kernels' reassociated float32 sums grows to a few 1e-4 over 36 steps on this table
        for task in ("price", "churn", "segment"):
            np.testing.assert_allclose(copy.history[f"{task}_loss"], alone.history[f"{task}_loss"], rtol=1e-3)
        np.testing.assert_allclose(copy.history["val_objective"], alone.history["val_objective"], rtol=1e-3)
        assert copy.objective == pytest.approx(alone.objective, rel=1e-3)
        # the final test metrics (ROC AUC, accuracy, RMSE, ...) are those a lone training's Keras evaluation gives the
        # copy's own model (each over its present targets)
        lone_evaluation = WeightedTrainer(copy.model, splits.tasks, make_weighting("fixed", splits.tasks, {}, {}))
        compile_trainer(lone_evaluation, 1e-3, task_metrics(splits.tasks))
        keras_says = evaluate(lone_evaluation, splits.test, baseline_losses(splits, "test"))
        for task in ("price", "churn", "segment"):
            assert copy.test[task].keys() == keras_says[task].keys() == alone.test[task].keys()
            for metric, value in keras_says[task].items():
                assert copy.test[task][metric] == pytest.approx(value, rel=1e-4, abs=1e-6), (task, metric)
