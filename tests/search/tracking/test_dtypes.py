"""A model predicts on its training table as pandas reads it: one small table with every column type (int64,
nullable Int64 with missing values, bool, category, object strings, float32, float64) through the pyfunc and
`python -m search predict` (CSV and Parquet); a column of the wrong kind is one line naming it."""

from __future__ import annotations

import json
import shutil

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model, ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

import mtl.models  # noqa: F401  (registers the custom layers a saved model uses)
from mtl.errors import MtlError
from search.engines import run_sweep
from search.space import load_space
from search.tracking import download_model, download_model_files, predict
from search.tracking._model import SIGNATURE_FILE, checked_rows, plain_frame
from tests.helpers import assert_one_line_error, cli

pytestmark = pytest.mark.slow

CHAMPION = "models:/dtypes@champion"
TYPES_SPACE = """
[study]
name = "dtypes"
trials = 1
sampler = "random"
seed = 1

[data]
source = "table.parquet"

[[data.tasks]]
name = "value"
kind = "regression"

[[data.tasks]]
name = "sold"
kind = "binary"

[training]
epochs = 2
patience = 2

[search]
shared_depth = 1
shared_width = 8
tower_depth = 0
tower_width = 4
learning_rate = 0.01
batch_size = 16
"""
TRAINED = {"year": "int64", "rooms": "Int64", "ratio": "float32", "area": "float64", "garden": "bool", "grade": "category",
           "city": "object"}


def types_table(rows: int = 40) -> pd.DataFrame:
    """Every column type a table may bring, missing values where the type has them, two targets."""
    rng = np.random.default_rng(5)
    year = rng.integers(1950, 2020, rows)
    rooms = pd.array(rng.integers(1, 6, rows), dtype="Int64")
    rooms[rng.random(rows) < 0.2] = pd.NA
    area = np.where(rng.random(rows) < 0.1, np.nan, rng.normal(80, 20, rows))
    city = pd.Series(rng.choice(["oslo", "rome", "lima"], rows), dtype=object)
    city[rng.random(rows) < 0.1] = None
    value = (year - 1985) / 20 + rng.normal(0, 0.3, rows)
    return pd.DataFrame({
        "year": year, "rooms": rooms, "ratio": rng.random(rows).astype("float32"), "area": area,
        "garden": rng.random(rows) < 0.5, "grade": pd.Categorical(rng.choice(["a", "b", "c"], rows)), "city": city,
        "value": value, "sold": (value > 0).astype("int64"),
    })


@pytest.fixture(scope="module")
def trained(tmp_path_factory, empty_mlflow_db):
    """One tiny sweep on the table (Parquet keeps every dtype): (tracking URI, the champion's pyfunc, its column signature)."""
    folder = tmp_path_factory.mktemp("dtypes")
    table = types_table()
    assert {c: str(t) for c, t in table.dtypes.items() if c in TRAINED} == TRAINED
    table.to_parquet(folder / "table.parquet")
    (folder / "space.toml").write_text(TYPES_SPACE)
    tracking = f"sqlite:///{shutil.copyfile(empty_mlflow_db, folder / 'mlflow.db')}"  # an empty store, put in place
    run_sweep(load_space(folder / "space.toml"), trials=1, storage=f"sqlite:///{folder / 'optuna.db'}", tracking_uri=tracking,
              printer=lambda line: None)
    local = download_model_files(MlflowClient(tracking), CHAMPION, str(folder / "model"))
    signature = json.loads((local / "artifacts" / SIGNATURE_FILE).read_text())
    return tracking, mlflow.pyfunc.load_model(str(local)), signature


def rows_to_predict() -> pd.DataFrame:
    """Other rows of the same kind, without the targets, in the training table's dtypes."""
    return types_table(24).drop(columns=["value", "sold"]).iloc[::-1]


