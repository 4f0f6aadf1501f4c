"""Process-wide signals: SIGTERM (a scheduler's pre-emption) and Ctrl-C stop the running trial cleanly.

SIGTERM interrupts the current trial like Ctrl-C: it is recorded FAIL (its MLflow run KILLED) and the
process exits 0. Inside :func:`signals_deferred` a signal only records itself, and
:class:`PreemptionGuard` raises it at the next batch, epoch or training boundary, so it never lands
inside TensorFlow's C++.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import keras


class Preempted(KeyboardInterrupt):
    """SIGTERM arrived: stop like Ctrl-C (the running trial fails cleanly), then exit 0."""


_preempted = threading.Event()
_interrupted = threading.Event()
_deferring = False  # inside signals_deferred(): a signal is recorded, and raised by PreemptionGuard between batches


def _raise_preempted(signum: int, frame: FrameType | None) -> None:
    _preempted.set()
    if not _deferring:
        raise Preempted()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    again = _interrupted.is_set()
    _interrupted.set()
    if not _deferring or again:  # a second Ctrl-C stops at once, wherever it lands
        raise KeyboardInterrupt()


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Within this block, SIGTERM and Ctrl-C only record themselves, and :class:`PreemptionGuard` raises them
    at the next batch, epoch or training boundary (on a normal exit, the block's end raises them).

    Raised at once, the handler's exception can land inside TensorFlow's C++ (a training step, a tf.data
    pipeline), which turns it into another error and may print a traceback of its own.
    """
    global _deferring
    before = _deferring
    _deferring = True
    try:
        yield
    finally:
        _deferring = before
    raise_if_preempted()


def raise_if_preempted() -> None:
    """Raise :class:`Preempted` if SIGTERM came earlier but its exception was lost.

    Python drops an exception raised while it runs a garbage-collector or weakref callback
    ("Exception ignored in ..."), so a signal landing there would otherwise go unnoticed.
    """
    if _preempted.is_set():
        raise Preempted()
    if _interrupted.is_set():  # Ctrl-C, lost the same way
        raise KeyboardInterrupt()


def interruption_behind(exc: BaseException) -> BaseException:
    """The SIGTERM or Ctrl-C behind ``exc``, if one arrived (:class:`Preempted`, ``KeyboardInterrupt``), else ``exc``.

    A signal that lands while native code runs can surface as another exception: TensorFlow's
    C++ turns the handler's ``KeyboardInterrupt`` into a ``SystemError`` or ``TypeError``.
    """
    if isinstance(exc, KeyboardInterrupt):
        return exc
    if _preempted.is_set():
        return Preempted()
    if _interrupted.is_set():
        return KeyboardInterrupt()
    return exc


class PreemptionGuard(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Raises a SIGTERM or Ctrl-C that arrived (deferred, or lost: see :func:`raise_if_preempted`) when
    training starts, after every batch and at every epoch's end: points where Python, not native code, runs."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Raise :class:`Preempted` / ``KeyboardInterrupt`` if the signal arrived."""
        raise_if_preempted()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Raise :class:`Preempted` / ``KeyboardInterrupt`` if the signal arrived."""
        raise_if_preempted()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Raise :class:`Preempted` / ``KeyboardInterrupt`` if the signal arrived."""
        raise_if_preempted()


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Preempted` for the rest of this process (and keep a lost one quiet)."""
    signal.signal(signal.SIGTERM, _raise_preempted)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # an ignored SIGINT stays ignored
        signal.signal(signal.SIGINT, _raise_interrupt)
    default_hook = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):  # a lost SIGTERM/Ctrl-C: raise_if_preempted catches it
            default_hook(unraisable)

    sys.unraisablehook = hook
