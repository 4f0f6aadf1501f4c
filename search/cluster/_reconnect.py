"""Riding out a storage that goes away mid-sweep: retry with exponential back-off, then give up in one line.

On a database server most storage calls are retried where they fail, and heartbeats ride out the
outage too (:mod:`search.cluster._resilient`, same back-off); :func:`run_with_retries` is the outer loop for
the rest (starting a trial, the journal storages). A trial cut off by an outage that outlasts the
retries is not recorded twice: on a server database its heartbeat goes stale, so it is failed (its
MLflow run too) and retried once; the budget counts only complete and pruned trials. The journal
storages have no heartbeat, so such a trial stays RUNNING there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import optuna
import redis.exceptions
import requests.exceptions
import sqlalchemy.exc

from search.errors import StorageError
from search.stores import redact

# Consecutive retries before giving up, and the first wait in seconds (doubling, at most MAX_WAIT).
STORAGE_RETRIES = int(os.environ.get("MTL_STORAGE_RETRIES", "6"))
FIRST_WAIT = float(os.environ.get("MTL_STORAGE_BACKOFF", "2"))
MAX_WAIT = 60.0
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    optuna.exceptions.StorageInternalError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    requests.exceptions.ConnectionError,
    ConnectionError,
    TimeoutError,
)


def storage_failure(exc: BaseException) -> BaseException | None:
    """The storage error behind ``exc`` (the innermost in its chain, which names the real cause), or None.

    Optuna may replace a storage error raised while it records a trial by another error, and wraps
    a driver's error in its own ``StorageInternalError``, so the whole chain is searched.
    """
    found = [link for link in _chain(exc) if isinstance(link, STORAGE_ERRORS)]
    return found[-1] if found else None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, outermost first."""
    links: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not link for link in links):
        links.append(current)
        current = current.__cause__ or current.__context__
    return links


def reason(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def backoff_wait(failures: int, first_wait: float = FIRST_WAIT, cap: float = MAX_WAIT) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row: ``first_wait`` doubling, at most ``cap``."""
    return float(min(first_wait * 2 ** (failures - 1), cap))


def run_with_retries(attempt: Callable[[], None], progress: Callable[[], int], storage: str,
                     printer: Callable[[str], None], retries: int = STORAGE_RETRIES, first_wait: float = FIRST_WAIT) -> None:
    """Run ``attempt`` until it returns; on a storage error wait and run it again.

    Waits double from ``first_wait`` seconds; ``retries`` failures in a row without ``progress``
    (a count of this worker's finished trials) growing in between end in :class:`StorageError`,
    as does a :class:`StorageError` from a call that already gave up retrying.
    """
    failures, last_progress = 0, progress()
    while True:
        try:
            attempt()
            return
        except Exception as exc:
            gave_up = [link for link in _chain(exc) if isinstance(link, StorageError)]
            if gave_up:  # a call that retried in place gave up (Optuna may raise another error over it)
                raise gave_up[-1] from None
            cause = storage_failure(exc)
            if cause is None:
                raise
            failures = 1 if progress() > last_progress else failures + 1
            last_progress = progress()
            where = redact(storage)
            if failures > retries:
                raise StorageError(f"storage {where!r} still unreachable after {retries} retries: {reason(cause)}") from None
            wait = backoff_wait(failures, first_wait)
            printer(f"storage {where!r} unreachable: {reason(cause)}; retry {failures}/{retries} in {wait:.0f} s")
            time.sleep(wait)
