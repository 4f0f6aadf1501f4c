"""Task kinds: their output layer, loss, metrics and the trivial-baseline loss used to normalise."""

from __future__ import annotations

import re
from dataclasses import dataclass

import keras
import numpy as np

from mtl.errors import DataError

KINDS = ("regression", "binary", "multiclass")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Task:
    """One prediction target: a name (also its Keras output name), a kind, and classes if multiclass.

    ``classes`` are the original labels of a classification target read from strings (index i is
    label ``classes[i]``); empty where the target was numeric already.
    """

    name: str
    kind: str
    n_classes: int = 0
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise DataError(
                f"task name {self.name!r} must start with a letter and hold only letters, digits, '_'"
            )
        if self.kind not in KINDS:
            raise DataError(f"task {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "multiclass" and self.n_classes < 2:
            raise DataError(f"task {self.name!r}: a multiclass task needs at least 2 classes")
        if self.classes and len(self.classes) != max(self.n_classes, 2):
            raise DataError(f"task {self.name!r}: {len(self.classes)} class labels for {max(self.n_classes, 2)} classes")

    @property
    def units(self) -> int:
        """Width of the task's output layer."""
        return self.n_classes if self.kind == "multiclass" else 1

    @property
    def activation(self) -> str:
        """Activation of the task's output layer."""
        return {"regression": "linear", "binary": "sigmoid", "multiclass": "softmax"}[self.kind]

    @property
    def output_signature(self) -> tuple[int, str]:
        """What must agree for two tasks to share one output layer instance."""
        return (self.units, self.activation)

    @property
    def loss(self) -> str:
        """Keras loss name for this kind."""
        return {
            "regression": "mean_squared_error",
            "binary": "binary_crossentropy",
            "multiclass": "sparse_categorical_crossentropy",
        }[self.kind]

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Names of the metrics logged for this task (besides its loss)."""
        return {
            "regression": ("rmse", "mae"),
            "binary": ("auc", "accuracy"),
            "multiclass": ("accuracy",),
        }[self.kind]

    def metrics(self, prefix: str = "") -> list[keras.metrics.Metric]:
        """Fresh Keras metric objects, named ``prefix`` + each name of :attr:`metric_names`."""
        if self.kind == "regression":
            return [keras.metrics.RootMeanSquaredError(name=f"{prefix}rmse"), keras.metrics.MeanAbsoluteError(name=f"{prefix}mae")]
        if self.kind == "binary":
            return [keras.metrics.AUC(name=f"{prefix}auc"), keras.metrics.BinaryAccuracy(name=f"{prefix}accuracy")]
        return [keras.metrics.SparseCategoricalAccuracy(name=f"{prefix}accuracy")]

    def baseline_loss(self, y_train: np.ndarray, y_eval: np.ndarray) -> float:
        """Loss on ``y_eval`` of the trivial model that predicts the training mean or class prior."""
        eps = 1e-7
        if self.kind == "regression":
            return float(np.mean((y_eval - np.mean(y_train)) ** 2))
        if self.kind == "binary":
            p = float(np.clip(np.mean(y_train), eps, 1 - eps))
            return float(-np.mean(y_eval * np.log(p) + (1 - y_eval) * np.log(1 - p)))
        prior = np.bincount(y_train.astype(int), minlength=self.n_classes) / len(y_train)
        prior = np.clip(prior, eps, 1.0)
        return float(-np.mean(np.log(prior[y_eval.astype(int)])))
