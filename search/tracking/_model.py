"""A trial's model as an MLflow Model: a pyfunc on raw table rows, with the Keras file and a ``keras`` flavor inside.

The Logged Model (name ``model``, linked to the trial's run as its output) holds:
  ``artifacts/model.keras``      the trained Keras model (custom layers: ``import mtl.models`` first)
  ``artifacts/signature.json``   :func:`model_signature`: input columns, their training dtypes, and tasks
  ``python_model.pkl``           :class:`MultiTaskModel`: raw rows in, one or two columns per task out
and an MLflow signature (inputs: one ``Any`` column per feature column; outputs: the columns
:func:`task_columns` writes). ``mlflow.pyfunc.load_model`` gives the pyfunc, ``mlflow.keras.load_model``
the Keras model. Requirements are pinned explicitly: inferring them would reload the model in a
subprocess, about 9 s a trial.

Column types: the model converts, the signature does not constrain. MLflow's schema enforcement
accepts no single column type for what pandas reads from one table column: ``double`` refuses int64
("Can not safely convert int64 to float64"), ``long`` refuses floats and a nullable Int64 column with
missing values, ``string`` refuses ``bool`` and ``category`` columns, and a JSON request to
``mlflow models serve`` gives int64 for a column of whole numbers and float64 once one is null.
So every input column is declared ``Any`` (named and required: MLflow still checks that it is
there), and :func:`inputs_of` converts inside the model, as training did: a numeric feature from any
numeric dtype (int64, Int64 with missing values, float32, float64, or an object column of numbers) to
float32 with NaN, a categorical one from any dtype (str, object, bool, category) to strings. A column of
the wrong kind (strings in a numeric column) is one :class:`~mtl.errors.DataError` line naming the
column, what it holds and what is expected, with the training column's dtype, which ``signature.json``
records under ``dtypes``. Models saved before (no ``dtypes``, ``double``/``string`` signatures) load
and predict as before; ``python -m search predict`` hands them float64 and string columns, which
their signature accepts.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import warnings
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema, TensorSpec
from mlflow.types.schema import AnyType

from mtl.data import Dataset
from mtl.data.columns import categorical_feature, numeric_rows
from mtl.data.dataset import ModelInputs
from mtl.errors import DataError
from search.errors import StorageError

MODEL_NAME = "model"  # the Logged Model's name, as MLflow's ``name=`` convention has it
KERAS_FILE, SIGNATURE_FILE = "model.keras", "signature.json"
# MLflow warns when a model has no input example (the signature says it all) and an untyped predict: both on
# purpose. Filters for the process, not warnings.catch_warnings: models are saved from the background writer's
# thread, and catch_warnings is not thread-safe (a warning slipped through while another thread held it).
warnings.filterwarnings("ignore", message=r".*An input example was not provided", category=UserWarning)
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method", category=UserWarning)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no download bars in the CLI's output
logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # the pyfunc is pickled on purpose: it is this package's class
REQUIRED = ("mtl-search", "keras", "tensorflow-cpu", "tensorflow", "mlflow", "numpy", "pandas")


def model_signature(data: Dataset) -> dict[str, Any]:
    """What a saved model takes and gives: ``features`` (numeric columns, in order), ``categorical``
    (string columns), ``dtypes`` (each feature column's pandas dtype in the training table; empty for
    data that never was a table), ``missing`` (whether NaN is accepted and imputed) and ``tasks`` (each
    with its kind and, for string labels, its ``classes``)."""
    return {
        "features": list(data.feature_names),
        "categorical": list(data.categorical),
        "dtypes": dict(data.dtypes),
        "missing": data.missing,
        "tasks": [asdict(task) for task in data.tasks],
    }


def checked_rows(frame: pd.DataFrame, signature: dict[str, Any], where: str) -> Dataset:
    """The raw rows of ``frame`` as the model's columns: its numeric columns as float32 from any numeric
    dtype (:func:`~mtl.data.columns.numeric_rows`; NaN only where the model imputes) and its categorical
    columns from any dtype as strings (missing as the empty string); :class:`DataError` naming a missing
    column or one of the wrong kind."""
    numeric, categorical = signature["features"], signature.get("categorical", [])
    missing = [name for name in (*numeric, *categorical) if name not in frame.columns]
    if missing:
        raise DataError(f"{where}: the model needs column(s) {', '.join(map(repr, missing))}")
    trained = signature.get("dtypes", {})
    x = np.zeros((len(frame), 0), dtype="float32")
    if numeric:
        x = np.stack([numeric_rows(frame[name], where, trained.get(name)) for name in numeric], axis=1)
    try:
        return Dataset(x, {}, (), tuple(numeric), {c: categorical_feature(frame[c]) for c in categorical},
                       missing=signature.get("missing", False))
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None


def inputs_of(frame: pd.DataFrame, signature: dict[str, Any], where: str) -> ModelInputs:
    """The model's inputs from the raw rows of ``frame`` (:func:`checked_rows`)."""
    return checked_rows(frame, signature, where).inputs


