"""MLflow tracking: the sweep's parent run and one child run per trial, written off the training thread; logged models read back."""

from __future__ import annotations

from search.tracking._background import BackgroundWriter
from search.tracking._keep import LOG_MODELS, ModelKeeping
from search.tracking._model import download_model, download_model_files, log_model, model_id_of, model_signature
from search.tracking._predict import predict
from search.tracking._registry import CHAMPION, Promotion, promote, promote_confirmed
from search.tracking._tracker import EpochLogger, Tracker

__all__ = [
    "CHAMPION", "LOG_MODELS", "BackgroundWriter", "EpochLogger", "ModelKeeping", "Promotion", "Tracker",
    "download_model", "download_model_files", "log_model", "model_id_of", "model_signature", "predict", "promote", "promote_confirmed",
]
