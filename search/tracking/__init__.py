"""MLflow tracking, the only code that talks to MLflow: the stored names (``_schema``), the sweep's parent run and
one child run per trial, written off the training thread; logged models read back."""

from __future__ import annotations

from search.tracking._background import BackgroundWriter
from search.tracking._keep import LOG_MODELS, ModelKeeping
from search.tracking._model import download_model, download_model_files, log_model, model_id_of, model_signature
from search.tracking._predict import predict
from search.tracking._registry import CHAMPION, Promotion, StudyPage, promote, promote_confirmed, study_pages
from search.tracking._schema import (
    ARMS_ATTR,
    BASELINE_KIND,
    BUDGET_ATTR,
    CONFIRM_KIND,
    EXPERIMENT_KIND_TAG,
    FAIL_ATTR,
    FINGERPRINT_ATTR,
    HEARTBEAT_TAG,
    MEAN_ATTR,
    MODEL_DEVELOPMENT,
    NOTE_TAG,
    OWNER_TAG,
    PARENT_ATTR,
    PARENT_TAG,
    REPEAT_KIND,
    RUN_ID_ATTR,
    SPACE_ATTR,
    STEP_MS_ATTR,
    WORKER_ATTR,
)
from search.tracking._tracker import EpochLogger, Tracker

__all__ = [
    "ARMS_ATTR", "BASELINE_KIND", "BUDGET_ATTR", "CONFIRM_KIND", "EXPERIMENT_KIND_TAG", "FAIL_ATTR", "FINGERPRINT_ATTR", "HEARTBEAT_TAG",
    "MEAN_ATTR", "MODEL_DEVELOPMENT", "NOTE_TAG", "OWNER_TAG", "PARENT_ATTR", "PARENT_TAG", "REPEAT_KIND", "RUN_ID_ATTR", "SPACE_ATTR",
    "STEP_MS_ATTR", "WORKER_ATTR",
    "CHAMPION", "LOG_MODELS", "BackgroundWriter", "EpochLogger", "ModelKeeping", "Promotion", "StudyPage", "Tracker",
    "download_model", "download_model_files", "log_model", "model_id_of", "model_signature", "predict", "promote",
    "promote_confirmed", "study_pages",
]
