"""Fused training: K seeded copies in one model are the same experiment as K trainings one by one."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mtl.fused import build_fused, can_fuse, train_fused
from mtl.models import ModelConfig
from mtl.objective import baseline_losses
from mtl.training import TrainConfig, build_for, evaluate, train

CONFIG = ModelConfig("hard", shared_depth=1, shared_width=16, tower_depth=1, tower_width=8)
SEEDS = (11, 12, 13)


def test_each_copy_starts_as_the_unfused_model_of_its_seed(tiny_splits) -> None:
    _, copies = build_fused(CONFIG, tiny_splits.train, SEEDS)
    for seed, copy in zip(SEEDS, copies, strict=True):
        alone = build_for(CONFIG, tiny_splits.train, seed)
        assert all(np.array_equal(a, b) for a, b in zip(alone.get_weights(), copy.get_weights(), strict=True))


def test_fused_copies_match_unfused_trainings(tiny_splits) -> None:
    settings = TrainConfig(learning_rate=0.03, batch_size=32, epochs=60, patience=3, loss_weights={"task1": 1.5})
    fused = train_fused(CONFIG, tiny_splits, settings, SEEDS)
    plain = [train(CONFIG, tiny_splits, TrainConfig(**{**settings.__dict__, "seed": seed})) for seed in SEEDS]
    # the copy whose seed orders the batches is the unfused training, step for step (tolerance: float rounding)
    first, alone = fused[0], plain[0]
    assert len(first.history["loss"]) == len(alone.history["loss"]) and first.best_epoch == alone.best_epoch
    np.testing.assert_allclose(first.history["val_objective"], alone.history["val_objective"], rtol=1e-4)
    np.testing.assert_allclose(first.history["loss"], alone.history["loss"], rtol=1e-4)
    for task in ("task1", "task2"):
        assert first.test[task]["loss"] == pytest.approx(alone.test[task]["loss"], rel=1e-4)
    # every copy stops on its own objective and keeps its best weights: its model alone scores what its result says
    assert len({len(r.history["loss"]) for r in fused}) > 1  # the copies stopped at different epochs
    for result in fused:
        assert len(result.history["val_objective"]) == len(result.history["loss"]) >= result.best_epoch + 1
        assert min(result.history["val_objective"]) == pytest.approx(result.objective, rel=1e-4)
        again = evaluate(result.model, tiny_splits.test, baseline_losses(tiny_splits, "test"))
        assert again["task2"]["loss"] == pytest.approx(result.test["task2"]["loss"], rel=1e-4)
        assert set(result.weights) == {"task1", "task2"} and result.weights["task1"][0] == pytest.approx(1.5)
    # the others differ only in batch order: the same experiment. Stated tolerance: the copies' test objectives and the
    # unfused seeds' are not told apart by a two-sample t-test at the 1% level
    scores = {name: [float(np.mean([r.test[t]["normalized_loss"] for t in ("task1", "task2")])) for r in runs]
              for name, runs in (("fused", fused), ("plain", plain))}
    assert stats.ttest_ind(scores["fused"], scores["plain"], equal_var=False).pvalue > 0.01, scores


def test_weightings_with_state_do_not_fuse() -> None:
    assert can_fuse(TrainConfig()) and not can_fuse(TrainConfig(weighting="gradnorm"))
    with pytest.raises(ValueError, match="does not fuse"):
        train_fused(CONFIG, None, TrainConfig(weighting="dwa"), SEEDS)  # type: ignore[arg-type]
