"""A trial trained alone is a stack of one copy, and its run holds what Keras' own fit of it logs."""

from __future__ import annotations

import optuna
import pytest

from mtl.fused import train_stack
from search.space import load_space, optuna_suggest
from search.tracking import Tracker
from search.trial import BatchTrial, TrialContext, TrialOutcome, prepare_data, run_batch, run_trial
from tests.helpers import space_toml

LONGER = space_toml(training={"epochs": 12, "patience": 3})


def context(write_space, stores) -> tuple[TrialContext, Tracker]:
    """A trial context on the tiny space trained 12 epochs, logging into ``stores``."""
    space = load_space(write_space(LONGER))
    tracker = Tracker(stores["tracking_uri"], "tiny")
    parent = tracker.open_parent(None, "sweep-tiny", {}, {"kind": "sweep"})
    return TrialContext(space, prepare_data(space), tracker, parent, "tiny"), tracker


def test_a_trial_alone_is_a_stack_of_one_logged_as_keras_fit_logs_it(write_space, stores, monkeypatch) -> None:
    ctx, tracker = context(write_space, stores)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    stacks: list[int] = []  # the size of every stack trained (the real trainer, watched)
    monkeypatch.setattr("mtl.fused.train_stack", lambda models, *args, **kwargs: stacks.append(len(models)) or train_stack(
        models, *args, **kwargs))
    monkeypatch.setenv("MTL_STACK", "0")  # the reference: Keras' own fit, and a line that says why
    lines: list[str] = []
    (reference,) = run_batch(ctx, [BatchTrial(7, optuna_suggest(trial), lambda run_id: None)], lines.append)
    assert isinstance(reference, TrialOutcome) and stacks == [] and lines == ["trial 7 trains alone: MTL_STACK=0 is set"]
    monkeypatch.delenv("MTL_STACK")
    lines.clear()
    (alone,) = run_batch(ctx, [BatchTrial(7, optuna_suggest(optuna.trial.FixedTrial(trial.params, 7)), lambda run_id: None)],
                         lines.append)
    assert isinstance(alone, TrialOutcome) and lines == [] and stacks == [1]  # one stack of one copy, nothing said
    for key in ("loss", "val_objective", "task1_loss", "val_task2_loss", "weight_task1"):
        assert alone.result.history[key] == pytest.approx(reference.result.history[key], rel=1e-4), key
    assert alone.result.best_epoch == reference.result.best_epoch
    for task, metrics in reference.result.test.items():
        assert alone.result.test[task] == pytest.approx(metrics, rel=1e-4), task
    fit_run, one = tracker.client.search_runs([tracker.experiment_id], "tags.kind = 'trial'", order_by=["start_time ASC"])
    assert "stacked" not in one.data.tags  # the tag marks trials trained beside others
    assert one.data.params == fit_run.data.params
    assert one.data.metrics["objective"] == pytest.approx(fit_run.data.metrics["objective"], rel=1e-4)
    for name in ("epoch/val/objective", "epoch/train/task1/loss", "epoch/weight/task2"):
        logged = tracker.client.get_metric_history(one.info.run_id, name)
        expected = tracker.client.get_metric_history(fit_run.info.run_id, name)
        assert [m.step for m in logged] == list(range(len(reference.result.history["loss"]))), name
        assert [m.value for m in logged] == pytest.approx([m.value for m in expected], rel=1e-4), name
    assert one.outputs.model_outputs  # its Logged Model


class PruneAfter:
    """A pruner that stops training after epoch ``epoch`` (what an engine's pruner does, without an engine)."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.asked, self.pruned_at = epoch, [], None

    def __call__(self, epoch: int, value: float) -> bool:
        self.asked.append(epoch)
        if epoch == self.epoch:
            self.pruned_at = epoch
            return True
        return False


def test_a_pruned_trial_alone_stops_where_its_pruner_says_and_logs_the_epochs_it_reached(write_space, stores) -> None:
    ctx, tracker = context(write_space, stores)
    pruner = PruneAfter(1)
    suggest = optuna_suggest(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2)).ask())
    outcome = run_trial(ctx, 3, suggest, pruning=pruner)
    assert outcome.pruned_at == 1 and pruner.asked == [0, 1]
    assert len(outcome.result.history["val_objective"]) == 2
    (run,) = tracker.client.search_runs([tracker.experiment_id], "tags.kind = 'trial'")
    assert run.data.tags["state"] == "PRUNED" and run.data.tags["pruned_at_epoch"] == "1"
    assert [m.step for m in tracker.client.get_metric_history(run.info.run_id, "epoch/val/objective")] == [0, 1]
