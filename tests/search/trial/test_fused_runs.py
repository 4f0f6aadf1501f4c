"""Seeds trained side by side are logged as one MLflow run each, as a lone training of that seed logs it."""

from __future__ import annotations

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest

from search.space import load_space, optuna_suggest
from search.tracking import Tracker
from search.trial import TrialContext, prepare_data, run_fused, run_trial, why_not_fused
from tests.helpers import space_toml

LONGER = space_toml(training={"epochs": 15, "patience": 3})
NUMBERS = (20_000, 20_001, 20_002)


def _context(write_space, stores, text: str = LONGER) -> tuple[TrialContext, optuna.trial.FrozenTrial]:
    space = load_space(write_space(text))
    tracker = Tracker(stores["tracking_uri"], "tiny")
    parent = tracker.open_parent(None, "sweep-tiny", {}, {"kind": "sweep"})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    return TrialContext(space, prepare_data(space), tracker, parent, "tiny"), trial


def test_side_by_side_seeds_log_one_run_each_and_the_first_matches_its_lone_twin(write_space, stores, monkeypatch) -> None:
    ctx, trial = _context(write_space, stores)
    alone = run_trial(ctx, NUMBERS[0], optuna_suggest(trial), kind="confirmation", run_name="alone")
    params = trial.params
    fixed = optuna_suggest(optuna.trial.FixedTrial(params, NUMBERS[0]))
    assert why_not_fused(ctx) is None
    outcomes = run_fused(ctx, NUMBERS, fixed, "confirmation", [{"seed": n} for n in NUMBERS],
                         [f"fused-{n}" for n in NUMBERS])

    client = ctx.tracker.client
    runs = {r.info.run_name: r for r in client.search_runs([ctx.tracker.experiment_id], "tags.kind = 'confirmation'")}
    assert set(runs) == {"alone", *(f"fused-{n}" for n in NUMBERS)}
    for number, outcome in zip(NUMBERS, outcomes, strict=True):
        run = runs[f"fused-{number}"]
        assert run.info.status == "FINISHED" and run.data.tags["state"] == "COMPLETE" and run.data.tags["seed"] == str(number)
        assert run.data.tags["mlflow.parentRunId"] == ctx.parent_run_id
        assert run.data.params == runs["alone"].data.params  # the same configuration, logged the same way
        epochs = client.get_metric_history(run.info.run_id, "epoch/val/objective")
        assert [m.step for m in epochs] == list(range(len(outcome.result.history["loss"])))  # cut where the copy stopped
        assert min(m.value for m in epochs) == pytest.approx(run.data.metrics["objective"], rel=1e-4)
        assert {f"test/{t}/loss" for t in ("task1", "task2")} <= set(run.data.metrics)
        assert run.outputs.model_outputs and len(run.inputs.dataset_inputs) == 3  # its Logged Model and datasets
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"history.json", "learning_curves.png"}
    # every copy reads its own seed's batches: the first (trained alone too) is its lone twin, step for step
    # (tolerance: float rounding)
    first, twin = runs[f"fused-{NUMBERS[0]}"].data.metrics, runs["alone"].data.metrics
    for key in ("objective", "best_epoch", "test/task1/loss", "test/task2/loss"):
        assert first[key] == pytest.approx(twin[key], rel=1e-4), key
    assert len({runs[f"fused-{n}"].data.metrics["test/task1/loss"] for n in NUMBERS}) == 3  # each copy its own seed
    assert alone.result.objective == pytest.approx(outcomes[0].result.objective, rel=1e-4)
    # a stacked copy is exported as an ordinary model: its pyfunc predicts raw rows as the copy's weights do
    rows = pd.DataFrame(ctx.splits.test.x, columns=list(ctx.splits.test.feature_names))
    last = runs[f"fused-{NUMBERS[-1]}"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stores["tracking_uri"])  # where models:/ resolves (restored after the test)
    loaded = mlflow.pyfunc.load_model(f"models:/{last.outputs.model_outputs[0].model_id}")
    predicted = loaded.predict(rows)
    expected = outcomes[-1].result.model.predict(ctx.splits.test.x, verbose=0)
    for task in ("task1", "task2"):
        np.testing.assert_allclose(predicted[task].to_numpy(), np.asarray(expected[task])[:, 0], rtol=1e-5, atol=1e-6)
