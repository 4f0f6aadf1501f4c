"""Shared fixtures: tiny data, tiny spaces, and throwaway stores under tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from mtl.data import Splits, make_synthetic, split  # noqa: E402

TINY_SPACE = """
[study]
name = "tiny"
trials = 3
sampler = "random"
seed = 3

[data]
source = "synthetic"

[data.options]
n_samples = 400
n_features = 6
n_tasks = 2
correlation = 0.5

[training]
epochs = 3
patience = 2

[search]
shared_depth = { low = 0, high = 2 }
shared_width = { low = 4, high = 16 }
tower_depth = { low = 0, high = 1 }
tower_width = 8
tie_outputs = [false, true]
loss_weight = { low = 0.5, high = 2.0 }
learning_rate = 0.01
batch_size = 64
"""


@pytest.fixture
def tiny_splits() -> Splits:
    """400 synthetic rows, 6 features, 2 regression tasks, split 60/20/20."""
    return split(make_synthetic(n_samples=400, n_features=6, n_tasks=2, seed=1), 0.2, 0.2, seed=1)


@pytest.fixture
def write_space(tmp_path: Path):
    """Write a space file (the tiny one by default, with text appended) and return its path."""

    def write(text: str = TINY_SPACE, name: str = "space.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, str]:
    """Fresh SQLite URLs for an Optuna storage and an MLflow tracking store."""
    return {"storage": f"sqlite:///{tmp_path / 'optuna.db'}", "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}


def mlflow_runs(tracking_uri: str, study: str):
    """(client, parent runs, child runs) of the study's MLflow experiment."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(study)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children
