"""The database servers of the cluster tests: throwaway databases, an MLflow server, worker processes
whose output can be waited on, a cuttable link, and waiting on observable conditions.

Under ``CI=true`` a missing server fails the test; elsewhere it skips. ``benchmarks/chaos.py``
reuses :class:`Link` and :func:`postgres_databases`.
"""

from __future__ import annotations

import gc
import io
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import TypeVar

import optuna
import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy.pool import NullPool

from search.cli import build_parser, cmd_create
from search.ui import mlflow_command, server_env, wait_until_up

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
HEARTBEAT_SECONDS, GRACE_SECONDS = 1, 4  # the workers' settings here: fast, so a dead worker's trial goes stale soon
T = TypeVar("T")
MARIADB = "mysql+pymysql://root@127.0.0.1:3306"


def unavailable(what: str, exc: Exception) -> None:
    """Fail under CI, skip elsewhere: ``what`` is not reachable."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is not reachable: {exc}")
    pytest.skip(f"{what} is not reachable")


def postgres_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL server's ``test`` database."""
    psycopg = pytest.importorskip("psycopg")
    try:
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql)
    except psycopg.OperationalError as exc:
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
    """Create one fresh PostgreSQL database per kind; yields their URLs, then drops them."""
    names = [f"mtl_{kind}_{uuid.uuid4().hex[:8]}" for kind in kinds]
    for name in names:
        postgres_admin(f'CREATE DATABASE "{name}"')
    yield [f"{POSTGRES}/{name}" for name in names]
    for name in names:
        postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Link:
    """A TCP forwarder to a local server, which a test cuts (the server seems gone) and restores."""

    def __init__(self, port: int) -> None:
        self.target, self.port = port, free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self._lock = threading.Lock()
        self.restore()

    def url(self, url: str) -> str:
        """``url`` (which names ``127.0.0.1:<target port>``) pointed through this link instead."""
        return url.replace(f"127.0.0.1:{self.target}/", f"127.0.0.1:{self.port}/")

    @property
    def up(self) -> bool:
        """Whether the link accepts connections now."""
        return self.listener is not None

    def restore(self) -> None:
        """Accept connections again on the same port."""
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break the open ones (nothing if already cut)."""
        if self.listener is None:
            return
        listener, self.listener = self.listener, None
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread: a close alone leaves it accepting once more
        except OSError:
            pass
        listener.close()
        with self._lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if listener is not self.listener:  # accepted while being cut
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self.sockets = [s for s in self.sockets if s.fileno() != -1] + [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
