"""A tuning trial alone in its batch trains as a stack of one copy, and its run holds what its lone training logs."""

from __future__ import annotations

import optuna
import pytest

from mtl.fused import train_stack
from search.space import load_space, optuna_suggest
from search.tracking import Tracker
from search.trial import BatchTrial, TrialContext, TrialOutcome, prepare_data, run_batch, run_trial
from tests.helpers import space_toml

LONGER = space_toml(training={"epochs": 12, "patience": 3})


def test_a_trial_alone_in_its_batch_is_a_stack_of_one_logged_as_its_lone_training(write_space, stores, monkeypatch) -> None:
    space = load_space(write_space(LONGER))
    tracker = Tracker(stores["tracking_uri"], "tiny")
    parent = tracker.open_parent(None, "sweep-tiny", {}, {"kind": "sweep"})
    ctx = TrialContext(space, prepare_data(space), tracker, parent, "tiny")
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    alone = run_trial(ctx, 7, optuna_suggest(trial), run_name="alone")
    lines: list[str] = []
    stacks: list[int] = []  # the size of every stack trained (the real trainer, watched)
    monkeypatch.setattr("search.trial._stacked.train_stack", lambda models, *args, **kwargs: stacks.append(len(models)) or train_stack(
        models, *args, **kwargs))
    (stacked,) = run_batch(ctx, [BatchTrial(7, optuna_suggest(optuna.trial.FixedTrial(trial.params, 7)), lambda run_id: None)],
                           lines.append)
    assert isinstance(stacked, TrialOutcome) and lines == [] and stacks == [1]  # one stack of one copy, nothing said
    for key in ("loss", "val_objective", "task1_loss", "val_task2_loss"):
        assert stacked.result.history[key] == pytest.approx(alone.result.history[key], rel=1e-4), key
    assert stacked.result.best_epoch == alone.result.best_epoch
    for task, metrics in alone.result.test.items():
        assert stacked.result.test[task] == pytest.approx(metrics, rel=1e-4), task
    runs = {r.info.run_name: r for r in tracker.client.search_runs([tracker.experiment_id], "tags.kind = 'trial'")}
    assert len(runs) == 2
    lone_run = runs.pop("alone")
    (one,) = runs.values()
    assert "stacked" not in one.data.tags  # the tag marks trials trained beside others
    assert one.data.params == lone_run.data.params
    assert one.data.metrics["objective"] == pytest.approx(lone_run.data.metrics["objective"], rel=1e-4)
    epochs = tracker.client.get_metric_history(one.info.run_id, "epoch/val/objective")
    assert [m.step for m in epochs] == list(range(len(alone.result.history["loss"])))
    assert one.outputs.model_outputs  # its Logged Model