def plain_frame(rows: Dataset, index: pd.Index) -> pd.DataFrame:
    """``rows`` (:func:`checked_rows`) as a data frame of float64 and string columns: what any saved model's
    MLflow signature accepts, the ``double``/``string`` one of models saved before ``dtypes`` included."""
    numeric = {name: rows.x[:, j].astype("float64") for j, name in enumerate(rows.feature_names)}
    return pd.DataFrame({**numeric, **rows.categorical}, index=index)


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


def predict_frame(model: keras.Model, signature: dict[str, Any], frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """``model``'s predictions for the raw rows of ``frame``: :func:`task_columns` for every task, in order."""
    predictions = model.predict(inputs_of(frame, signature, where), batch_size=4096, verbose=0)
    columns: dict[str, np.ndarray] = {}
    for task in signature["tasks"]:
        columns.update(task_columns(task, np.asarray(predictions[task["name"]])))
    return pd.DataFrame(columns, index=frame.index)


class MultiTaskModel(PythonModel):
    """The pyfunc: loads the Keras model (custom layers registered) and applies :func:`predict_frame`."""

    def load_context(self, context: Any) -> None:
        """Load the Keras file and the column signature from the model's artifacts."""
        import mtl.models  # noqa: F401  (registers the custom layers the saved model may use)

        self.model = keras.models.load_model(context.artifacts["keras_model"])
        self.columns = json.loads(Path(context.artifacts["signature"]).read_text())

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """One or two columns per task for the raw table rows ``model_input`` (a pandas DataFrame)."""
        return predict_frame(self.model, self.columns, model_input, "model input")


def mlflow_signature(columns: dict[str, Any]) -> ModelSignature:
    """The MLflow signature of a model with these columns (:func:`model_signature`): an ``Any`` input
    column per feature column (the model converts them, see the module's docstring), an output column per
    :func:`task_columns` column."""
    anything = AnyType()  # type: ignore[no-untyped-call]  # MLflow declares no types for it
    inputs: list[ColSpec | TensorSpec] = [ColSpec(anything, name) for name in (*columns["features"], *columns.get("categorical", []))]
    outputs: list[ColSpec | TensorSpec] = []
    for task in columns["tasks"]:
        name, classes = task["name"], task.get("classes") or []
        if task["kind"] == "multiclass":
            outputs.append(ColSpec("string" if classes else "long", name))
        elif task["kind"] == "binary" and classes:
            outputs += [ColSpec("string", name), ColSpec("double", f"{name}_probability")]
        else:
            outputs.append(ColSpec("double", name))
    return ModelSignature(Schema(inputs), Schema(outputs))


@functools.cache
def requirements() -> tuple[str, ...]:
    """The installed versions of what the pyfunc imports, pinned (packages not installed are left out);
    read once per process, not once per trial."""
    pinned = []
    for name in REQUIRED:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return tuple(pinned)


def log_model(client: MlflowClient, experiment_id: str, run_id: str, model: keras.Model, columns: dict[str, Any]) -> str:
    """Log ``model`` as the Logged Model ``model`` of run ``run_id`` (its output); return the model id.

    Written with ``client`` alone (no global tracking URI, no active run), so it is safe on any store and
    from a background thread; the model is READY once every file is written, FAILED if writing fails.
    """
    logged = client.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id)
    try:
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
        with tempfile.TemporaryDirectory() as folder:
            files = Path(folder)
            model.save(files / KERAS_FILE)
            (files / SIGNATURE_FILE).write_text(json.dumps(columns))
            meta = Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=run_id,
                         model_id=logged.model_id)
            meta.add_flavor("keras", keras_version=keras.__version__, data=f"artifacts/{Path(KERAS_FILE).stem}",
                            save_exported_model=False)
            mlflow.pyfunc.save_model(files / "mlflow-model", python_model=MultiTaskModel(), mlflow_model=meta,
                                     artifacts={"keras_model": str(files / KERAS_FILE), "signature": str(files / SIGNATURE_FILE)},
                                     signature=mlflow_signature(columns), pip_requirements=list(requirements()))
            client.log_model_artifacts(logged.model_id, str(files / "mlflow-model"))
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    model_id: str = logged.model_id
    return model_id


