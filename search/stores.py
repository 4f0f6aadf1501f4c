"""Where things are stored by default (embedded SQLite under ``mlruns/``), and URLs fit to print."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

STORE_DIR = Path("mlruns")


def default_storage() -> str:
    """Optuna's embedded default: SQLite under ``mlruns/``."""
    STORE_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{STORE_DIR / 'optuna.db'}"


def default_tracking_uri() -> str:
    """MLflow's embedded default: SQLite under ``mlruns/`` (artifacts in ``mlruns/artifacts``)."""
    STORE_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{STORE_DIR / 'mlflow.db'}"


def local_artifact_root(tracking_uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``MTL_ARTIFACT_ROOT`` if set (e.g. a shared volume or
    ``s3://bucket/path``), beside the database file for a local SQLite store, else MLflow's default."""
    if os.environ.get("MTL_ARTIFACT_ROOT"):
        return os.environ["MTL_ARTIFACT_ROOT"]
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    return (database.parent / "artifacts").resolve().as_uri()


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url
