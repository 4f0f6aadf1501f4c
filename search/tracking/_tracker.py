"""MLflow tracking: one parent run per sweep, one nested child run per trial, stable metric names.

Names (documented in the README):
  params   every space key with its sampled or fixed value (``loss_weight.<task>`` per task)
  metrics  per epoch  ``epoch/train/<task>/<metric>``, ``epoch/val/<task>/<metric>``, ``epoch/val/objective``,
                      ``epoch/weight/<task>`` (the task's effective loss weight in that epoch)
           final      ``val/<task>/<metric>``, ``test/<task>/<metric>``, ``objective``, ``best_epoch``
  tags     ``study``, ``engine``, ``strategy``, ``weighting``, ``trial_number``, ``state``
  inputs   the train, validation and test rows (:mod:`search.tracking._datasets`)
  model    the Logged Model ``model`` (:mod:`search.tracking._model`), where ``[tracking] log_models`` keeps it
           (:mod:`search.tracking._keep`)
Nesting uses the ``mlflow.parentRunId`` tag with an explicit id, so it works across processes. The
experiment carries ``mlflow.experimentKind = custom_model_development``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import keras
import pandas as pd
from mlflow.entities import DatasetInput, FileInfo, Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mtl.data import Dataset, Splits
from mtl.tasks import Task
from mtl.training import STEP_MS, VAL_OBJECTIVE, TrainResult
from search.errors import StorageError
from search.stores import local_artifact_root
from search.tracking import _curves as plots
from search.tracking._datasets import dataset_inputs
from search.tracking._keep import ModelKeeping
from search.tracking._model import log_model, model_signature
from search.tracking._owners import HEARTBEATS, orphaned, owner, shared_store
from search.tracking._schema import EXPERIMENT_KIND_TAG, HEARTBEAT_TAG, MODEL_DEVELOPMENT, OWNER_TAG, PARENT_TAG

logging.getLogger("alembic").setLevel(logging.WARNING)
logging.getLogger("mlflow").setLevel(logging.WARNING)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _metric_batches(metrics: list[Metric], size: int = 900) -> list[list[Metric]]:
    return [metrics[i : i + size] for i in range(0, len(metrics), size)] or [[]]


class Tracker:
    """Writes runs of one experiment (named after the study) to one tracking store.

    A new experiment keeps its artifacts where :func:`search.stores.local_artifact_root` says (beside
    a SQLite file, or ``MTL_ARTIFACT_ROOT``); elsewhere MLflow's default, ``./mlruns`` of the process
    that creates it. Its runs log their models as ``models`` says (every one until a sweep sets
    ``[tracking] log_models``).
    """

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        self.client = MlflowClient(tracking_uri)
        self.models = ModelKeeping()
        self.heartbeats = shared_store(tracking_uri)  # other hosts may write here: open runs carry a heartbeat
        self._datasets: dict[int, tuple[Splits, list[DatasetInput]]] = {}  # id(splits) -> (splits kept alive, inputs)
        try:
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=local_artifact_root(tracking_uri),
                                                                   tags={EXPERIMENT_KIND_TAG: MODEL_DEVELOPMENT})
            elif found.lifecycle_stage == "deleted":
                raise StorageError(f"MLflow experiment {experiment!r} is deleted; restore it or use another --study")
            else:
                self.experiment_id = found.experiment_id
                if found.tags.get(EXPERIMENT_KIND_TAG) != MODEL_DEVELOPMENT:
                    self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT)
        except MlflowException as exc:
            raise StorageError(f"MLflow tracking store {tracking_uri!r}: {exc.message.splitlines()[0]}") from None

    @classmethod
    def of_run(cls, tracking_uri: str, run_id: str) -> Tracker:
        """A tracker on the experiment that holds run ``run_id``."""
        client = MlflowClient(tracking_uri)
        try:
            name = client.get_experiment(client.get_run(run_id).info.experiment_id).name
        except MlflowException as exc:
            raise StorageError(f"MLflow tracking store {tracking_uri!r}: {exc.message.splitlines()[0]}") from None
        return cls(tracking_uri, name)

    def open_parent(self, run_id: str | None, name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        """Reopen the sweep's parent run ``run_id`` if it exists here, else create one; return its id."""
        if run_id:
            try:
                run = self.client.get_run(run_id)
                if run.info.experiment_id == self.experiment_id and run.info.lifecycle_stage == "active":
                    self.client.update_run(run_id, status="RUNNING")
                    return run_id
            except MlflowException:
                pass
        run = self.client.create_run(self.experiment_id, tags=dict(tags), run_name=name)
        self.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        created: str = run.info.run_id
        return created

    def start_trial(self, parent_id: str | None, name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        """Create a run with the trial's parameters, nested under ``parent_id`` unless that is None.

        The run is tagged with this process as its ``owner`` (and, on a shared store, a ``heartbeat``
        kept fresh until :meth:`end`), so a later process can tell it orphaned (:meth:`end_orphans`).
        """
        nesting = {PARENT_TAG: parent_id} if parent_id else {}
        ownership = {OWNER_TAG: owner()} | ({HEARTBEAT_TAG: str(int(time.time()))} if self.heartbeats else {})
        run = self.client.create_run(self.experiment_id, tags={**tags, **nesting, **ownership}, run_name=name)
        created: str = run.info.run_id
        self.models.started(created, tags.get("kind"))
        if self.heartbeats:
            HEARTBEATS.hold(self.client, created)
        self.client.log_batch(created, params=[Param(k, str(v)) for k, v in params.items()])
        return created

    def log_datasets(self, run_id: str, splits: Splits, source: str) -> None:
        """Record the run's train, validation and test rows as its dataset inputs (:mod:`search.tracking._datasets`).

        The inputs of one ``splits`` are built once per tracker: every trial of a sweep shares them.
        """
        key = id(splits)
        if key not in self._datasets:
            self._datasets[key] = (splits, dataset_inputs(splits, source))
        try:
            self.client.log_inputs(run_id, datasets=self._datasets[key][1])
        except MlflowException as exc:
            # Two workers logging the same new dataset at once: MLflow checks for it, then inserts it, so
            # one insert loses the race. Its transaction was rolled back; now the dataset exists and is linked.
            if not duplicate_key(exc):
                raise
            self.client.log_inputs(run_id, datasets=self._datasets[key][1])

    def log_metrics(self, run_id: str, values: Mapping[str, float], step: int = 0) -> None:
        """Log many metrics of one step in as few calls as MLflow allows."""
        now = _now_ms()
        self.log_metric_list(run_id, [Metric(k, float(v), now, step) for k, v in values.items()])

    def log_metric_list(self, run_id: str, metrics: list[Metric]) -> None:
        """Log metrics of any steps and times in as few calls as MLflow allows."""
        for batch in _metric_batches(metrics):
            self.client.log_batch(run_id, metrics=batch)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set several tags in one call."""
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_final_metrics(self, run_id: str, result: TrainResult) -> None:
        """Final per-task val/test metrics, the objective and the best epoch."""
        final = {"objective": result.objective, "best_epoch": result.best_epoch}
        for split, values in (("val", result.val), ("test", result.test)):
            final.update({f"{split}/{task}/{m}": v for task, metrics in values.items() for m, v in metrics.items()})
        self.log_metrics(run_id, final)

    def log_artifacts(self, run_id: str, result: TrainResult, data: Dataset, curves: bool = True) -> None:
        """The trial's model summary, history, MLflow Model (where :attr:`models` keeps it) and (with ``curves``)
        learning curves.

        The Logged Model ``model`` (:func:`~search.tracking._model.log_model`) carries the columns of
        ``data`` (the training split), so its pyfunc and ``python -m search predict`` take raw table
        rows. The learning-curve PNG is the costliest artifact (about
        0.2 s to draw), hence optional (:meth:`log_curves` draws them later): MLflow charts the same
        per-epoch metrics itself.
        """
        tasks = data.tasks
        lines: list[str] = []
        result.model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
        self.client.log_text(run_id, "\n".join(lines), "model_summary.txt")
        if curves:
            self.log_curves(run_id, result.history, tasks, result.best_epoch)
        self.client.log_dict(run_id, result.history, "history.json")
        if self.models.keeps(run_id):
            log_model(self.client, self.experiment_id, run_id, result.model, model_signature(data))

    def log_curves(self, run_id: str, history: dict[str, list[float]], tasks: tuple[Task, ...], best_epoch: int) -> None:
        """The run's ``learning_curves.png`` (a finished run too)."""
        self.client.log_figure(run_id, plots.learning_curves(history, tasks, best_epoch), "learning_curves.png")

    def get_run(self, run_id: str) -> Run:
        """The run ``run_id``: its info, params, metrics and tags."""
        return self.client.get_run(run_id)

    def search_runs(self, experiment_ids: list[str], filter_string: str = "", max_results: int = 1000,
                    order_by: list[str] | None = None) -> list[Run]:
        """The runs of ``experiment_ids`` that ``filter_string`` selects (MLflow's search syntax), ``order_by`` first."""
        return list(self.client.search_runs(experiment_ids, filter_string, max_results=max_results, order_by=order_by))

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Copy the file ``local_path`` into the run's artifacts (under ``artifact_path``)."""
        self.client.log_artifact(run_id, local_path, artifact_path)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The run's artifacts (under ``path``)."""
        return list(self.client.list_artifacts(run_id, path))

    def log_table(self, run_id: str, data: pd.DataFrame, artifact_file: str) -> None:
        """Log ``data`` as the run's MLflow table ``artifact_file`` (``mlflow.load_table`` reads it; appends to one there)."""
        self.client.log_table(run_id, data, artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Write ``text`` as the run's artifact ``artifact_file`` (replacing one there)."""
        self.client.log_text(run_id, text, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        """Save the matplotlib ``figure`` as the run's image ``artifact_file``."""
        self.client.log_figure(run_id, figure, artifact_file)

    def log_dict(self, run_id: str, values: Mapping[str, Any], artifact_file: str) -> None:
        """Write ``values`` as the run's JSON (or YAML) artifact ``artifact_file``."""
        self.client.log_dict(run_id, dict(values), artifact_file)

    def download_artifacts(self, run_id: str, path: str, dst_path: str) -> str:
        """Download the run's artifact ``path`` into the folder ``dst_path``; return its local path."""
        found: str = self.client.download_artifacts(run_id, path, dst_path)
        return found

    def end(self, run_id: str, status: str, state: str, error: str | None = None) -> None:
        """Close a run: ``status`` is MLflow's (FINISHED/FAILED/KILLED), ``state`` the trial's."""
        tags = {"state": state}
        if error:
            tags["error"] = error[:5000]
        self.set_tags(run_id, tags)
        self.client.set_terminated(run_id, status=status, end_time=_now_ms())
        HEARTBEATS.release(run_id)

    def end_orphans(self, printer: Callable[[str], None] = print) -> list[str]:
        """End KILLED every run of the experiment that a dead process left RUNNING (:mod:`search.tracking._owners`);
        say so in one line and return their names.

        Each gets the tags ``state=FAIL``, ``error`` (``orphaned: its process host:pid is dead``) and
        ``ended_by`` (this process). Runs of live processes, and runs without an ``owner``, are left alone.
        """
        running = self.client.search_runs([self.experiment_id], "attributes.status = 'RUNNING'", max_results=5000)
        ended = []
        for run in running:
            why = orphaned(run.data.tags)
            if why is None:
                continue
            self.set_tags(run.info.run_id, {"ended_by": owner()})
            self.end(run.info.run_id, "KILLED", "FAIL", f"orphaned: {why}")
            ended.append(run.info.run_name or run.info.run_id)
        if ended:
            printer(f"ended {len(ended)} run(s) that a dead process left RUNNING (now KILLED): {', '.join(sorted(ended))}")
        return ended

    def end_after(self, run_id: str, exc: BaseException) -> None:
        """Close a run that ``exc`` stopped: KILLED if it was interrupted, else FAILED with the error."""
        interrupted = isinstance(exc, KeyboardInterrupt)
        self.end(run_id, "KILLED" if interrupted else "FAILED", "FAIL", "interrupted" if interrupted else repr(exc))


def duplicate_key(exc: MlflowException) -> bool:
    """Whether a database store refused an insert for a key that exists (PostgreSQL, MySQL/MariaDB, SQLite wording)."""
    text = str(exc).lower()
    return any(words in text for words in ("duplicate key", "duplicate entry", "unique constraint"))


class EpochLogger(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Logs every epoch's per-task train/val metrics, the validation objective and the loss weights.

    Epochs are sent in one batch every ``every`` seconds (default 5: the MLflow UI still follows a
    long trial live) and at the end of training, rather than one store write per epoch: an epoch of
    a small model takes a few hundredths of a second, about as long as a write. ``write`` runs each batch's write (for
    example on a :class:`~search.tracking.BackgroundWriter`); :meth:`flush` sends what is left
    when training stops by an exception.
    """

    def __init__(self, tracker: Tracker, run_id: str, tasks: tuple[Task, ...],
                 write: Callable[[Callable[[], None]], None] = lambda job: job(), every: float = 5.0) -> None:
        super().__init__()
        self.tracker, self.run_id, self.tasks, self.write, self.every = tracker, run_id, tasks, write, every
        self.pending: list[Metric] = []
        self.sent = time.monotonic()

    def replay(self, history: dict[str, list[float]]) -> None:
        """Log a finished training's per-epoch ``history`` (one trained beside others) as it would have been logged
        live, and send it."""
        for epoch in range(len(history.get("loss", []))):
            self.on_epoch_end(epoch, {key: values[epoch] for key, values in history.items() if epoch < len(values)})
        self.flush()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Keep this epoch's metrics; send what is kept once ``every`` seconds have passed since the last send."""
        logs = logs or {}
        values: dict[str, float] = {}
        for task in self.tasks:
            for metric in ("loss", *task.metric_names):
                for prefix, split in (("", "train"), ("val_", "val")):
                    key = f"{prefix}{task.name}_{metric}"
                    if key in logs:
                        values[f"epoch/{split}/{task.name}/{metric}"] = logs[key]
            if f"weight_{task.name}" in logs:
                values[f"epoch/weight/{task.name}"] = logs[f"weight_{task.name}"]
        if VAL_OBJECTIVE in logs:
            values["epoch/val/objective"] = logs[VAL_OBJECTIVE]
        if STEP_MS in logs:
            values["epoch/step_ms"] = logs[STEP_MS]
        now = _now_ms()
        self.pending.extend(Metric(k, float(v), now, epoch) for k, v in values.items())
        if time.monotonic() - self.sent >= self.every:
            self.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Send the epochs not sent yet."""
        self.flush()

    def flush(self) -> None:
        """Send the kept epochs now (nothing if there are none)."""
        if self.pending:
            self.write(partial(self.tracker.log_metric_list, self.run_id, self.pending))
            self.pending = []
        self.sent = time.monotonic()