def run_model_id(client: MlflowClient, run_id: str) -> str:
    """The id of the Logged Model run ``run_id`` output; :class:`StorageError` if the run or its model is missing."""
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise StorageError(f"no MLflow run {run_id!r} in this tracking store") from None
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    if not outputs:
        raise StorageError(f"MLflow run {run_id!r} has no logged model (only trials that trained log one)")
    model_id: str = outputs[-1].model_id
    return model_id


def model_id_of(client: MlflowClient, ref: str) -> str:
    """The Logged Model id ``ref`` names: a run id (the model that run logged), ``models:/<model id>``,
    ``models:/<name>@<alias>`` or ``models:/<name>/<version>``; :class:`StorageError` if there is none."""
    if not ref.startswith("models:/"):
        return run_model_id(client, ref)
    path = ref.removeprefix("models:/").strip("/")
    try:
        if "@" in path:
            name, alias = path.split("@", 1)
            found = client.get_model_version_by_alias(name, alias)
        elif "/" in path:
            name, number = path.split("/", 1)
            found = client.get_model_version(name, number)
        else:
            model_id: str = client.get_logged_model(path).model_id
            return model_id
    except MlflowException as exc:
        raise StorageError(f"no model {ref!r} in this tracking store: {exc.message.splitlines()[0]}") from None
    # SQL registries keep the Logged Model only as the version's source, models:/<model id>
    uri = found.source or ""
    source = found.model_id or (uri.removeprefix("models:/") if uri.startswith("models:/m-") else None)
    if not source:
        raise StorageError(f"model {ref!r} is not a Logged Model of this tracking store (source {uri})")
    return str(source)


def download_model_files(client: MlflowClient | str, ref: str, folder: str) -> Path:
    """Download the MLflow Model ``ref`` names (:func:`model_id_of`) into ``folder``; return its directory.
    ``client`` is a client or a tracking URI."""
    if isinstance(client, str):
        client = MlflowClient(client)
    model_id = model_id_of(client, ref)
    try:
        location = client.get_logged_model(model_id).artifact_location
        local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=folder, tracking_uri=client.tracking_uri)
    except (MlflowException, OSError) as exc:
        raise StorageError(f"cannot read model {ref!r}: {str(exc).splitlines()[0]}") from None
    return Path(local)


def download_model(client: MlflowClient | str, ref: str, folder: str) -> tuple[Path, dict[str, Any]]:
    """Download the model of ``ref`` (:func:`model_id_of`) into ``folder``: the path of its Keras file
    and its column signature. ``client`` is a client or a tracking URI."""
    local = download_model_files(client, ref, folder) / "artifacts"
    return local / KERAS_FILE, json.loads((local / SIGNATURE_FILE).read_text())
