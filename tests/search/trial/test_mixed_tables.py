"""Mixed-type tables end to end: a CLI sweep, the logged model on raw rows, string labels back, bad tables."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

import mtl.models  # noqa: F401  (registers the custom layers a saved model uses)
from mtl.errors import MtlError
from search.space import load_space
from search.tracking import download_model, predict
from search.trial import prepare_data
from tests.conftest import mixed_frame, mlflow_runs
from tests.helpers import MIXED_SPACE, run_in_process, space_toml


def raw_inputs(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The model's inputs built by hand from raw rows (missing categories as the empty string)."""
    strings = {c: np.array(["" if pd.isna(v) else str(v) for v in frame[c]], dtype=object) for c in ("color", "city")}
    return {"features": frame[["size", "age"]].to_numpy("float32"), **strings}


@pytest.mark.slow
def test_cli_sweep_on_a_mixed_table_and_raw_row_predictions(tmp_path, write_space, stores, monkeypatch) -> None:
    mixed_frame().to_csv(tmp_path / "mixed.csv", index=False)
    space_path = write_space(MIXED_SPACE, "mixed.toml")
    monkeypatch.chdir(tmp_path)  # the command, in this process
    assert run_in_process("--space", str(space_path), "--no-report", "--storage", stores["storage"],
                          "--tracking-uri", stores["tracking_uri"]) == 0
    client, _, children = mlflow_runs(stores["tracking_uri"], "mixed")
    assert len(children) == 1 and children[0].data.tags["state"] == "COMPLETE"
    run = children[0]
    folder = tmp_path / "download"
    path, signature = download_model(client, run.info.run_id, str(folder))
    model = keras.models.load_model(path)
    assert signature["features"] == ["size", "age"] and signature["categorical"] == ["color", "city"] and signature["missing"]
    classes = {t["name"]: t["classes"] for t in signature["tasks"]}
    assert classes == {"price": [], "churn": ["no", "yes"], "segment": ["high", "low", "mid"]}

    # The reloaded model is the one that was scored: its masked validation loss matches the logged metric.
    val = prepare_data(load_space(space_path)).val
    predicted = model.predict(val.inputs, verbose=0)
    present = ~np.isnan(val.y["price"])
    assert 0 < present.sum() < len(val)
    mse = float(np.mean((predicted["price"][present, 0] - val.y["price"][present]) ** 2))
    assert mse == pytest.approx(run.data.metrics["val/price/loss"], rel=1e-4)
    accuracy = float(np.mean(predicted["segment"].argmax(axis=1) == val.y["segment"]))
    assert accuracy == pytest.approx(run.data.metrics["val/segment/accuracy"], abs=1e-6)

    rows = mixed_frame(12, seed=5).drop(columns=["price", "churn", "segment label"])
    rows.loc[0, "color"], rows.loc[1, "city"], rows.loc[2, "age"], rows.loc[3, "color"] = "purple", "atlantis", np.nan, None
    rows.to_csv(tmp_path / "rows.csv", index=False)
    predict(run.info.run_id, stores["tracking_uri"], tmp_path / "rows.csv", tmp_path / "p.csv")  # the CLI's predict, in process
    written = pd.read_csv(tmp_path / "p.csv")
    assert list(written.columns) == ["price", "churn", "churn_probability", "segment"] and len(written) == 12
    expected = model.predict(raw_inputs(rows), verbose=0)
    assert np.isfinite(expected["price"]).all()
    np.testing.assert_allclose(written["price"], expected["price"][:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(written["churn_probability"], expected["churn"][:, 0], rtol=1e-5, atol=1e-6)
    assert list(written["churn"]) == [("yes" if p >= 0.5 else "no") for p in expected["churn"][:, 0]]
    assert list(written["segment"]) == [["high", "low", "mid"][i] for i in expected["segment"].argmax(axis=1)]


def test_bad_tables_are_one_error_naming_the_problem(tmp_path, write_space, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default stores would be created here
    pd.DataFrame({"a": np.arange(30.0), "empty": np.nan, "y": ["one", "two"] * 15}).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"a": np.arange(30.0), "y": ["one"] * 29 + [None]}).to_csv(tmp_path / "one.csv", index=False)
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 this is not a table")
    space = '[data]\nsource = "{}"\n{}[[data.tasks]]\nname = "y"\nkind = "binary"\n'
    for text, needle in (
        (space.format("t.csv", ""), "feature column 'empty' is all missing"),
        (space.format("one.csv", ""), "target 'y' has a single class"),
        (space.format("junk.parquet", ""), "is not a readable table"),
    ):
        with pytest.raises(MtlError, match=needle) as raised:
            run_in_process("--space", str(write_space(text, "bad.toml")), "--no-report")
        assert "\n" not in str(raised.value)
    assert not list(tmp_path.glob("mlruns/*.db"))  # nothing was written


def test_a_split_column_named_in_the_space_fixes_the_split(tmp_path, write_space) -> None:
    frame = mixed_frame(50).assign(part=["train", "train", "train", "val", "test"] * 10)
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    text = space_toml(MIXED_SPACE, data={"stratify": None, "split_column": "part"})
    splits = prepare_data(load_space(write_space(text, "split.toml")))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 10, 10)
    assert "part" not in splits.train.categorical
