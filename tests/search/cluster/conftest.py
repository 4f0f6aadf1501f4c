"""Fixtures shared by the cluster tests."""

from __future__ import annotations

import pytest

from tests.search.servers import postgres_databases


@pytest.fixture(autouse=True)
def artifacts_under_tmp_path(tmp_path, monkeypatch) -> None:
    """New experiments keep their artifacts under ``tmp_path`` (workers inherit the variable): on a database
    store MLflow's default is ``./mlruns`` of the process creating the experiment, the repository's own."""
    monkeypatch.setenv("MTL_ARTIFACT_ROOT", str(tmp_path / "artifacts"))


@pytest.fixture
def databases():
    """Two fresh PostgreSQL databases (Optuna, MLflow), dropped afterwards."""
    yield from postgres_databases(("optuna", "mlflow"))
