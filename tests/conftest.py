"""Shared fixtures: tiny data, tiny spaces, and throwaway stores under tmp_path."""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store, made once per test process: MLflow's schema migrations take about a second
    on each new database file, and a copy of this one (:func:`fresh_mlflow_db`) is the same empty store."""
    path = tmp_path_factory.mktemp("mlflow-empty") / "mlflow.db"
    client = MlflowClient(f"sqlite:///{path}")
    assert [e.name for e in client.search_experiments()] == ["Default"]
    client._tracking_client.store.engine.dispose()  # no connection left open on the file that is copied
    return path


@pytest.fixture
def fresh_mlflow_db(empty_mlflow_db):
    """Put an empty MLflow store at a path (a copy of :func:`empty_mlflow_db`) and return its ``sqlite:///`` URL."""

    def fresh(path: Path) -> str:
        shutil.copyfile(empty_mlflow_db, path)
        return f"sqlite:///{path}"

    return fresh


@pytest.fixture
def stores(tmp_path: Path, fresh_mlflow_db) -> dict[str, str]:
    """Fresh SQLite URLs for an Optuna storage and an MLflow tracking store (an empty store already in place: a test
    that checks nothing is written uses paths of its own)."""
    return {"storage": f"sqlite:///{tmp_path / 'optuna.db'}", "tracking_uri": fresh_mlflow_db(tmp_path / "mlflow.db")}


def mlflow_runs(tracking_uri: str, study: str):
    """(client, parent runs, child runs) of the study's MLflow experiment."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(study)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


MIXED_TASKS = [
    {"name": "price", "kind": "regression"},
    {"name": "churn", "kind": "binary"},
    {"name": "segment", "kind": "multiclass", "column": "segment label"},
]


def mixed_frame(rows: int = 240, seed: int = 0):
    """A mixed-type table: numeric features with NaN, categorical strings with missing values (one with
    30 levels), string class labels, and a regression target missing in some rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    size = rng.normal(size=rows)
    age = np.where(rng.random(rows) < 0.15, np.nan, rng.normal(40, 10, rows))
    color = rng.choice(["red", "green", "blue"], rows).astype(object)
    color[rng.random(rows) < 0.1] = None
    city = np.array([f"city{i:02d}" for i in rng.integers(0, 30, rows)], dtype=object)
    score = size + (color == "red") - (color == "blue") + rng.normal(0, 0.3, rows)
    price = np.where(rng.random(rows) < 0.2, np.nan, 3 * size + np.nan_to_num(age - 40) / 10)
    return pd.DataFrame({
        "size": size, "age": age, "color": color, "city": city, "price": price,
        "churn": np.where(rng.random(rows) < 0.05, None, np.where(score > 0, "yes", "no")),
        "segment label": np.select([score < -0.5, score > 0.7], ["low", "high"], "mid"),
    })
