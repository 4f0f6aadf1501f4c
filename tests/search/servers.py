"""The database servers of the cluster tests: throwaway databases, an MLflow server, worker processes
whose output can be waited on, a cuttable link, and waiting on observable conditions.

Under ``CI=true`` a missing server fails the test; elsewhere it skips. ``benchmarks/chaos.py``
reuses :class:`Link` and :func:`postgres_databases`.
"""

from __future__ import annotations

import gc
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import TypeVar

import optuna
import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy.pool import NullPool

from benchmarks import faults
from benchmarks.faults import POSTGRES, Unreachable, free_port
from search.cli import build_parser, cmd_create
from search.ui import mlflow_command, server_env, wait_until_up
from tests.helpers import space_toml

HEARTBEAT_SECONDS, GRACE_SECONDS = 1, 4  # the workers' settings here: fast, so a dead worker's trial goes stale soon
T = TypeVar("T")
QUICK_SPACE = space_toml(training={"epochs": 2})  # a cluster test's space: trials of two epochs
MARIADB = "mysql+pymysql://root@127.0.0.1:3306"


def unavailable(what: str, exc: Exception) -> None:
    """Fail under CI, skip elsewhere: ``what`` is not reachable."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is not reachable: {exc}")
    pytest.skip(f"{what} is not reachable")


def postgres_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL server's ``test`` database (:func:`benchmarks.faults.postgres_admin`)."""
    pytest.importorskip("psycopg")
    try:
        faults.postgres_admin(sql)
    except Unreachable as exc:
        unavailable(f"PostgreSQL at {POSTGRES}", exc)


def mariadb_admin(sql: str) -> None:
    """Run one statement on the MariaDB server as root."""
    pymysql = pytest.importorskip("pymysql")
    try:
        connection = pymysql.connect(host="127.0.0.1", port=3306, user="root", connect_timeout=5, autocommit=True)
    except pymysql.err.OperationalError as exc:
        unavailable(f"MariaDB at {MARIADB}", exc)
    with connection:
        connection.cursor().execute(sql)


def postgres_databases(kinds: tuple[str, ...]):
    """Fresh PostgreSQL databases, one per kind (:func:`benchmarks.faults.postgres_databases`); yields their URLs, then
    drops them. Skipped (failed under CI) where PostgreSQL is not reachable."""
    pytest.importorskip("psycopg")
    databases = faults.postgres_databases(kinds)
    try:
        urls = next(databases)
    except Unreachable as exc:
        unavailable(f"PostgreSQL at {POSTGRES}", exc)
    yield urls
    next(databases, None)


