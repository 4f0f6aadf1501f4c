"""Cluster mode against the real PostgreSQL server: shared budgets, a killed worker, pre-emption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from search.cluster import make_storage

from tests.conftest import TINY_SPACE

pytestmark = pytest.mark.slow
SERVER = "postgresql://postgres@127.0.0.1:5432"
SLOW_SPACE = (TINY_SPACE.replace("epochs = 3", "epochs = 40").replace("patience = 2", "patience = 40")
              .replace("n_samples = 400", "n_samples = 2000").replace("batch_size = 64", "batch_size = 16"))


def _admin(sql: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        with psycopg.connect(f"{SERVER}/test", autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {SERVER}: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {SERVER}")


@pytest.fixture
def databases():
    """Two fresh databases (Optuna, MLflow) on the local server, dropped afterwards."""
    names = [f"mtl_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("optuna", "mlflow")]
    for name in names:
        _admin(f'CREATE DATABASE "{name}"')
    yield [f"{SERVER}/{name}" for name in names]
    for name in names:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def search(*args: str, cwd: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "MTL_HEARTBEAT_SECONDS": "1", "MTL_GRACE_SECONDS": "4"}
    return subprocess.Popen([sys.executable, "-m", "search", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def create(space: Path, trials: int, storage: str, tracking: str, cwd: Path) -> None:
    process = search("create", "--space", str(space), "--trials", str(trials), "--storage", storage,
                     "--tracking-uri", tracking, cwd=cwd)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "python -m search worker --study tiny" in out


def worker(storage: str, tracking: str, cwd: Path, index: int) -> subprocess.Popen:
    return search("worker", "--study", "tiny", "--storage", storage, "--tracking-uri", tracking, "--worker", str(index), cwd=cwd)


def trial_runs(tracking: str):
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("tiny")
    return client.search_runs([experiment.experiment_id], "tags.kind = 'trial'", max_results=1000)


def wait_for_running_trial(storage: str, seconds: float = 120) -> optuna.trial.FrozenTrial:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        running = optuna.load_study(study_name="tiny", storage=storage).get_trials(states=(optuna.trial.TrialState.RUNNING,))
        if running and running[0].user_attrs.get("mlflow_run_id"):
            return running[0]
        time.sleep(0.5)
    pytest.fail("no trial started")


def signal_mid_trial(databases, write_space, tmp_path, signum: int) -> tuple[subprocess.Popen, optuna.trial.FrozenTrial, str]:
    """A slow study, one worker, ``signum`` sent to it while its first trial runs: (worker, that trial, its stderr)."""
    storage, tracking = databases
    create(write_space(SLOW_SPACE), 3, storage, tracking, tmp_path)
    process = worker(storage, tracking, tmp_path, 1)
    running = wait_for_running_trial(storage)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    return process, running, err


def test_three_workers_share_one_budget_exactly(databases, write_space, tmp_path) -> None:
    storage, tracking = databases
    create(write_space(TINY_SPACE.replace("epochs = 3", "epochs = 2")), 6, storage, tracking, tmp_path)
    workers = [worker(storage, tracking, tmp_path, i) for i in range(1, 4)]
    for process in workers:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == 6
    assert len({t.number for t in trials}) == len(trials) and not [t for t in trials if t.state.name == "RUNNING"]
    runs = [r for r in trial_runs(tracking) if r.data.tags["state"] in ("COMPLETE", "PRUNED")]
    assert sorted(int(r.data.tags["trial_number"]) for r in runs) == sorted(t.number for t in counted)
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1
    assert len({tuple(sorted(t.params.items())) for t in counted}) > 1  # workers did not all propose the same


def test_a_killed_workers_trial_is_failed_and_retried_by_the_others(databases, write_space, tmp_path) -> None:
    storage, tracking = databases
    _, victim, _ = signal_mid_trial(databases, write_space, tmp_path, signal.SIGKILL)
    time.sleep(5)  # let its heartbeat go stale
    survivor = worker(storage, tracking, tmp_path, 2)
    _, err = survivor.communicate(timeout=400)
    assert survivor.returncode == 0, err
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    assert trials[victim.number].state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].params == victim.params and retries[0].state.name in ("COMPLETE", "PRUNED")
    assert len([t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]) == 3
    dead_run = MlflowClient(tracking).get_run(victim.user_attrs["mlflow_run_id"])
    assert dead_run.info.status == "FAILED" and "no heartbeat" in dead_run.data.tags["error"]
    assert not [r for r in trial_runs(tracking) if r.info.status == "RUNNING"]


def test_sigterm_fails_the_running_trial_cleanly_and_exits_0(databases, write_space, tmp_path) -> None:
    storage, tracking = databases
    process, running, err = signal_mid_trial(databases, write_space, tmp_path, signal.SIGTERM)
    assert process.returncode == 0, err
    assert "pre-empted" in err and "Traceback" not in err
    trial = optuna.load_study(study_name="tiny", storage=storage).trials[running.number]
    assert trial.state.name == "FAIL"
    assert MlflowClient(tracking).get_run(running.user_attrs["mlflow_run_id"]).info.status == "KILLED"


@pytest.fixture(params=["file", "redis"])
def journal_storage(request, tmp_path):
    """Optuna's journal storage on a shared file or on the local Redis server (a private database)."""
    if request.param == "file":
        yield f"journal://{tmp_path / 'study.log'}"
        return
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=7, socket_connect_timeout=5)
    try:
        client.flushdb()
    except redis.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not reachable at 127.0.0.1:6379")
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    yield "redis://127.0.0.1:6379/7"
    client.flushdb()


def test_two_workers_share_a_journal_storage(journal_storage, databases, write_space, tmp_path) -> None:
    _, tracking = databases
    create(write_space(TINY_SPACE.replace("epochs = 3", "epochs = 2")), 4, journal_storage, tracking, tmp_path)
    workers = [worker(journal_storage, tracking, tmp_path, i) for i in (1, 2)]
    for process in workers:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    trials = optuna.load_study(study_name="tiny", storage=make_storage(journal_storage, tracking)).trials
    assert len([t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]) == 4
    assert len({t.number for t in trials}) == len(trials)
    assert len([r for r in trial_runs(tracking) if r.data.tags["state"] in ("COMPLETE", "PRUNED")]) == 4
