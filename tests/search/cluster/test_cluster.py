"""Cluster mode against the real servers: a shared budget on PostgreSQL with an MLflow tracking
server, the parent run closed by the last worker, a killed worker, pre-emption (MariaDB and the
journal storages: test_storages.py). Signals are sent only once a trial is seen running (a trial long enough that it
is still running when the signal lands), never after a fixed delay."""

from __future__ import annotations

import signal

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import space_toml
from tests.search.servers import (
    QUICK_SPACE,
    assert_shared_budget,
    create,
    mlflow_server,
    parent_run,
    run_workers,
    tiny_study,
    trial_runs,
    wait_for_running_trial,
    worker,
)

pytestmark = pytest.mark.slow
SLOW_SPACE = space_toml(training={"epochs": 20, "patience": 20}, data={"options.n_samples": 1000}, search={"batch_size": 16})
HELD_SPACE = space_toml(SLOW_SPACE, training={"epochs": 2000, "patience": 2000})  # ends by signal


@pytest.fixture
def tracking_server(databases, tmp_path):
    """An MLflow tracking server whose backend store is the fresh PostgreSQL database, artifacts under tmp_path."""
    yield from mlflow_server(databases[1], tmp_path / "artifacts")


def test_three_workers_share_one_budget_exactly_with_an_mlflow_server_and_the_last_ends_the_parent_run(
        databases, tracking_server, write_space, tmp_path) -> None:
    # each worker asks its trials two at a time and trains them as one stack (one stack key: trunk, no tying)
    storage, _ = databases
    space = write_space(space_toml(QUICK_SPACE, study={"batch": 2}, search={"shared_depth": {"low": 1, "high": 2},
                                                                            "tie_outputs": False}))
    create(space, 6, storage, tracking_server)
    assert parent_run(tracking_server).info.status == "RUNNING"
    run_workers(storage, tracking_server, tmp_path, 3)
    assert_shared_budget(storage, tracking_server, 6)
    assert any(r.data.tags.get("stacked") == "true" for r in trial_runs(tracking_server))
    client = MlflowClient(tracking_server)
    complete = [r for r in trial_runs(tracking_server) if r.data.tags["state"] == "COMPLETE"]
    best = min(complete, key=lambda r: r.data.metrics["objective"])  # the best of its worker: curves drawn at its end
    artifacts = {a.path for a in client.list_artifacts(best.info.run_id)}
    assert {"history.json", "learning_curves.png"} <= artifacts  # served by the server, stored under tmp_path
    assert best.outputs.model_outputs and any((tmp_path / "artifacts").rglob("model.keras"))  # its Logged Model too
    first = parent_run(tracking_server)  # the worker that completed the budget ended it
    assert first.info.status == "FINISHED"
    assert first.data.tags["best_run_id"] in {r.info.run_id for r in complete}

    create(space, 8, storage, tracking_server)  # a bigger budget reopens the sweep
    assert parent_run(tracking_server).info.status == "RUNNING"
    process = worker(storage, tracking_server, tmp_path, 4)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    again = parent_run(tracking_server)
    assert again.info.run_id == first.info.run_id and again.info.status == "FINISHED"
    counted = [r for r in trial_runs(tracking_server) if r.data.tags["state"] in ("COMPLETE", "PRUNED")]
    assert len(counted) == 8 and {r.data.tags["mlflow.parentRunId"] for r in counted} == {first.info.run_id}
    new = [r for r in counted if r.info.start_time > first.info.end_time]
    assert len(new) == 2  # the two new trials, nested under the same parent


def test_a_killed_workers_trial_is_failed_and_retried_by_the_others(databases, write_space, tmp_path) -> None:
    storage, tracking = databases
    create(write_space(SLOW_SPACE), 2, storage, tracking)
    doomed, survivor = worker(storage, tracking, tmp_path, 1), worker(storage, tracking, tmp_path, 2)
    victim = wait_for_running_trial(storage, worker_pid=doomed.pid)
    doomed.kill()  # SIGKILL mid-trial, while the survivor works beside it
    doomed.wait(timeout=30)
    _, err = survivor.communicate(timeout=400)
    assert survivor.returncode == 0, err
    trials = tiny_study(storage).trials
    assert trials[victim.number].state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].params == victim.params and retries[0].state.name in ("COMPLETE", "PRUNED")
    assert len([t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]) == 2
    dead_run = MlflowClient(tracking).get_run(victim.user_attrs["mlflow_run_id"])
    assert dead_run.info.status == "FAILED" and "no heartbeat" in dead_run.data.tags["error"]
    assert not [r for r in trial_runs(tracking) if r.info.status == "RUNNING"]


def test_sigterm_fails_the_running_trial_cleanly_and_exits_0(databases, write_space, tmp_path) -> None:
    storage, tracking = databases
    create(write_space(HELD_SPACE), 3, storage, tracking)
    process = worker(storage, tracking, tmp_path, 1)
    running = wait_for_running_trial(storage)  # it trains for minutes: SIGTERM lands in this trial
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "pre-empted" in err and "Traceback" not in err
    trial = tiny_study(storage).trials[running.number]
    assert trial.state.name == "FAIL"
    assert MlflowClient(tracking).get_run(running.user_attrs["mlflow_run_id"]).info.status == "KILLED"
