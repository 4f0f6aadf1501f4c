"""Fixtures shared by the cluster tests."""

from __future__ import annotations

import pytest

from tests.search.servers import postgres_databases


@pytest.fixture
def databases():
    """Two fresh PostgreSQL databases (Optuna, MLflow), dropped afterwards."""
    yield from postgres_databases(("optuna", "mlflow"))
