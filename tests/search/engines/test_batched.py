"""Tuning in batches: trials asked together train as one padded stack, yet each stays its own Optuna trial and MLflow
run with its own Logged Model, the budget stays exact across resumes, and an interrupted batch fails what it held."""

from __future__ import annotations

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest

from search.engines import make_sampler, run_sweep
from search.engines._batched import _train_and_tell
from search.space import load_space, optuna_suggest, sample
from search.tracking import FAIL_ATTR, RUN_ID_ATTR, download_model_files
from search.trial import prepare_data
from tests.conftest import mlflow_runs
from tests.helpers import space_toml

BATCHED = space_toml(study={"batch": 4, "trials": 4, "sampler": "tpe"},
                     search={"shared_depth": {"low": 1, "high": 2}, "tower_depth": 1, "tie_outputs": None,
                             "learning_rate": {"low": 0.005, "high": 0.05, "log": True}, "dropout": {"low": 0.0, "high": 0.2}})


def test_a_batched_sweep_trains_stacks_of_trials_each_its_own_trial_run_and_model(write_space, stores, tmp_path) -> None:
    lines: list[str] = []
    space = load_space(write_space(BATCHED))
    result = run_sweep(space, printer=lines.append, **stores)
    trials = result.study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert len({t.params["shared_width"] for t in trials}) > 1 and len({t.params["learning_rate"] for t in trials}) == 4
    client, _, children = mlflow_runs(stores["tracking_uri"], "tiny")
    by_id = {r.info.run_id: r for r in children}
    assert len(children) == 4
    for trial in trials:
        run = by_id[trial.user_attrs[RUN_ID_ATTR]]
        assert run.data.tags["stacked"] == "true" and run.data.tags["trial_number"] == str(trial.number)
        assert run.info.status == "FINISHED" and run.data.metrics["objective"] == pytest.approx(trial.value)
        assert run.data.params["shared_width"] == str(trial.params["shared_width"])
        epochs = client.get_metric_history(run.info.run_id, "epoch/val/task1/loss")
        assert 1 <= len(epochs) <= 3 and sorted(m.step for m in epochs) == list(range(len(epochs)))
    # each trial's Logged Model is its own lone, un-padded network: its pyfunc on raw rows scores what its run logged
    best = by_id[result.best.user_attrs[RUN_ID_ATTR]]
    pyfunc = mlflow.pyfunc.load_model(str(download_model_files(client, best.info.run_id, str(tmp_path / "model"))))
    splits = prepare_data(space)
    rows = pd.DataFrame(splits.val.x, columns=list(splits.val.feature_names))
    predicted = pyfunc.predict(rows)["task1"].to_numpy()
    assert float(np.mean((predicted - splits.val.y["task1"]) ** 2)) == pytest.approx(best.data.metrics["val/task1/loss"], rel=1e-3)
    # the budget stays exact on resume: one more trial, alone in its batch
    again = run_sweep(space, trials=5, printer=lines.append, **stores)
    assert len(again.study.get_trials()) == 5 and again.study.get_trials()[-1].state == optuna.trial.TrialState.COMPLETE
    _, _, children = mlflow_runs(stores["tracking_uri"], "tiny")
    assert len(children) == 5 and sum("stacked" not in r.data.tags for r in children) == 1


def test_startup_batches_ask_the_samplers_random_start_up_trials_together_and_the_same_trials(write_space, stores) -> None:
    # TPE draws its first 5 trials at random whatever the results: asked together they are the trials one-by-one
    # tuning draws; they train as stacks, and the 6th (TPE's model) is asked alone, after they are told
    lines: list[str] = []
    space = load_space(write_space(space_toml(BATCHED, study={"batch": "startup", "trials": 6})))
    result = run_sweep(space, printer=lines.append, **stores)
    trials = result.study.get_trials()
    one_by_one = optuna.create_study(sampler=make_sampler("tpe", space.study.seed))
    for _ in range(5):  # what one-by-one tuning asks, told any value (start-up trials do not read them)
        trial = one_by_one.ask()
        sample(space, prepare_data(space).tasks, optuna_suggest(trial))
        one_by_one.tell(trial, 1.0)
    assert [t.params for t in trials[:5]] == [t.params for t in one_by_one.get_trials()]
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 6
    _, _, children = mlflow_runs(stores["tracking_uri"], "tiny")
    stacked = sorted(int(r.data.tags["trial_number"]) for r in children if r.data.tags.get("stacked") == "true")
    assert stacked == [0, 1, 2, 3, 4]
    assert trials[5].datetime_start >= max(t.datetime_complete for t in trials[:5])


def test_an_interrupted_batch_fails_every_trial_it_had_not_told(tmp_path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    trials = [study.ask() for _ in range(3)]

    def interrupted(batch: list[optuna.Trial]) -> list:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train_and_tell(study, trials, interrupted, lambda trial, outcome: 0.0)
    stored = study.get_trials()
    assert [t.state for t in stored] == [optuna.trial.TrialState.FAIL] * 3
    assert all("batch interrupted" in t.user_attrs[FAIL_ATTR] for t in stored)


def test_trials_weighted_by_dwa_stack_each_with_its_own_weights(write_space, stores) -> None:
    space = load_space(write_space(space_toml(study={"batch": 2, "trials": 2}, training={"epochs": 4, "patience": 4},
                                              search={"weighting": "dwa", "shared_depth": 1, "tie_outputs": False})))
    run_sweep(space, printer=lambda line: None, **stores)
    client, _, children = mlflow_runs(stores["tracking_uri"], "tiny")
    assert len(children) == 2 and all(r.data.tags["stacked"] == "true" for r in children)
    for run in children:  # each trial's weights moved from the third epoch on, by its own losses
        weights = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "epoch/weight/task1"), key=lambda m: m.step)]
        assert len(weights) == 4 and weights[:2] == [pytest.approx(weights[0])] * 2 and weights[2] != pytest.approx(weights[0])
