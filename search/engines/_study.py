"""Optuna studies: default embedded storage, samplers, opening/resuming with a space check, budgets."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from mlflow.exceptions import MlflowException
from optuna.trial import TrialState

from search.cluster import COUNTED, make_storage
from search.engines._pruning import make_pruner
from search.errors import SpaceError, StorageError
from search.space import Space, parse_space
from search.stores import default_tracking_uri, redact
from search.tracking import FINGERPRINT_ATTR, SPACE_ATTR, Tracker

_DRAWN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)  # trials whose parameters are drawn already
optuna.logging.set_verbosity(optuna.logging.ERROR)  # the harness prints its own progress lines
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


STARTUP_TRIALS = 5  # trials TPE, CMA-ES and the Gaussian process draw at random before they model results
MAX_STARTUP_BATCH = 8  # with the random sampler every trial is a start-up trial: batches of at most this many


def make_sampler(name: str, seed: int, batch: int | str = 1) -> optuna.samplers.BaseSampler:
    """A seeded sampler by its space-file name (see ``search.space.SAMPLERS``).

    TPE is multivariate and grouped so conditional parameters are modelled jointly; CMA-ES and the
    Gaussian process sample categorical and conditional parameters independently (at random). Asked
    for ``batch`` > 1 trials at once, TPE lies about the running ones (``constant_liar``), so a batch
    spreads out instead of proposing one point B times; with ``batch = "startup"`` only the random
    start-up trials are asked together, and TPE is the one-by-one sampler.
    """
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=STARTUP_TRIALS, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=STARTUP_TRIALS, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=STARTUP_TRIALS,
                                      constant_liar=isinstance(batch, int) and batch > 1)


def batch_size(sampler: str, batch: int | str) -> Callable[[optuna.Study], int]:
    """How many trials to ask at once, given the study so far: ``batch`` when it is a number; with
    ``"startup"``, the sampler's start-up trials not yet asked (TPE, CMA-ES and the Gaussian process
    draw their first :data:`STARTUP_TRIALS` at random, whatever the results, so asking them together
    samples the same trials as one by one), up to :data:`MAX_STARTUP_BATCH` for the random sampler,
    and 1 once they are asked (or for NSGA-II, whose generations are not start-up trials): each later trial is
    asked after every earlier one is told, as one by one, and trains as a stack of one copy."""
    if isinstance(batch, int):
        return lambda study: batch
    if sampler == "random":
        return lambda study: MAX_STARTUP_BATCH
    if sampler == "nsga2":
        return lambda study: 1
    return lambda study: max(STARTUP_TRIALS - len(study.get_trials(deepcopy=False, states=_DRAWN)), 1)


def storage_error(storage: str, exc: Exception) -> StorageError:
    """One clear line for a storage that cannot be opened (password hidden)."""
    if isinstance(exc, ImportError):
        return StorageError(f"Optuna storage {redact(storage)!r}: missing database driver: {exc}")
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StorageError(f"cannot open Optuna storage {redact(storage)!r}: {reason}")


def load_existing_study(study_name: str, storage: str, tracking_uri: str | None = None) -> optuna.Study:
    """An existing study, or :class:`StorageError` if it or its storage cannot be found."""
    try:
        return optuna.load_study(study_name=study_name, storage=make_storage(storage, tracking_uri or default_tracking_uri()))
    except KeyError:
        raise StorageError(f"no study {study_name!r} in Optuna storage {redact(storage)!r}") from None
    except Exception as exc:
        raise storage_error(storage, exc) from None


def open_study(space: Space, study_name: str, storage: str, n_tasks: int = 1, sampler_seed: int | None = None,
               tracking_uri: str | None = None) -> optuna.Study:
    """Create the study or resume it; a study made from a different space is refused.

    With ``[objective] per_task`` the study has one objective per task (``n_tasks`` of them).
    ``sampler_seed`` defaults to the space's seed. ``tracking_uri`` is where a dead worker's
    MLflow run gets ended (server databases only, see :mod:`search.cluster`).
    """
    try:
        study = optuna.create_study(
            study_name=study_name,
            storage=make_storage(storage, tracking_uri or default_tracking_uri()),
            sampler=make_sampler(space.study.sampler, space.study.seed if sampler_seed is None else sampler_seed,
                                 space.study.batch),
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


def stored_space(study: optuna.Study, tracker: Tracker, parent_run_id: str) -> Space:
    """The space the study was created from, with the seed it ran with (the parent run's ``seed``)."""
    text = study.user_attrs.get(SPACE_ATTR)
    if text is None:
        raise StorageError(f"study {study.study_name!r} stores no space; was it created by `python -m search run`?")
    try:
        params = tracker.get_run(parent_run_id).data.params
    except MlflowException as exc:
        reason = exc.message.splitlines()[0]
        raise StorageError(f"MLflow parent run {parent_run_id} of study {study.study_name!r}: {reason}") from None
    where = params.get("space", f"study {study.study_name}")
    space = parse_space(text, where, base=Path(where).parent)
    if "seed" in params:
        space = space.with_seed(int(params["seed"]))
    if space.fingerprint() != study.user_attrs.get(FINGERPRINT_ATTR):
        raise SpaceError(where, "", f"the space stored in study {study.study_name!r} does not match its fingerprint")
    return space
