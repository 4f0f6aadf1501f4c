"""Pruning: the pruners a space file can name, and what reports to Optuna during a training.

:class:`PruneTrial` reports the loss-weight-independent validation objective after every epoch; when the
pruner says so it stops the training (it does not raise inside ``fit``), so the trial's run can still
log the metrics it reached before the engine records it as pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from search.space import PRUNERS


def make_pruner(name: str, options: Mapping[str, Any], epochs: int) -> optuna.pruners.BasePruner:
    """Pruner ``name`` with ``options``; Hyperband's ``max_resource`` defaults to the epoch budget."""
    options = dict(options)
    if name == "hyperband":
        options.setdefault("max_resource", epochs)
    return PRUNERS[name](**options)


class PruneTrial:
    """An Optuna trial's pruner for its training (:data:`mtl.training.Prune`, alone or as a copy of a stack): called
    with an epoch and its validation objective, it reports to the trial and says whether to stop training it."""

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
