"""Cluster mode on the other shared storages: MariaDB, and Optuna's journal on a file and on Redis."""

from __future__ import annotations

import uuid

import optuna
import pytest

from search.cluster import make_storage
from tests.search.servers import (
    MARIADB,
    QUICK_SPACE,
    assert_shared_budget,
    create,
    mariadb_admin,
    run_workers,
    trial_runs,
    unavailable,
    worker,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def mariadb_storage():
    """A fresh MariaDB database for the Optuna storage, dropped afterwards."""
    name = f"mtl_optuna_{uuid.uuid4().hex[:8]}"
    mariadb_admin(f"CREATE DATABASE `{name}`")
    yield f"{MARIADB}/{name}"
    mariadb_admin(f"DROP DATABASE IF EXISTS `{name}`")


def test_two_workers_share_a_mariadb_study(mariadb_storage, databases, write_space, tmp_path) -> None:
    _, tracking = databases
    create(write_space(QUICK_SPACE), 4, mariadb_storage, tracking)
    run_workers(mariadb_storage, tracking, tmp_path, 2)
    assert_shared_budget(mariadb_storage, tracking, 4)


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
    except redis.ConnectionError as exc:
        unavailable("Redis at 127.0.0.1:6379", exc)
    yield "redis://127.0.0.1:6379/7"
    client.flushdb()


def test_two_workers_share_a_journal_storage(journal_storage, databases, write_space, tmp_path) -> None:
    _, tracking = databases
    create(write_space(QUICK_SPACE), 4, journal_storage, tracking)
    workers = [worker(journal_storage, tracking, tmp_path, i) for i in (1, 2)]
    for process in workers:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    trials = optuna.load_study(study_name="tiny", storage=make_storage(journal_storage, tracking)).trials
    assert len([t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]) == 4
    assert len({t.number for t in trials}) == len(trials)
    assert len([r for r in trial_runs(tracking) if r.data.tags["state"] in ("COMPLETE", "PRUNED")]) == 4
