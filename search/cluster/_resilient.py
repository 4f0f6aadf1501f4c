"""An Optuna RDB storage that rides out storage outages, for workers on a database server.

Optuna's own heartbeat thread (``optuna/storages/_heartbeat.py``) ends at the first storage error,
and a trial whose heartbeat stops is failed as stale by the next worker that looks, even when its
own worker is alive and only lost the storage for a moment. :class:`ResilientStorage` changes three
things:

- **Heartbeats.** Optuna's thread only registers the trial (and writes its first heartbeat); this
  process's own heartbeat thread then beats for every trial it holds, from the trial's start until
  its final state is stored. A failed beat is retried with the main loop's back-off, never longer
  than one heartbeat interval between attempts, for as long as the trial is held: one line when the
  storage goes, one when it is back. So a trial keeps beating while its result waits to be stored.
- **Calls in place.** Reads and the idempotent writes of a trial (attributes, parameters,
  intermediate values, its final state) are retried where they fail, with the same back-off and
  limit as the main loop (:mod:`search.cluster._reconnect`), so an outage during a trial does not cut the
  trial off. Creating a trial is not retried here (a repeated insert would make a second trial);
  the main loop retries that.
- **Stale trials.** A trial counts as stale only when this process has seen its heartbeat, with
  the same timestamp, older than the grace period for a further grace period (its own trials never):
  after a storage outage every worker gets a whole grace period to beat again before anyone fails
  its trial, and a dead worker's trial is failed about one grace period later than Optuna would.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState

from search.cluster._reconnect import FIRST_WAIT, MAX_WAIT, STORAGE_RETRIES, backoff_wait, reason, storage_failure
from search.errors import StorageError
from search.stores import redact

T = TypeVar("T")
# Backend methods retried in place: reads, and writes that may be repeated without harm.
RETRIED = (
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
    "get_study_system_attrs", "get_trial_user_attrs", "get_trial_system_attrs", "get_all_studies",
    "get_trial_id_from_study_id_trial_number", "get_trial", "get_all_trials", "_get_trials", "get_trial_param",
    "get_best_trial", "_get_best_trial_id", "set_study_user_attr", "set_study_system_attr", "set_trial_param",
    "_set_trial_param", "set_trial_intermediate_value", "set_trial_user_attr", "set_trial_system_attr",
)


class ResilientStorage(RDBStorage):
    """:class:`~optuna.storages.RDBStorage` with retried calls, its own heartbeat thread and confirmed staleness.

    ``printer`` receives the one-line messages; ``retries`` and ``first_wait`` are the main loop's
    (``MTL_STORAGE_RETRIES``, ``MTL_STORAGE_BACKOFF``). The other arguments are RDBStorage's.
    """

    def __init__(self, url: str, *, heartbeat_interval: int, grace_period: int,
                 heartbeat_stale_trial_callback: Callable[..., None] | None = None,
                 engine_kwargs: dict[str, Any] | None = None, printer: Callable[[str], None] = print,
                 retries: int = STORAGE_RETRIES, first_wait: float = FIRST_WAIT) -> None:
        super().__init__(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                         grace_period=grace_period, heartbeat_stale_trial_callback=heartbeat_stale_trial_callback)
        self.printer, self.retries, self.first_wait = printer, retries, first_wait
        self._held: set[int] = set()  # trials this process runs whose final state is not stored yet
        self._finished_here: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._beater: threading.Thread | None = None
        self._suspects: dict[tuple[int, datetime], float] = {}  # (trial id, heartbeat) -> first seen stale
        self._gave_up: str | None = None  # the message of the call that gave up: later calls fail at once

    # -- calls retried in place ------------------------------------------------------------------

    def _with_retries(self, attempt: Callable[[bool], T]) -> T:
        """Run ``attempt(first)`` until it returns; on a storage error wait (doubling) and try again."""
        failures = 0
        while True:
            if self._gave_up:
                raise StorageError(self._gave_up)
            try:
                return attempt(failures == 0)
            except Exception as exc:
                cause = storage_failure(exc)
                if cause is None:
                    raise
                failures += 1
                where = redact(self.url)
                if failures > self.retries:
                    self._gave_up = f"storage {where!r} still unreachable after {self.retries} retries: {reason(cause)}"
                    raise StorageError(self._gave_up) from None
                wait = backoff_wait(failures, self.first_wait)
                self.printer(f"storage {where!r} unreachable: {reason(cause)}; retry {failures}/{self.retries} in {wait:.0f} s")
                time.sleep(wait)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        """Store a trial's state; a final state is retried (a repeat that finds it stored already succeeds)."""
        if not state.is_finished():  # RUNNING for a queued trial: a blind repeat could take it twice
            return super().set_trial_state_values(trial_id, state, values)

        def attempt(first: bool) -> bool:
            try:
                return super(ResilientStorage, self).set_trial_state_values(trial_id, state, values)
            except UpdateFinishedTrialError:
                stored = super(ResilientStorage, self).get_trial(trial_id)
                if first or stored.state != state or (values is not None and stored.values != list(values)):
                    raise  # finished by another worker, not by an earlier attempt of this call
                return True

        done = self._with_retries(attempt)
        with self._lock:
            self._finished_here.add(trial_id)
            self._held.discard(trial_id)
        return done

    # -- heartbeats ------------------------------------------------------------------------------

    def record_heartbeat(self, trial_id: int) -> None:
        """Called by Optuna's heartbeat thread: hold the trial (first call: write its first heartbeat)."""
        with self._lock:
            if trial_id in self._held or trial_id in self._finished_here:
                return
            self._held.add(trial_id)
            if self._beater is None:
                self._beater = threading.Thread(target=self._beat, name="mtl-heartbeat", daemon=True)
                self._beater.start()
        try:
            super().record_heartbeat(trial_id)
        except Exception as exc:
            if storage_failure(exc) is None:
                raise
            self._wake.set()  # the heartbeat thread takes over, with retries

    def release_all(self) -> list[FrozenTrial]:
        """Stop beating for every held trial (this process stopped running them); those another worker
        finished meanwhile (failed as stale) are returned, the others are left to go stale."""
        with self._lock:
            held, self._held = self._held, set()
        taken: list[FrozenTrial] = []
        for trial_id in sorted(held):
            try:
                trial = super().get_trial(trial_id)
            except Exception as exc:
                if storage_failure(exc) is None:
                    raise
                continue
            if trial.state.is_finished():
                taken.append(trial)
        return taken

    def _beat(self) -> None:
        """This process's heartbeat thread: beat for each held trial every interval, retrying through outages."""
        interval = float(self.heartbeat_interval or 1)
        failures = 0
        while True:
            with self._lock:
                held = sorted(self._held)
            try:
                for trial_id in held:
                    super().record_heartbeat(trial_id)
            except Exception as exc:
                cause = storage_failure(exc)
                if cause is None:
                    raise
                failures += 1
                if failures == 1:
                    self.printer(f"heartbeat: storage {redact(self.url)!r} unreachable: {reason(cause)}; "
                                 f"retrying at most {interval:.0f} s apart while the trial runs")
                self._wake.wait(backoff_wait(failures, self.first_wait, min(MAX_WAIT, interval)))
                self._wake.clear()
                continue
            if failures:
                self.printer(f"heartbeat: storage reachable again after {failures} failed attempt(s)")
                failures = 0
            self._wake.wait(interval)
            self._wake.clear()

    # -- stale trials ----------------------------------------------------------------------------

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Trials of other workers whose heartbeat this process has seen stale, unchanged, for a grace period."""
        candidates = self._with_retries(lambda first: super(ResilientStorage, self)._get_stale_trial_ids(study_id))
        with self._lock:
            candidates = [trial_id for trial_id in candidates if trial_id not in self._held]
        beats = self._with_retries(lambda first: self._heartbeats(candidates)) if candidates else {}
        now, grace = time.monotonic(), float(self.grace_period or 2 * (self.heartbeat_interval or 1))
        seen = {(trial_id, beat): self._suspects.get((trial_id, beat), now) for trial_id, beat in beats.items()}
        self._suspects = seen
        return [trial_id for (trial_id, _), since in seen.items() if now - since >= grace]

    def _heartbeats(self, trial_ids: list[int]) -> dict[int, datetime]:
        """The stored heartbeat time of each trial."""
        with _create_scoped_session(self.scoped_session) as session:
            rows = session.query(models.TrialHeartbeatModel).filter(models.TrialHeartbeatModel.trial_id.in_(trial_ids))
            # Optuna >= 5.1 types the column as datetime, earlier versions as Column: the cast serves the latter
            return {int(row.trial_id): cast(datetime, row.heartbeat) for row in rows}  # type: ignore[redundant-cast, unused-ignore]


def _retried(method: Callable[..., T]) -> Callable[..., T]:
    """``method`` of RDBStorage, retried through storage errors by :meth:`ResilientStorage._with_retries`."""

    @functools.wraps(method)
    def retried(self: ResilientStorage, *args: Any, **kwargs: Any) -> T:
        return self._with_retries(lambda first: method(self, *args, **kwargs))

    return retried


for _name in RETRIED:
    setattr(ResilientStorage, _name, _retried(getattr(RDBStorage, _name)))


def resilient_storage(study: optuna.Study) -> ResilientStorage | None:
    """The :class:`ResilientStorage` behind ``study``, or None for other storages."""
    backend = getattr(study._storage, "_backend", study._storage)  # Optuna wraps RDB storages in a cache
    return backend if isinstance(backend, ResilientStorage) else None
