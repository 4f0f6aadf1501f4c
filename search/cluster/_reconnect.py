"""Riding out a storage that goes away mid-sweep: retry with exponential back-off, then give up in one line.

A trial cut off by the outage is not recorded twice: on a server database its heartbeat goes
stale, so it is failed (its MLflow run too) and retried once; the budget counts only complete and
pruned trials. The journal storages have no heartbeat, so such a trial stays RUNNING there.
"""

from __future__ import annotations

import os
import threading
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
    """The storage error behind ``exc`` (itself or anything in its chain), or None.

    Optuna may replace a storage error raised while it records a trial by another error, so the
    whole chain is searched.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, STORAGE_ERRORS):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def reason(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def quiet_heartbeat_failures(printer: Callable[[str], None]) -> None:
    """Report a storage error that ends a background thread (Optuna's heartbeat) in one line, not a traceback."""
    default_hook = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        cause = storage_failure(args.exc_value) if args.exc_value is not None else None
        if cause is None:
            default_hook(args)
        else:
            printer(f"heartbeat stopped: storage unreachable: {reason(cause)}")

    threading.excepthook = hook


def run_with_retries(attempt: Callable[[], None], progress: Callable[[], int], storage: str,
                     printer: Callable[[str], None], retries: int = STORAGE_RETRIES, first_wait: float = FIRST_WAIT) -> None:
    """Run ``attempt`` until it returns; on a storage error wait and run it again.

    Waits double from ``first_wait`` seconds; ``retries`` failures in a row without ``progress``
    (a count of this worker's finished trials) growing in between end in :class:`StorageError`.
    """
    quiet_heartbeat_failures(printer)
    failures, last_progress = 0, progress()
    while True:
        try:
            attempt()
            return
        except Exception as exc:
            cause = storage_failure(exc)
            if cause is None:
                raise
            failures = 1 if progress() > last_progress else failures + 1
            last_progress = progress()
            where = redact(storage)
            if failures > retries:
                raise StorageError(f"storage {where!r} still unreachable after {retries} retries: {reason(cause)}") from None
            wait = min(first_wait * 2 ** (failures - 1), MAX_WAIT)
            printer(f"storage {where!r} unreachable: {reason(cause)}; retry {failures}/{retries} in {wait:.0f} s")
            time.sleep(wait)
