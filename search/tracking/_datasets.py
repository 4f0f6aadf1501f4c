"""The data a run trained and was scored on, as MLflow dataset inputs (the runs table's "Dataset" column).

Each split is one MLflow pandas dataset: its rows (numeric and categorical feature columns, then
the targets), named ``<data>-<split>`` after the space's ``[data] source`` (``synthetic-train``,
``mixed-test``), its source the space's ``[data] source`` and the split (the rows are cut by
code: a seeded split of that source), with MLflow's digest of those rows and the context tag ``training``,
``validation`` or ``test``. Runs on the same rows share digests.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mtl.data import Dataset, Splits

CONTEXTS = (("train", "training"), ("val", "validation"), ("test", "test"))


def rows_frame(data: Dataset) -> pd.DataFrame:
    """A split's rows as a table: numeric features, categorical features, then one column per target."""
    frame = pd.DataFrame(data.x, columns=list(data.feature_names))
    for name, values in data.categorical.items():
        frame[name] = values
    for task in data.tasks:
        frame[f"target:{task.name}"] = data.y[task.name]
    return frame


def dataset_inputs(splits: Splits, source: str) -> list[DatasetInput]:
    """The three splits of ``splits`` as dataset inputs of a run (see the module's docstring)."""
    stem = Path(source).stem or source
    inputs = []
    for split, context in CONTEXTS:
        frame = rows_frame(getattr(splits, split))
        dataset = from_pandas(frame, source=CodeDatasetSource({"data.source": source, "split": split}), name=f"{stem}-{split}")
        inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    return inputs