def mlflow_server(backend_uri: str, artifacts: Path):
    """An MLflow tracking server on a free port over ``backend_uri``, serving artifacts from ``artifacts``."""
    port = free_port()
    command = [*mlflow_command(backend_uri, port, "127.0.0.1"), "--artifacts-destination", str(artifacts)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server_env())
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, seconds=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def search(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m search ARGS`` as a child process with fast heartbeats (see ``HEARTBEAT_SECONDS``)."""
    env = {**os.environ, "MTL_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS), "MTL_GRACE_SECONDS": str(GRACE_SECONDS),
           **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "search", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def create(space: Path, trials: int, storage: str, tracking: str) -> None:
    """``search create`` the study ``tiny`` with a budget of ``trials``, in this process (a process of its own
    would spend seconds starting TensorFlow); its Optuna engine is collected at once, and MLflow's store is
    the one the test reads through anyway."""
    args = build_parser().parse_args(["create", "--space", str(space), "--trials", str(trials), "--storage", storage,
                                      "--tracking-uri", tracking])
    out = io.StringIO()
    with redirect_stdout(out):
        assert cmd_create(args) == 0
    assert "python -m search worker --study tiny" in out.getvalue()
    gc.collect()  # closes the Optuna engine's pooled connections now, not whenever a later collection runs


def worker(storage: str, tracking: str, cwd: Path, index: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A ``search worker`` process on the study ``tiny``."""
    return search("worker", "--study", "tiny", "--storage", storage, "--tracking-uri", tracking, "--worker", str(index),
                  cwd=cwd, env=env)


def wait_until(condition: Callable[[], T], what: str, seconds: float = 180, poll: float = 0.5) -> T:
    """Poll ``condition`` until it returns something true (returned), failing the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(poll)
    pytest.fail(f"gave up after {seconds:.0f} s waiting for {what}")


class Output:
    """A child process's stdout and stderr, read as they come, so a test can wait for a line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.out: list[str] = []
        self.err: list[str] = []
        self._arrived = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((process.stdout, self.out), (process.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            with self._arrived:
                lines.append(line)
                self._arrived.notify_all()
        with self._arrived:
            self._arrived.notify_all()

    def wait_for(self, needle: str, seconds: float = 180) -> str:
        """The first stdout line holding ``needle``, once it is printed; fails the test after ``seconds``
        or when the process ends without printing it."""
        deadline = time.monotonic() + seconds
        with self._arrived:
            while True:
                found = [line for line in self.out if needle in line]
                if found:
                    return found[0]
                ended = not any(reader.is_alive() for reader in self._readers)
                if ended or time.monotonic() > deadline:
                    pytest.fail(f"no line with {needle!r} ({'process ended' if ended else 'timed out'}):\n"
                                + "".join(self.out) + "".join(self.err))
                self._arrived.wait(1)

    def finish(self, seconds: float = 400) -> tuple[int, str, str]:
        """Wait for the process to end: (exit code, stdout, stderr)."""
        code = self.process.wait(timeout=seconds)
        for reader in self._readers:
            reader.join(timeout=30)
        return code, "".join(self.out), "".join(self.err)


def parent_run(tracking: str):
    """The MLflow parent run of the study ``tiny``."""
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([experiment.experiment_id], "tags.kind = 'sweep'")
    return run


def trial_runs(tracking: str):
    """The MLflow child runs of the study ``tiny``."""
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("tiny")
    return client.search_runs([experiment.experiment_id], "tags.kind = 'trial'", max_results=1000)


def tiny_study(storage: str) -> optuna.Study:
    """The study ``tiny``, read through an engine that keeps no connection open between calls: tests poll
    it many times, and a pooled engine per poll would hold PostgreSQL connections until collected."""
    engine = {"poolclass": NullPool} if storage.startswith(("postgresql", "mysql")) else None
    return optuna.load_study(study_name="tiny", storage=optuna.storages.RDBStorage(storage, engine_kwargs=engine))


def wait_for_running_trial(storage: str, seconds: float = 120, worker_pid: int | None = None) -> optuna.trial.FrozenTrial:
    """The first RUNNING trial with an MLflow run (of the worker with ``worker_pid`` if given)."""

    study = tiny_study(storage)

    def running() -> optuna.trial.FrozenTrial | None:
        for trial in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
            mine = worker_pid is None or trial.user_attrs.get("worker", "").endswith(f":{worker_pid}")
            if mine and trial.user_attrs.get("mlflow_run_id"):
                return trial
        return None

    return wait_until(running, "a running trial", seconds, poll=0.2)


def assert_shared_budget(storage, tracking: str, budget: int) -> None:
    """Exactly ``budget`` counted trials with unique numbers, none left RUNNING, one child run each under one parent."""
    trials = tiny_study(storage).trials
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == budget
    assert len({t.number for t in trials}) == len(trials) and not [t for t in trials if t.state.name == "RUNNING"]
    runs = [r for r in trial_runs(tracking) if r.data.tags["state"] in ("COMPLETE", "PRUNED")]
    assert sorted(int(r.data.tags["trial_number"]) for r in runs) == sorted(t.number for t in counted)
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1
    assert len({tuple(sorted(t.params.items())) for t in counted}) > 1  # workers did not all propose the same
    # which worker ran how many is not asserted: a worker that starts late may find the budget filled
    # (the outage and killed-worker tests show two workers holding trials at once)


def run_workers(storage: str, tracking: str, cwd, count: int) -> None:
    """Start ``count`` workers at once and wait for all; each must exit 0."""
    workers = [worker(storage, tracking, cwd, i) for i in range(1, count + 1)]
    for process in workers:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
