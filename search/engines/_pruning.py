"""Pruning: the pruners a space file can name, and the Keras callback that reports to Optuna.

The callback (:class:`PruneOnObjective`; :class:`PruneCopy` for a copy of a stacked training) reports the
loss-weight-independent validation objective after every epoch; when the
pruner says so it stops training (it does not raise inside ``fit``), so the trial's run can still
log the metrics it reached before the engine records it as pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import optuna

from mtl.training import VAL_OBJECTIVE
from search.space import PRUNERS


def make_pruner(name: str, options: Mapping[str, Any], epochs: int) -> optuna.pruners.BasePruner:
    """Pruner ``name`` with ``options``; Hyperband's ``max_resource`` defaults to the epoch budget."""
    options = dict(options)
    if name == "hyperband":
        options.setdefault("max_resource", epochs)
    return PRUNERS[name](**options)


class PruneOnObjective(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Reports ``val_objective`` to an Optuna trial each epoch; stops training when it should be pruned."""

    def __init__(self, trial: optuna.Trial) -> None:
        super().__init__()
        self.trial = trial
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Report this epoch's objective and ask the pruner."""
        value = (logs or {}).get(VAL_OBJECTIVE)
        if value is None:
            return
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.model.stop_training = True


class PruneCopy:
    """The same reporting for one copy of a stacked training (:data:`mtl.fused.Prune`): called with the copy's epoch
    and validation objective, it reports to the copy's trial and says whether to stop that copy."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.pruned_at: int | None = None

    def __call__(self, epoch: int, value: float) -> bool:
        """Report ``value`` at ``epoch``; True (and ``pruned_at`` set) when the pruner stops the trial."""
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            return True
        return False
