"""``python -m search predict``: a trial's logged model applied to raw table rows, one or two columns per task."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from mtl.data.columns import categorical_feature, is_categorical
from mtl.data.dataset import Dataset, ModelInputs
from mtl.data.tables import read_table
from mtl.errors import DataError
from search.tracking._tracker import download_model


def inputs_of(frame: pd.DataFrame, signature: dict[str, Any], where: str) -> ModelInputs:
    """The model's inputs from raw rows of ``frame``: its numeric columns (checked to exist and be numeric;
    NaN only where the model imputes) and its categorical columns as strings (missing as the empty string)."""
    numeric, categorical = signature["features"], signature.get("categorical", [])
    missing = [name for name in (*numeric, *categorical) if name not in frame.columns]
    if missing:
        raise DataError(f"{where}: the model needs column(s) {', '.join(map(repr, missing))}")
    for name in numeric:
        if is_categorical(frame[name]) and frame[name].notna().any():
            raise DataError(f"{where}: feature column {name!r} is not numeric")
    x = frame[numeric].to_numpy(dtype="float32", na_value=np.nan)
    try:
        rows = Dataset(x, {}, (), tuple(numeric), {c: categorical_feature(frame[c]) for c in categorical},
                       missing=signature.get("missing", False))
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    return rows.inputs


def task_columns(task: dict[str, Any], prediction: np.ndarray) -> dict[str, np.ndarray]:
    """Output columns of one task: the regression value; the binary probability (with string labels:
    the predicted label, and the second label's probability as ``<task>_probability``); the class
    index (with string labels: the class label)."""
    name, classes = task["name"], task.get("classes") or []
    if task["kind"] == "multiclass":
        index = prediction.argmax(axis=1)
        return {name: np.asarray(classes, dtype=object)[index] if classes else index}
    if task["kind"] == "binary" and classes:
        return {name: np.where(prediction[:, 0] >= 0.5, classes[1], classes[0]), f"{name}_probability": prediction[:, 0]}
    return {name: prediction[:, 0]}


def predict(run_id: str, tracking_uri: str, input_path: str | Path, output_path: str | Path) -> Path:
    """Write ``output_path`` (CSV) with one or two columns per task (:func:`task_columns`)."""
    import keras

    import mtl.models  # noqa: F401  (registers the custom layers the saved model may use)

    frame = read_table(input_path)
    with tempfile.TemporaryDirectory() as folder:
        model_path, signature = download_model(MlflowClient(tracking_uri), run_id, folder)
        inputs = inputs_of(frame, signature, str(input_path))
        model = keras.models.load_model(model_path)
        predictions = model.predict(inputs, batch_size=4096, verbose=0)
    columns: dict[str, np.ndarray] = {}
    for task in signature["tasks"]:
        columns.update(task_columns(task, np.asarray(predictions[task["name"]])))
    output = Path(output_path)
    pd.DataFrame(columns).to_csv(output, index=False)
    return output
