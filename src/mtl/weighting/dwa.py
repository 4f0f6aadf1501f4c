"""Dynamic weight average: Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from mtl.weighting.base import Weighting, at_least


def dwa_weights(previous: np.ndarray, before: np.ndarray, temperature: float) -> np.ndarray:
    """``K * softmax(r / T)`` with ``r = previous / before``, the ratio of the last two epochs' losses."""
    scaled = (np.asarray(previous, dtype="float64") / np.asarray(before, dtype="float64")) / temperature
    exp = np.exp(scaled - scaled.max())
    weights: np.ndarray = len(exp) * exp / exp.sum()
    return weights


class DwaWeighting(Weighting):
    """Weights ``c_t * K * softmax_t(r_t / T)`` set before each epoch from the training losses.

    ``r_t = L_t(e-1) / L_t(e-2)`` uses each task's mean (unweighted) training loss of the last two
    epochs, K is the number of tasks and T the ``temperature`` option; the first two epochs use
    ``c_t``. Weights stay constant within an epoch.
    """

    SCHEME = "dwa"
    OPTIONS = {"temperature": 2.0}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current = self.add_weight(
            shape=(len(self.task_names),), initializer="ones", trainable=False, name="dwa_weights"
        )
        self.current.assign(self.constants)
        self.epoch_losses: list[np.ndarray] = []

    @classmethod
    def resolve_options(cls, given: Mapping[str, float]) -> dict[str, float]:
        """The options, with a temperature > 0."""
        options = super().resolve_options(given)
        at_least(cls.SCHEME, options, "temperature", 0.0, strict=True)
        return options

    def effective(self) -> tf.Tensor:
        """The weights set for this epoch."""
        return tf.convert_to_tensor(self.current)

    def end_epoch(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Record the epoch's training losses and set the next epoch's weights."""
        self.epoch_losses.append(np.array([float(logs[f"{n}_loss"]) for n in self.task_names]))
        if len(self.epoch_losses) >= 2:
            ratio_weights = dwa_weights(self.epoch_losses[-1], self.epoch_losses[-2], self.options["temperature"])
            self.current.assign(self.constants * ratio_weights)
