"""Cluster mode: many worker processes (often scheduled jobs) sharing one study on a database server.

- Storages: an RDB URL (``postgresql://``, ``mysql+pymysql://``, ``sqlite://``) is Optuna's RDB
  storage; on a server database it gets worker heartbeats (:class:`search.cluster._resilient.ResilientStorage`:
  they and most storage calls ride out outages), so a trial whose worker died (SIGKILL, node loss)
  is marked FAIL by the survivors, its MLflow run ended FAILED, and the trial retried once with
  the same parameters. ``journal:///path/to/file.log`` (a shared, e.g. NFS, file) and
  ``redis://host:port/db`` are Optuna's journal storage, which has no heartbeat: a dead worker's
  trial stays RUNNING there until someone fails it by hand.
- SIGTERM (a scheduler's pre-emption) interrupts the current trial like Ctrl-C
  (:mod:`search.signals`): it is recorded FAIL (its MLflow run KILLED) and the worker exits 0;
  another trial replaces it.
- Workers need a distinct sampler seed or they propose identical parameters: the worker index
  comes from ``--worker``, a Kubernetes Indexed Job's ``JOB_COMPLETION_INDEX`` or Slurm's
  ``SLURM_ARRAY_TASK_ID``, else the process id.
"""

from __future__ import annotations

import os

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalRedisBackend, JournalStorage
from optuna.trial import FrozenTrial

from search.cluster._resilient import ResilientStorage

# Heartbeat period and the silence after which a worker counts as dead (env overrides, in seconds).
HEARTBEAT_SECONDS = int(os.environ.get("MTL_HEARTBEAT_SECONDS", "10"))
GRACE_SECONDS = int(os.environ.get("MTL_GRACE_SECONDS", "30"))
INDEX_VARIABLES = ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID")


def worker_index(given: int | None) -> int:
    """This worker's index: ``given``, else the scheduler's array index, else the process id."""
    if given is not None:
        return given
    for name in INDEX_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name]) + 1
    return os.getpid()


class EndStaleRun:
    """Heartbeat callback: end a dead worker's MLflow run as FAILED (and every other run a dead process left
    RUNNING in the study's experiment KILLED, :meth:`search.tracking.Tracker.end_orphans`), then retry its trial once."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.retry = RetryHeartbeatStaleTrialCallback(max_retry=1)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Called by Optuna for each trial whose heartbeat stopped."""
        from search.tracking import RUN_ID_ATTR, Tracker

        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if run_id:  # the run's own experiment: an arm's study <study>/<arm> logs to the experiment <study>
            tracker = Tracker.of_run(self.tracking_uri, run_id)
            # FAILED even where the run had ended: its worker may have lost the storage before recording it
            tracker.end(run_id, "FAILED", "FAIL", "worker lost: no heartbeat")
            tracker.end_orphans()  # the dead worker's other runs: confirmations, baselines, the affinity pass, repeats
        self.retry(study, trial)


def has_heartbeats(url: str) -> bool:
    """True for the storages :func:`make_storage` gives worker heartbeats: RDB storages on a server."""
    return not url.startswith(("journal://", "redis://", "sqlite:"))


def make_storage(url: str, tracking_uri: str) -> str | optuna.storages.BaseStorage:
    """The Optuna storage for ``url`` (see the module docstring for the schemes)."""
    if url.startswith("journal://"):
        return JournalStorage(JournalFileBackend(url.removeprefix("journal://")))
    if url.startswith("redis://"):
        return JournalStorage(JournalRedisBackend(url))
    if url.startswith("sqlite:"):
        return url  # embedded and single-machine: no heartbeat thread writing beside the trials
    return ResilientStorage(
        url,
        heartbeat_interval=HEARTBEAT_SECONDS,
        grace_period=GRACE_SECONDS,
        heartbeat_stale_trial_callback=EndStaleRun(tracking_uri),
        engine_kwargs={"pool_pre_ping": True},  # a long-lived worker outlives server restarts
    )
