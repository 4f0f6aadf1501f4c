"""Built-in real data sets (solar_flare, yeast, digits) and the synthetic generator's binary tasks."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from mtl.data import DATASETS, load_dataset, make_synthetic, split
from mtl.errors import DataError
from mtl.models import ModelConfig
from mtl.training import TrainConfig, train

# name -> (rows, features, [(task, kind, n_classes), ...])
EXPECTED = {
    "solar_flare": (1066, 22, [("c_class", "regression", 0), ("m_class", "regression", 0), ("x_class", "regression", 0)]),
    "yeast": (2417, 103, [(f"class{i}", "binary", 0) for i in range(1, 15)]),
    "digits": (1797, 64, [("digit", "multiclass", 10), ("parity", "binary", 0), ("large", "binary", 0)]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_shapes_tasks_and_values(name: str) -> None:
    rows, width, tasks = EXPECTED[name]
    data = load_dataset(name, {}, seed=0)
    assert name in DATASETS
    assert data.x.shape == (rows, width) and data.x.dtype == np.float32
    assert len(data.feature_names) == width and len(set(data.feature_names)) == width
    assert np.isfinite(data.x).all()
    assert [(t.name, t.kind, t.n_classes) for t in data.tasks] == tasks
    for task in data.tasks:
        values = data.y[task.name]
        assert values.shape == (rows,) and np.isfinite(values).all()
        if task.kind == "binary":
            assert set(np.unique(values)) == {0.0, 1.0}
        elif task.kind == "multiclass":
            assert set(np.unique(values)) == set(range(task.n_classes))
        else:
            assert values.min() >= 0 and np.all(values == np.round(values))  # flare counts
    again = DATASETS[name](seed=1)  # fixed data: the seed changes nothing
    np.testing.assert_array_equal(again.x, data.x)


def test_solar_flare_one_hot_columns() -> None:
    data = load_dataset("solar_flare", {}, seed=0)
    names = list(data.feature_names)
    onehot = [i for i, n in enumerate(names) if "=" in n]
    assert len(onehot) == 16 and "largest-spot-area" not in names  # 6 + 6 + 4 levels; constant column dropped
    for prefix in ("zurich-class=", "largest-spot-size=", "spot-distribution="):
        cols = [i for i, n in enumerate(names) if n.startswith(prefix)]
        np.testing.assert_array_equal(data.x[:, cols].sum(axis=1), 1.0)  # exactly one level per row


def test_digits_derived_tasks_agree() -> None:
    data = load_dataset("digits", {}, seed=0)
    digit = data.y["digit"].astype(int)
    np.testing.assert_array_equal(data.y["parity"], digit % 2)
    np.testing.assert_array_equal(data.y["large"], digit > 4)


def test_builtins_take_no_options() -> None:
    for name in EXPECTED:
        with pytest.raises(DataError, match=name):
            load_dataset(name, {"n_samples": 5}, seed=0)


def test_missing_river_names_the_package(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_river(name, *args, **kwargs):
        if name == "river" or name.startswith("river."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_river)
    for name in ("yeast", "solar_flare"):
        with pytest.raises(DataError, match=rf"data set '{name}' needs the river package: pip install river"):
            DATASETS[name](seed=0)


def test_synthetic_default_output_is_unchanged() -> None:
    # Values produced by the generator before the ``classification`` option existed.
    data = make_synthetic(n_samples=200, n_features=6, n_tasks=3, seed=3)
    assert [t.kind for t in data.tasks] == ["regression"] * 3
    np.testing.assert_allclose(data.x[0, :3], [0.026124833, -0.05274731, 1.4055982], rtol=1e-6)
    np.testing.assert_allclose(data.y["task1"][:3], [1.0289404, -1.0303814, -0.9450573], rtol=1e-5)
    np.testing.assert_allclose(data.y["task3"][:3], [-0.40631613, -0.90949774, -0.85188484], rtol=1e-5)
    same = make_synthetic(n_samples=200, n_features=6, n_tasks=3, classification=0, seed=3)
    assert same.x.tobytes() == data.x.tobytes()
    assert all(same.y[k].tobytes() == data.y[k].tobytes() for k in data.y)


def test_synthetic_classification_makes_the_last_tasks_balanced_binary() -> None:
    base = make_synthetic(n_samples=1000, n_features=8, n_tasks=4, seed=2)
    mixed = make_synthetic(n_samples=1000, n_features=8, n_tasks=4, classification=2, seed=2)
    assert [t.kind for t in mixed.tasks] == ["regression", "regression", "binary", "binary"]
    np.testing.assert_array_equal(mixed.x, base.x)
    for name in ("task1", "task2"):
        np.testing.assert_array_equal(mixed.y[name], base.y[name])
    for name in ("task3", "task4"):
        labels = mixed.y[name]
        assert set(np.unique(labels)) == {0.0, 1.0} and labels.mean() == pytest.approx(0.5, abs=0.01)
        np.testing.assert_array_equal(labels, base.y[name] > np.median(base.y[name]))
    assert all(t.kind == "binary" for t in make_synthetic(n_samples=50, n_features=4, n_tasks=2, classification=2).tasks)


@pytest.mark.parametrize("bad", [-1, 3, 1.5, True])
def test_synthetic_classification_out_of_range(bad) -> None:
    with pytest.raises(DataError, match="classification"):
        make_synthetic(n_samples=50, n_features=4, n_tasks=2, classification=bad)


def test_short_training_run_on_mixed_synthetic() -> None:
    # The real built-in sets train in tests/search/engines/test_builtin_sweeps.py (a one-trial sweep each).
    splits = split(load_dataset("synthetic", {"n_samples": 300, "n_tasks": 3, "classification": 1}, seed=0), 0.2, 0.2, seed=0)
    config = ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4)
    result = train(config, splits, TrainConfig(epochs=2, batch_size=128, seed=0))
    assert np.isfinite(result.objective)
    assert set(result.val) == {t.name for t in splits.tasks}
