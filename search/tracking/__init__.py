"""MLflow tracking: the sweep's parent run and one child run per trial, written off the training thread; logged models read back."""

from __future__ import annotations

from search.tracking._background import BackgroundWriter
from search.tracking._predict import predict
from search.tracking._tracker import EpochLogger, Tracker, download_model

__all__ = ["BackgroundWriter", "EpochLogger", "Tracker", "download_model", "predict"]