def test_the_pyfunc_takes_every_dtype_pandas_reads_and_matches_the_keras_model(trained, tmp_path) -> None:
    tracking, pyfunc, signature = trained
    assert signature["features"] == ["year", "rooms", "ratio", "area"] and signature["categorical"] == ["garden", "grade", "city"]
    assert {c: t.replace("str", "object") for c, t in signature["dtypes"].items()} == TRAINED  # pandas 3 reads strings as str
    declared = {c.name: c.to_dict()["type"] for c in pyfunc.metadata.get_input_schema().inputs}
    assert declared == dict.fromkeys(TRAINED, "any")

    rows = rows_to_predict()
    assert str(rows["rooms"].dtype) == "Int64" and rows["rooms"].isna().any() and rows["area"].isna().any()
    model = keras.models.load_model(download_model(MlflowClient(tracking), CHAMPION, str(tmp_path))[0])
    strings = {c: np.array(["" if pd.isna(v) else str(v) for v in rows[c]], dtype=object) for c in signature["categorical"]}
    keras_out = model.predict({"features": rows[signature["features"]].astype("float64").to_numpy("float32"), **strings}, verbose=0)

    expected = pyfunc.predict(rows)
    assert list(expected.columns) == ["value", "sold"] and list(expected.index) == list(rows.index)
    np.testing.assert_allclose(expected["value"], keras_out["value"][:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(expected["sold"], keras_out["sold"][:, 0], rtol=1e-5, atol=1e-6)

    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.to_parquet(tmp_path / "rows.parquet")
    from_csv, from_parquet = pd.read_csv(tmp_path / "rows.csv"), pd.read_parquet(tmp_path / "rows.parquet")
    assert str(from_csv["year"].dtype) == "int64" and str(from_csv["rooms"].dtype) == "float64"  # the table
    as_json = rows.astype(object).where(rows.notna(), None)  # numbers and None in object columns, as a server may hand them
    for variant in (from_csv, from_parquet, as_json, rows.astype({"year": "int32", "ratio": "float64", "rooms": "float32"})):
        pd.testing.assert_frame_equal(pyfunc.predict(variant).reset_index(drop=True), expected.reset_index(drop=True),
                                      check_exact=False, rtol=1e-5)

    # A column of the wrong kind: one line naming it, what it holds and what was expected, never the data frame.
    for column, values, needle in (
        ("year", "n/a", "column 'year' holds str values such as 'n/a', expected numbers (the training column was int64)"),
        ("rooms", True, "column 'rooms' holds bool values such as True, expected numbers (the training column was Int64)"),
        ("area", pd.Categorical(["big"] * 24), "column 'area' holds str values such as 'big', expected numbers"),  # MLflow's Any: str
    ):
        rows = rows_to_predict().assign(**{column: values})
        with pytest.raises(MtlError) as raised:
            pyfunc.predict(rows)
        assert needle in str(raised.value) and "\n" not in str(raised.value)
        assert len(str(raised.value)) < 200  # never the data frame


def test_search_predict_reads_csv_and_parquet_and_fails_in_one_line(trained, tmp_path) -> None:
    tracking, pyfunc, _ = trained
    rows = rows_to_predict()
    expected = pyfunc.predict(rows).reset_index(drop=True)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.to_parquet(tmp_path / "rows.parquet")
    for name in ("rows.csv", "rows.parquet"):
        written = pd.read_csv(predict(CHAMPION, tracking, tmp_path / name, tmp_path / f"{name}.out.csv"))
        pd.testing.assert_frame_equal(written, expected, check_exact=False, rtol=1e-5, check_dtype=False)

    rows.assign(year=["unknown", *rows["year"].iloc[1:]]).to_csv(tmp_path / "bad.csv", index=False)
    assert_one_line_error(cli("predict", "--model", CHAMPION, "--input", str(tmp_path / "bad.csv"), "--output",
                              str(tmp_path / "bad.out.csv"), "--tracking-uri", tracking, cwd=tmp_path),
                          "bad.csv: column 'year' holds", "'unknown', expected numbers (the training column was int64)")
    assert not (tmp_path / "bad.out.csv").exists()


def test_a_model_saved_before_dtypes_predicts_as_before(trained, tmp_path) -> None:
    """A model logged before this change: ``double``/``string`` signature, no ``dtypes`` in signature.json.
    ``search predict`` hands it float64 and string columns, which that signature accepts."""
    tracking, pyfunc, signature = trained
    old = {k: v for k, v in signature.items() if k != "dtypes"}
    local = download_model_files(MlflowClient(tracking), CHAMPION, str(tmp_path))
    meta = Model.load(str(local))
    meta.signature = ModelSignature(Schema([*(ColSpec("double", c) for c in old["features"]),
                                            *(ColSpec("string", c) for c in old["categorical"])]), meta.signature.outputs)
    meta.save(str(local / "MLmodel"))
    (local / "artifacts" / SIGNATURE_FILE).write_text(json.dumps(old))
    rows = rows_to_predict()
    with pytest.raises(mlflow.exceptions.MlflowException, match="Can not safely convert int64 to float64"):
        mlflow.pyfunc.load_model(str(local)).predict(rows)  # the old signature, as MLflow enforces it
    answer = mlflow.pyfunc.load_model(str(local)).predict(plain_frame(checked_rows(rows, old, "rows"), rows.index))
    pd.testing.assert_frame_equal(answer, pyfunc.predict(rows), check_exact=False, rtol=1e-5)
    with pytest.raises(MtlError, match=r"^rows: column 'year' holds str values such as 'x', expected numbers$"):
        checked_rows(rows.assign(year="x"), old, "rows")
