"""Pruning: a clearly worse learning curve is stopped early and the MLflow run says so."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from search.engines import open_study, run_sweep
from search.errors import SpaceError
from search.space import load_space, parse_space
from search.tracking import RUN_ID_ATTR
from tests.helpers import space_toml

PRUNED_SPACE = space_toml(study={"pruner": {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1}},
                          search={"learning_rate": [0.01, 1e-7]}, training={"epochs": 6, "patience": 6})


def test_a_clearly_worse_trial_is_pruned_and_marked_in_mlflow(write_space, stores) -> None:
    space = load_space(write_space(PRUNED_SPACE))
    assert space.study.pruner == "median" and space.study.pruner_options == {"n_startup_trials": 2, "n_warmup_steps": 1}
    study = open_study(space, "tiny", stores["storage"])
    good = {"learning_rate": 0.01, "shared_depth": 1, "shared_width": 8, "tower_depth": 1, "tie_outputs": False}
    study.enqueue_trial(good)
    study.enqueue_trial(good)
    study.enqueue_trial({**good, "learning_rate": 1e-7})  # barely learns: its curve stays near 1.0
    result = run_sweep(space, trials=3, printer=lambda line: None, **stores)

    trials = result.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    pruned = trials[2]
    assert len(pruned.intermediate_values) < 6  # stopped before the epoch budget
    run = MlflowClient(stores["tracking_uri"]).get_run(pruned.user_attrs[RUN_ID_ATTR])
    assert run.data.tags["state"] == "PRUNED" and run.info.status == "FINISHED"
    assert int(run.data.tags["pruned_at_epoch"]) == max(pruned.intermediate_values)
    assert "val/task1/loss" in run.data.metrics and "objective" in run.data.metrics  # the metrics it reached


@pytest.mark.parametrize(
    ("pruner", "key"),
    [("sometimes", "study.pruner"), ({"name": "median", "patience": 3}, "study.pruner.patience")],
)
def test_bad_pruner_settings_are_space_errors(pruner: str | dict, key: str) -> None:
    with pytest.raises(SpaceError) as caught:
        parse_space(space_toml(study={"pruner": pruner}), "p.toml")
    assert caught.value.key == key
