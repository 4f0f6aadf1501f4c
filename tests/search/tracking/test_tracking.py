"""Epoch metrics batched into few MLflow writes, read back from a real store; the sweep's process settings."""

from __future__ import annotations

import gc

import tensorflow as tf
from mlflow.tracking import MlflowClient

from search.tracking import EpochLogger, Tracker
from search.trial import lean_process


def logged_epochs(tiny_splits, tracking_uri: str, every: float, epochs: int = 3) -> tuple[int, int, list[int]]:
    """Feed ``epochs`` epochs of logs to an :class:`EpochLogger`: (writes before training ended, writes, steps read back)."""
    tracker = Tracker(tracking_uri, "epochs")
    run_id = tracker.start_trial(None, "trial-000", {}, {})
    writes = []

    def write(job) -> None:
        writes.append(job)
        job()

    logger = EpochLogger(tracker, run_id, tiny_splits.tasks, write, every=every)
    logger.on_train_begin()
    for epoch in range(epochs):
        logger.on_epoch_end(epoch, {"task1_loss": 1.0 / (epoch + 1), "val_task1_loss": 2.0, "val_objective": 0.5})
    before_end = len(writes)
    logger.on_train_end()
    history = MlflowClient(tracking_uri).get_metric_history(run_id, "epoch/train/task1/loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == [1.0, 0.5, 1.0 / 3]
    return before_end, len(writes), sorted(m.step for m in history)


def test_epochs_are_sent_in_one_write_at_the_end_when_training_is_quick(tiny_splits, stores) -> None:
    before_end, total, steps = logged_epochs(tiny_splits, stores["tracking_uri"], every=3600)
    assert (before_end, total, steps) == (0, 1, [0, 1, 2])


def test_epochs_are_sent_as_they_come_once_the_interval_has_passed(tiny_splits, stores) -> None:
    before_end, total, steps = logged_epochs(tiny_splits, stores["tracking_uri"], every=0)
    assert (before_end, total, steps) == (3, 3, [0, 1, 2])  # nothing left for the end


def test_lean_process_freezes_the_heap_and_switches_grappler_off_then_restores_both(monkeypatch) -> None:
    monkeypatch.delenv("MTL_GRAPPLER", raising=False)
    assert gc.get_freeze_count() == 0
    with lean_process():
        assert gc.get_freeze_count() > 0
        assert tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer") is True
    assert gc.get_freeze_count() == 0
    assert not tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer")
    monkeypatch.setenv("MTL_GRAPPLER", "1")
    with lean_process():
        assert not tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer")
