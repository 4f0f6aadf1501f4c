"""The stacked copies' per-epoch validation: each copy's loss and metrics equal Keras' own on that copy's lone model."""

from __future__ import annotations

import pytest

from mtl.copy_trainer import CopyTrainer, CopyValidation
from mtl.copy_weighting import make_copy_weighting
from mtl.data import load_table, split
from mtl.fused import build_fused, copy_name
from mtl.models import ModelConfig
from mtl.objective import baseline_losses, per_task_metrics
from mtl.training import compile_trainer, evaluate_flat, task_metrics
from mtl.weighting import WeightedTrainer, make_weighting
from tests.conftest import MIXED_TASKS, mixed_frame


def test_copy_validation_matches_keras_metrics_of_every_copy_on_a_mixed_table(tmp_path) -> None:
    path = tmp_path / "mixed.csv"
    mixed_frame().to_csv(path, index=False)
    splits = split(load_table(path, MIXED_TASKS), 0.2, 0.2, seed=0)
    _, stacked, copies = build_fused(ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4), splits.train, (7, 8, 9))
    weighting = make_copy_weighting("fixed", splits.tasks, [{}] * 3, {}, (7, 8, 9))
    validation = CopyValidation(CopyTrainer(stacked, splits.tasks, weighting), splits.val, copy_name)
    logs: dict[str, float] = {}
    validation.on_epoch_begin(0)
    validation.on_epoch_end(0, logs)
    for k, copy in enumerate(copies):  # independent computation: a lone training's Keras evaluation of each copy
        for task, metrics in _lone_metrics(copy, splits).items():
            for metric, value in metrics.items():
                if metric == "normalized_loss":  # derived from the loss by the objective, not logged by the trainer
                    continue
                assert logs[f"val_{copy_name(task, k)}_{metric}"] == pytest.approx(value, rel=1e-4, abs=1e-6), (task, metric, k)
    assert {key for key in logs if key.startswith("val_churn_c0_")} == {"val_churn_c0_loss", "val_churn_c0_auc", "val_churn_c0_accuracy"}


def _lone_metrics(model, splits) -> dict[str, dict[str, float]]:
    """``{task: {metric: value}}`` of a lone model as a lone training evaluates it (its training wrapper, Keras metrics)."""
    trainer = WeightedTrainer(model, splits.tasks, make_weighting("fixed", splits.tasks, {}, {}))
    compile_trainer(trainer, 1e-3, task_metrics(splits.tasks))
    return per_task_metrics(evaluate_flat(trainer, splits.val), splits.tasks, baseline_losses(splits, "val"))
