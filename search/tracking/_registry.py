"""The registry champion: a study's best model as a version of a registered model, under the alias ``champion``.

The alias moves only to a strictly better objective: a resumed sweep whose best trial did not
improve leaves it (and registers nothing new). Each version carries the tags ``trial`` (the
Optuna trial number), ``strategy``, ``objective`` (the trial's validation objective), ``direction``
and ``study``; its source is the trial's Logged Model
(``models:/<model id>``, as ``mlflow.register_model`` writes it) and it names the trial's run.

A comparison's champion follows its confirmed ranking instead (:func:`promote_confirmed`): the alias
moves only when the ranking puts another arm or trial first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from search.errors import StorageError
from search.tracking._model import run_model_id
from search.tracking._tracker import Tracker, duplicate_key

CHAMPION = "champion"


@dataclass(frozen=True)
class Promotion:
    """Where the alias stands after :func:`promote`: the version it names, its objective, and whether it moved."""

    name: str
    version: str
    objective: float
    moved: bool
    arm: str | None = None  # a comparison's champion: its arm (``objective`` is then its confirmed test objective)

    def line(self) -> str:
        """One line for the terminal."""
        uri = f"models:/{self.name}@{CHAMPION}"
        if self.arm is not None:
            if self.moved:
                return f"champion: {uri} is now version {self.version} ({self.arm}, confirmed test objective {self.objective:.4f})"
            return f"champion: {uri} stays version {self.version} ({self.arm}; the confirmed ranking still puts it first)"
        if self.moved:
            return f"champion: {uri} is now version {self.version} (objective {self.objective:.4f})"
        return f"champion: {uri} stays version {self.version} (objective {self.objective:.4f}; no better trial)"


def _current(client: MlflowClient, name: str) -> tuple[str, float, str] | None:
    """The champion's version, objective and run id, or None without one."""
    try:
        found = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    objective = float(found.tags.get("objective", "nan"))
    return str(found.version), objective, str(found.run_id)


def _improves(objective: float, held: float, minimize: bool) -> bool:
    """Whether ``objective`` beats the champion's ``held`` one (any objective beats a missing one)."""
    return math.isnan(held) or (objective < held if minimize else objective > held)


def promote(tracker: Tracker, name: str, run_id: str, objective: float, minimize: bool,
            tags: Mapping[str, object]) -> Promotion:
    """Register the model run ``run_id`` logged as a new version of ``name`` and point ``champion`` at it,
    unless the current champion is that run or has an objective at least as good."""
    client = tracker.client
    current = _current(client, name)
    if current is not None:
        version, held, held_run = current
        if held_run == run_id or not _improves(objective, held, minimize):
            return Promotion(name, version, held, moved=False)
    version = _register(client, name, run_id, {**{k: str(v) for k, v in tags.items()}, "objective": repr(float(objective))})
    try:
        client.set_registered_model_alias(name, CHAMPION, version)
    except MlflowException as exc:  # another worker set the alias at the same moment: the better one keeps it
        if not duplicate_key(exc):
            raise
        current = _current(client, name)
        if current is not None and not _improves(objective, current[1], minimize):
            return Promotion(name, current[0], current[1], moved=False)
        client.set_registered_model_alias(name, CHAMPION, version)
    return Promotion(name, version, float(objective), moved=True)


def _register(client: MlflowClient, name: str, run_id: str, tags: Mapping[str, str], description: str | None = None) -> str:
    """Register the model run ``run_id`` logged as a new version of ``name`` (created where missing); its number."""
    model_id = run_model_id(client, run_id)
    try:
        client.create_registered_model(name, description="The best model of an mtl-search study (see each version's tags).")
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
    # MLflow's SQL registry resolves a models:/ source through the global tracking URI, not this client's
    with _use_tracking_uri(client.tracking_uri):
        created = client.create_model_version(name, source=f"models:/{model_id}", run_id=run_id, tags=dict(tags),
                                              model_id=model_id, description=description)
    return str(created.version)


SAME_CHAMPION = ("study", "arm", "trial")  # the tags that say which confirmed arm and trial a version is


def promote_confirmed(tracker: Tracker, name: str, run_id: str, tags: Mapping[str, str], description: str,
                      objective: float) -> Promotion:
    """Make the model run ``run_id`` logged (a comparison's first arm by its confirmed ranking) the champion of
    ``name``, with ``tags`` (:data:`SAME_CHAMPION` among them) and ``description``.

    Where the champion already is that study's arm and trial, the alias stays and the version's tags and
    description are brought up to date (more seeds, a new verdict); otherwise a new version is registered
    and the alias moves to it. ``objective`` is the arm's confirmed test objective, for the terminal line.
    """
    client = tracker.client
    try:
        found = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        found = None
    if found is not None and all(found.tags.get(key) == tags[key] for key in SAME_CHAMPION):
        for key, value in tags.items():
            if found.tags.get(key) != value:
                client.set_model_version_tag(name, found.version, key, value)
        if found.description != description:
            client.update_model_version(name, found.version, description)
        return Promotion(name, str(found.version), objective, moved=False, arm=tags["arm"])
    version = _register(client, name, run_id, tags, description)
    client.set_registered_model_alias(name, CHAMPION, version)
    return Promotion(name, version, objective, moved=True, arm=tags["arm"])


@dataclass(frozen=True)
class StudyPage:
    """A study in the tracking store: its experiment and the registered model holding its champion (None without one)."""

    name: str
    experiment_id: str
    champion: str | None


def study_pages(tracking_uri: str, study: str | None = None) -> list[StudyPage]:
    """Every study in the store (or only ``study``), with its experiment and champion; :class:`StorageError`
    where ``study`` is not there."""
    client = MlflowClient(tracking_uri)
    names = [study] if study else [e.name for e in client.search_experiments() if e.experiment_id != "0"]
    champions: dict[str, str] = {}  # study -> registered model holding its champion
    for registered in client.search_registered_models():
        if CHAMPION in registered.aliases:
            version = client.get_model_version(registered.name, registered.aliases[CHAMPION])
            champions.setdefault(version.tags.get("study", registered.name), registered.name)
    pages = []
    for name in names:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise StorageError(f"no study {name!r} in the MLflow tracking store {tracking_uri!r}")
        pages.append(StudyPage(name, experiment.experiment_id, champions.get(name)))
    return pages
