"""Real sweeps in-process: Optuna study and MLflow store read back, resume, a failing trial."""

from __future__ import annotations

import keras
import numpy as np
import optuna
import pytest

from search.engines import open_study, run_sweep
from search.errors import SpaceError
from search.space import load_space
from search.tracking import PARENT_ATTR, RUN_ID_ATTR, download_model
from search.trial import prepare_data
from tests.conftest import mlflow_runs as _runs
from tests.helpers import space_toml


def test_sweep_logs_one_child_run_per_trial_with_metrics_and_artifacts(write_space, stores, tmp_path) -> None:
    space = load_space(write_space())
    result = run_sweep(space, printer=lambda line: None, **stores)
    trials = result.study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3

    client, parents, children = _runs(stores["tracking_uri"], "tiny")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].info.run_id == result.parent_run_id == result.study.user_attrs[PARENT_ATTR]
    assert len(children) == 3
    by_id = {r.info.run_id: r for r in children}
    for trial in trials:
        run = by_id[trial.user_attrs[RUN_ID_ATTR]]  # the trial knows its run...
        assert run.data.tags["trial_number"] == str(trial.number)  # ...and the run its trial
        assert run.data.tags["mlflow.parentRunId"] == result.parent_run_id
        assert run.info.status == "FINISHED" and run.data.tags["state"] == "COMPLETE"
        assert run.data.tags["strategy"] == "hard" and run.data.tags["engine"] == "optuna"
        assert run.data.metrics["objective"] == pytest.approx(trial.value)
        for task in ("task1", "task2"):
            for split in ("val", "test"):
                assert {f"{split}/{task}/{m}" for m in ("loss", "rmse", "mae", "normalized_loss")} <= set(run.data.metrics)
            assert run.data.params[f"loss_weight.{task}"] == str(trial.params[f"loss_weight.{task}"])
            epochs = client.get_metric_history(run.info.run_id, f"epoch/val/{task}/loss")
            assert 1 <= len(epochs) <= 3 and sorted(m.step for m in epochs) == list(range(len(epochs)))
        assert run.data.params["epochs"] == "3" and run.data.params["batch_size"] == "64"
        assert ("tower_width" in run.data.params) == (trial.params["tower_depth"] > 0)  # conditional
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"model_summary.txt", "history.json"} <= artifacts
        # learning curves are drawn once, at the sweep's end, for the best trial only
        assert ("learning_curves.png" in artifacts) == (trial.number == result.best.number)

    best = by_id[result.best.user_attrs[RUN_ID_ATTR]]
    local, _ = download_model(client, best.info.run_id, str(tmp_path))
    model = keras.models.load_model(local)
    splits = prepare_data(space)
    predictions = model.predict(splits.val.x, verbose=0)
    mse = float(np.mean((predictions["task1"][:, 0] - splits.val.y["task1"]) ** 2))
    assert mse == pytest.approx(best.data.metrics["val/task1/loss"], rel=1e-3)


def test_rerun_resumes_the_study_and_its_parent_run(write_space, stores) -> None:
    space = load_space(write_space())
    first = run_sweep(space, trials=1, printer=lambda line: None, **stores)
    second = run_sweep(space, trials=2, printer=lambda line: None, **stores)  # runs only the one trial missing
    assert second.parent_run_id == first.parent_run_id
    assert len(second.study.get_trials()) == 2
    third = run_sweep(space, trials=2, printer=lambda line: None, **stores)  # budget met: nothing runs
    assert len(third.study.get_trials()) == 2
    _, parents, children = _runs(stores["tracking_uri"], "tiny")
    assert len(parents) == 1 and len(children) == 2
    assert sorted(int(r.data.tags["trial_number"]) for r in children) == [0, 1]


def test_resuming_with_a_changed_space_is_refused(write_space, stores) -> None:

    run_sweep(load_space(write_space()), trials=1, printer=lambda line: None, **stores)
    changed = load_space(write_space(space_toml(search={"tower_width": 12}), "changed.toml"))
    with pytest.raises(SpaceError, match="different space"):
        run_sweep(changed, study_name="tiny", printer=lambda line: None, **stores)
    assert len(optuna.load_study(study_name="tiny", storage=stores["storage"]).get_trials()) == 1


