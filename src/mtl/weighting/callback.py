"""The epoch hook of a weighting: logs the weights used and lets the scheme adapt between epochs."""

from __future__ import annotations

from typing import Any

import keras

from mtl.weighting.base import Weighting

WEIGHT_PREFIX = "weight_"


class WeightLogger(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Adds ``weight_<task>`` (the effective weight averaged over the epoch's steps) and the scheme's extra logs.

    Then calls the weighting's :meth:`~Weighting.end_epoch`, so the logged weights are those the
    epoch trained with even where the scheme changes them for the next one.
    """

    def __init__(self, weighting: Weighting) -> None:
        super().__init__()
        self.weighting = weighting

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Start the epoch's average of step weights afresh."""
        self.weighting.start_epoch()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Log the weights, then adapt them."""
        if logs is None:
            return
        logs.update({f"{WEIGHT_PREFIX}{name}": w for name, w in self.weighting.weights_now().items()})
        logs.update(self.weighting.extra_logs())
        self.weighting.end_epoch(epoch, logs)
