"""``python -m search predict``: a trial's logged model applied to raw table rows, one column per task."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from mtl.data.tables import read_table
from mtl.errors import DataError
from search.tracking import download_model


def features_of(frame: pd.DataFrame, names: list[str], where: str) -> np.ndarray:
    """The model's input columns of ``frame`` in order, checked to exist, be numeric and be finite."""
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise DataError(f"{where}: the model needs column(s) {', '.join(map(repr, missing))}")
    for name in names:
        if not pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name]):
            raise DataError(f"{where}: feature column {name!r} is not numeric")
    x = frame[names].to_numpy(dtype="float32")
    bad = ~np.isfinite(x).all(axis=0)
    if bad.any():
        raise DataError(f"{where}: feature column {names[int(np.argmax(bad))]!r} holds NaN or infinite values")
    return x


def predict(run_id: str, tracking_uri: str, input_path: str | Path, output_path: str | Path) -> Path:
    """Write ``output_path`` (CSV): per task, the regression value, the binary probability or the class index."""
    import keras

    import mtl.models  # noqa: F401  (registers the custom layers the saved model may use)

    frame = read_table(input_path)
    with tempfile.TemporaryDirectory() as folder:
        model_path, signature = download_model(MlflowClient(tracking_uri), run_id, folder)
        x = features_of(frame, signature["features"], str(input_path))
        model = keras.models.load_model(model_path)
        predictions = model.predict(x, batch_size=4096, verbose=0)
    columns = {}
    for task in signature["tasks"]:
        values = np.asarray(predictions[task["name"]])
        columns[task["name"]] = values.argmax(axis=1) if task["kind"] == "multiclass" else values[:, 0]
    output = Path(output_path)
    pd.DataFrame(columns).to_csv(output, index=False)
    return output