def test_a_diverging_trial_is_recorded_failed_and_the_sweep_goes_on(write_space, stores) -> None:

    space = load_space(write_space(space_toml(search={"learning_rate": [0.01, 1e9]})))
    study = open_study(space, "tiny", stores["storage"])
    study.enqueue_trial({"learning_rate": 1e9})
    study.enqueue_trial({"learning_rate": 0.01})
    lines: list[str] = []
    result = run_sweep(space, trials=2, printer=lines.append, **stores)
    states = [t.state.name for t in result.study.get_trials()]
    assert states[0] == "FAIL" and states.count("COMPLETE") == 2
    assert "diverged" in result.study.get_trials()[0].user_attrs["fail_reason"]
    assert any("FAIL" in line and "diverged" in line for line in lines)
    _, _, children = _runs(stores["tracking_uri"], "tiny")
    failed = [r for r in children if r.data.tags["trial_number"] == "0"][0]
    assert failed.info.status == "FAILED" and failed.data.tags["state"] == "FAIL"
    assert "diverged" in failed.data.tags["error"]
    assert not [r for r in children if r.info.status == "RUNNING"]


def test_one_study_pits_strategies_and_weightings_and_tags_them(write_space, stores) -> None:

    text = space_toml(search={"strategy": ["hard", "independent", "mmoe", "cgc", "ple", "cross_stitch"],
                              "weighting": ["fixed", "uncertainty", "dwa", "gradnorm"], "n_experts": {"low": 2, "high": 3},
                              "expert_width": 4, "levels": [1, 2]},
                      training={"epochs": 2}, compare={"arms": "none"})  # one study: strategy and weighting as hyperparameters
    space = load_space(write_space(text))
    result = run_sweep(space, trials=4, printer=lambda line: None, **stores)
    client, _, children = _runs(stores["tracking_uri"], "tiny")
    assert len(children) == 4
    by_number = {int(r.data.tags["trial_number"]): r for r in children}
    for trial in result.study.get_trials():
        run = by_number[trial.number]
        assert run.data.tags["strategy"] == trial.params["strategy"]
        assert run.data.tags["weighting"] == trial.params["weighting"]
        assert ("n_experts" in trial.params) == (trial.params["strategy"] == "mmoe")
        weights = client.get_metric_history(run.info.run_id, "epoch/weight/task1")
        assert len(weights) == len(client.get_metric_history(run.info.run_id, "epoch/val/objective")) >= 1
    assert len({t.params["strategy"] for t in result.study.get_trials()}) >= 3


def test_a_gradient_level_method_with_its_option_runs_as_a_trial(write_space, stores) -> None:

    text = space_toml(search={"weighting": "cagrad", "cagrad_c": 0.25}, training={"epochs": 2})
    result = run_sweep(load_space(write_space(text)), trials=1, printer=lambda line: None, **stores)
    client, _, children = _runs(stores["tracking_uri"], "tiny")
    assert [t.state.name for t in result.study.get_trials()] == ["COMPLETE"]
    run = children[0]
    assert run.data.tags["weighting"] == "cagrad" and run.data.params["cagrad_c"] == "0.25"
    assert len(client.get_metric_history(run.info.run_id, "epoch/weight/task2")) == 2
    step_ms = [m.value for m in client.get_metric_history(run.info.run_id, "epoch/step_ms")]
    assert len(step_ms) == 2 and min(step_ms) > 0
    assert result.study.get_trials()[0].user_attrs["step_ms"] == step_ms[1]  # the median leaves the tracing epoch out


def test_one_objective_per_task_reports_exactly_the_non_dominated_set(write_space, stores) -> None:

    text = space_toml(study={"sampler": "nsga2"}, objective={"per_task": True})
    result = run_sweep(load_space(write_space(text)), trials=4, printer=lambda line: None, **stores)
    complete = [t for t in result.study.get_trials() if t.state.name == "COMPLETE"]
    assert len(result.study.directions) == 2 and len(complete) == 4

    def dominates(a, b) -> bool:
        return all(x <= y for x, y in zip(a.values, b.values)) and any(x < y for x, y in zip(a.values, b.values))

    expected = {t.number for t in complete if not any(dominates(o, t) for o in complete)}
    assert {t.number for t in result.pareto} == expected
    for trial in complete:  # each objective is that task's normalised validation loss
        assert trial.values == pytest.approx([trial.user_attrs["val"][task]["normalized_loss"] for task in ("task1", "task2")])
    assert result.best.number in expected
    _, parents, _ = _runs(stores["tracking_uri"], "tiny")
    assert sorted(map(int, parents[0].data.tags["pareto_trials"].split(","))) == sorted(expected)


def test_per_task_objectives_refuse_a_pruner(write_space) -> None:

    text = space_toml(study={"pruner": "median"}, objective={"per_task": True})
    with pytest.raises(SpaceError, match="cannot prune"):
        load_space(write_space(text))
