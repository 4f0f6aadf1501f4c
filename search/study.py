"""Optuna studies: default embedded storage, samplers, opening/resuming with a space check, budgets."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from search.errors import SpaceError, StorageError
from search.pruning import make_pruner
from search.space import Space

STORE_DIR = Path("mlruns")
SPACE_ATTR, FINGERPRINT_ATTR, PARENT_ATTR = "space_toml", "space_fingerprint", "mlflow_parent_run_id"
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)

optuna.logging.set_verbosity(optuna.logging.ERROR)  # the harness prints its own progress lines
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def default_storage() -> str:
    """Optuna's embedded default: SQLite under ``mlruns/``."""
    STORE_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{STORE_DIR / 'optuna.db'}"


def default_tracking_uri() -> str:
    """MLflow's embedded default: SQLite under ``mlruns/`` (artifacts in ``mlruns/artifacts``)."""
    STORE_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{STORE_DIR / 'mlflow.db'}"


def local_artifact_root(tracking_uri: str) -> str | None:
    """Where a local SQLite tracking store keeps artifacts: beside the database file."""
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


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """A seeded sampler by its space-file name (see ``search.space.SAMPLERS``).

    TPE is multivariate and grouped so conditional parameters are modelled jointly; CMA-ES and the
    Gaussian process sample categorical and conditional parameters independently (at random).
    """
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=5, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=5, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=5)


def storage_error(storage: str, exc: Exception) -> StorageError:
    """One clear line for a storage that cannot be opened (password hidden)."""
    if isinstance(exc, ImportError):
        return StorageError(f"Optuna storage {redact(storage)!r}: missing database driver: {exc}")
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StorageError(f"cannot open Optuna storage {redact(storage)!r}: {reason}")


def load_existing_study(study_name: str, storage: str) -> optuna.Study:
    """An existing study, or :class:`StorageError` if it or its storage cannot be found."""
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise StorageError(f"no study {study_name!r} in Optuna storage {redact(storage)!r}") from None
    except Exception as exc:
        raise storage_error(storage, exc) from None


def open_study(space: Space, study_name: str, storage: str, n_tasks: int = 1, sampler_seed: int | None = None) -> optuna.Study:
    """Create the study or resume it; a study made from a different space is refused.

    With ``[objective] per_task`` the study has one objective per task (``n_tasks`` of them).
    ``sampler_seed`` defaults to the space's seed.
    """
    try:
        study = optuna.create_study(
            study_name=study_name,
            storage=storage,
            sampler=make_sampler(space.study.sampler, space.study.seed if sampler_seed is None else sampler_seed),
            pruner=make_pruner(space.study.pruner, space.study.pruner_options, space.training.epochs),
            directions=[space.objective.direction] * (n_tasks if space.per_task else 1),
            load_if_exists=True,
        )
    except Exception as exc:  # sqlalchemy/driver errors for unreachable or malformed URLs
        raise storage_error(storage, exc) from None
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    if stored is None:
        study.set_user_attr(FINGERPRINT_ATTR, space.fingerprint())
        study.set_user_attr(SPACE_ATTR, space.text)
    elif stored != space.fingerprint():
        raise SpaceError(space.path, "", f"study {study_name!r} was created from a different space or seed; "
                         "resume it with the same space file and seed, or choose another --study")
    return study


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards the study's budget: complete and pruned (failed ones are retried)."""
    return len(study.get_trials(deepcopy=False, states=COUNTED))
