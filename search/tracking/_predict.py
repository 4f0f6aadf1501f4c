"""``python -m search predict``: a trial's MLflow Model applied to raw table rows, one or two columns per task."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mtl.data.tables import read_table
from mtl.errors import DataError
from search.tracking._model import SIGNATURE_FILE, checked_rows, download_model_files, plain_frame


def predict(ref: str, tracking_uri: str, input_path: str | Path, output_path: str | Path) -> Path:
    """Write ``output_path`` (CSV): the pyfunc predictions of ``ref`` (a trial's run id or a ``models:/`` URI,
    ``models:/<study>@champion`` for instance) for the rows of ``input_path``.

    The rows are checked against the model's columns first (:func:`~search.tracking._model.checked_rows`),
    so a missing column or one of the wrong kind is one :class:`DataError` naming it rather than MLflow's
    schema report, and handed to the pyfunc as float64 and string columns, which the signature of any
    saved model accepts (a model saved before the ``Any`` signature declares ``double`` columns).
    """
    frame = read_table(input_path)
    with tempfile.TemporaryDirectory() as folder:
        local = download_model_files(MlflowClient(tracking_uri), ref, folder)
        rows = checked_rows(frame, json.loads((local / "artifacts" / SIGNATURE_FILE).read_text()), str(input_path))
        try:
            predictions = mlflow.pyfunc.load_model(str(local)).predict(plain_frame(rows, frame.index))
        except MlflowException as exc:  # MLflow's schema report holds the whole data frame: keep its last words
            raise DataError(f"{input_path}: {exc.message.rsplit('Error: ', 1)[-1].splitlines()[0]}") from None
    output = Path(output_path)
    predictions.to_csv(output, index=False)
    return output
