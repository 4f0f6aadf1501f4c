"""Live progress on a terminal: a bar per long training, with the time elapsed and an estimate of what is left.

On a terminal (stdout is a TTY) a stacked confirmation round shows a transient ``rich`` bar of its
epochs, and the task-affinity pass one of its training steps; each disappears when its stage ends,
so the log keeps its one line per stage; in a log file or under a scheduler nothing is drawn and
the plain lines (tuning's carry an estimate of the time left) tell the story. ``rich`` comes with
Keras and MLflow already; it is declared as a dependency of its own all the same.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def on_terminal() -> bool:
    """Whether standard output is a terminal a live display may draw on."""
    return sys.stdout.isatty()


def _bar(console: Console | None = None, unit: str = "epochs") -> Progress:
    """A transient bar: description, progress, count, elapsed and estimated time left."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                    TimeElapsedColumn(), TextColumn("~"), TimeRemainingColumn(), transient=True, console=console)


@contextmanager
def step_bar(description: str, total: int, console: Console | None = None) -> Iterator[Callable[[], None]]:
    """A transient bar of ``total`` steps on a terminal (or on ``console``), advanced by the callable it yields;
    elsewhere the callable does nothing."""
    if console is None and not on_terminal():
        yield lambda: None
        return
    with _bar(console, "steps") as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


class EpochBar(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """A transient bar of a training's epochs (``description``, at most ``epochs``), elapsed and remaining time."""

    def __init__(self, description: str, epochs: int, console: Console | None = None) -> None:
        super().__init__()
        self.description, self.epochs, self.console = description, epochs, console
        self.bar: Progress | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Draw the bar."""
        self.bar = _bar(self.console)
        self.bar.start()
        self.task = self.bar.add_task(self.description, total=self.epochs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Advance one epoch."""
        if self.bar is not None:
            self.bar.update(self.task, completed=epoch + 1)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Take the bar away (early stopping may end training before ``epochs``)."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def epoch_bars(description: str, epochs: int) -> list[keras.callbacks.Callback]:
    """An :class:`EpochBar` on a terminal, nothing elsewhere."""
    return [EpochBar(description, epochs)] if on_terminal() else []
