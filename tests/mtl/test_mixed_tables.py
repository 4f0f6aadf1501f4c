"""Mixed-type user tables: categorical and missing features, string labels, masked targets, splits."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

import mtl.models  # noqa: F401  (registers the custom layers a saved model uses)
from mtl.data import Dataset, load_table, split
from mtl.errors import DataError
from mtl.models import ModelConfig
from mtl.objective import baseline_losses
from mtl.tasks import Task
from mtl.training import TrainConfig, build_for, evaluate, train
from mtl.weighting import WeightedTrainer, make_weighting
from tests.conftest import MIXED_TASKS, mixed_frame

CONFIG = ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4)


@pytest.fixture
def mixed_csv(tmp_path):
    path = tmp_path / "mixed.csv"
    mixed_frame().to_csv(path, index=False)
    return path


def test_mixed_table_columns_labels_and_missing_values(mixed_csv) -> None:
    frame = mixed_frame()
    data = load_table(mixed_csv, MIXED_TASKS)
    assert data.feature_names == ("size", "age") and set(data.categorical) == {"color", "city"}
    assert np.isnan(data.x[:, 1]).sum() == frame["age"].isna().sum() > 0
    assert (data.categorical["color"] == "").sum() == frame["color"].isna().sum() > 0
    tasks = {t.name: t for t in data.tasks}
    assert tasks["churn"].classes == ("no", "yes") and tasks["segment"].classes == ("high", "low", "mid")
    assert tasks["segment"].n_classes == 3
    np.testing.assert_array_equal(data.y["segment"], frame["segment label"].map({"high": 0, "low": 1, "mid": 2}))
    assert np.isnan(data.y["price"]).sum() == frame["price"].isna().sum() > 0
    weights = data.sample_weights
    assert weights["price"].sum() == frame["price"].notna().sum() and weights["segment"].all()
    assert np.isfinite(data.targets["price"]).all()
    assert set(data.inputs) == {"features", "color", "city"} and data.inputs["city"].shape == (len(frame),)


def test_saved_model_takes_raw_rows_with_unseen_categories_and_nan(mixed_csv, tmp_path) -> None:
    splits = split(load_table(mixed_csv, MIXED_TASKS), 0.2, 0.2, seed=0)
    model = build_for(CONFIG, splits.train, seed=0)
    names = [layer.name for layer in model.layers]
    assert "one_hot_0_color" in names and "embedding_1_city" in names  # 4 lookup indices vs 31
    assert "fill_missing" in names and model.get_layer("missing_indicator").columns == [1]  # only age misses values
    rows = {
        "features": np.array([[0.5, np.nan], [np.nan, 30.0], [1.0, 50.0]], dtype="float32"),
        "color": np.array(["red", "", "purple"], dtype=object),  # a missing and an unseen colour
        "city": np.array(["city03", "nowhere", "city29"], dtype=object),
    }
    expected = model.predict(rows, verbose=0)
    assert all(np.isfinite(v).all() for v in expected.values())
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    got = reloaded.predict(rows, verbose=0)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6)
    unseen = dict(rows, color=np.array(["purple", "mauve", "teal"], dtype=object))
    once, twice = model.predict(unseen, verbose=0), model.predict(dict(unseen, color=np.array(["x", "y", "z"], dtype=object)), verbose=0)
    np.testing.assert_allclose(once["price"], twice["price"])  # every unseen value is the same out-of-vocabulary index


@pytest.mark.parametrize("weighting", ["fixed", "gradnorm"])
def test_missing_targets_are_masked_from_losses_and_metrics(mixed_csv, weighting: str) -> None:
    splits = split(load_table(mixed_csv, MIXED_TASKS), 0.2, 0.2, seed=0)
    result = train(CONFIG, splits, TrainConfig(epochs=2, batch_size=32, seed=0, weighting=weighting))
    assert np.isfinite(result.objective)
    trainer = WeightedTrainer(result.model, splits.tasks, make_weighting("fixed", splits.tasks, {}, {}))
    trainer.compile(weighted_metrics={t.name: t.metrics() for t in splits.tasks})
    baselines = baseline_losses(splits, "val")
    full = evaluate(trainer, splits.val, baselines)
    present = splits.val.take(np.flatnonzero(~np.isnan(splits.val.y["price"])))
    assert len(present) < len(splits.val)
    only = evaluate(trainer, present, baselines)
    for metric in ("loss", "rmse", "mae", "normalized_loss"):
        assert full["price"][metric] == pytest.approx(only["price"][metric], rel=1e-5)
    data = splits.val
    losses = [trainer.per_task_losses({**data.targets, "price": np.where(np.isnan(data.y["price"]), fill, data.y["price"])},
                                      trainer(data.inputs), data.sample_weights)["price"] for fill in (0.0, 1e6)]
    assert float(losses[0]) == pytest.approx(float(losses[1]), rel=1e-6)  # the masked rows' values do not matter


def test_split_column_fixes_each_rows_split(tmp_path) -> None:
    frame = mixed_frame(60).assign(part=(["train"] * 3 + ["Validation", "TEST"]) * 12)
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load_table(tmp_path / "t.csv", MIXED_TASKS, split_column="part")
    assert "part" not in data.categorical and "part" not in data.feature_names
    splits = split(data, 0.5, 0.1, seed=0)  # the fractions are unused
    assert (len(splits.train), len(splits.val), len(splits.test)) == (36, 12, 12)
    np.testing.assert_array_equal(splits.test.x[:, 0], frame["size"].to_numpy("float32")[4::5])
    frame.assign(part=["train", "dev"] * 30).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="split column 'part' holds 'dev'; use train, val or test"):
        load_table(tmp_path / "bad.csv", MIXED_TASKS, split_column="part")
    frame.assign(part="train").to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(DataError, match="no val / test rows"):
        split(load_table(tmp_path / "one.csv", MIXED_TASKS, split_column="part"), 0.2, 0.2, seed=0)


def test_stratified_split_keeps_class_proportions() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=500), "rare": np.where(np.arange(500) < 50, "yes", "no"), "r": rng.normal(size=500)})
    targets = {"rare": (frame["rare"] == "yes").to_numpy("float32"), "r": frame["r"].to_numpy("float32")}
    data = Dataset(frame[["a"]].to_numpy("float32"), targets,
                   (Task("rare", "binary"), Task("r", "regression")), ("a",))
    splits = split(data, 0.2, 0.2, seed=3, stratify="rare")
    assert [int(part.y["rare"].sum()) for part in (splits.train, splits.val, splits.test)] == [30, 10, 10]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (300, 100, 100)
    np.testing.assert_array_equal(split(data, 0.2, 0.2, seed=3, stratify="rare").val.x, splits.val.x)
    with pytest.raises(DataError, match="stratify: 'r' is not a binary or multiclass task"):
        split(data, 0.2, 0.2, seed=3, stratify="r")
