"""Homoscedastic uncertainty weighting: Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses", CVPR 2018."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from mtl.weighting.base import Weighting, stack

LOG_VAR_PREFIX = "log_var_"  # each task's log-variance is logged per epoch as ``log_var_<task>``


class UncertaintyWeighting(Weighting):
    """A trainable log-variance s_t per task; training loss ``sum_t c_t * exp(-s_t) * L_t + s_t``.

    One form for every task: twice Kendall et al.'s regression objective (eq. 7 with
    s = log sigma^2), so it has the same minimiser and starts (s = 0) at weight c_t. The
    effective weight is ``c_t * exp(-s_t)``; the s_t train with the model's optimiser.
    """

    SCHEME = "uncertainty"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log_vars = self.add_weight(shape=(len(self.task_names),), initializer="zeros", name="log_vars")

    def effective(self) -> tf.Tensor:
        """``c_t * exp(-s_t)``."""
        return self.constants * tf.exp(-tf.convert_to_tensor(self.log_vars))

    def combine(self, losses: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """The weighted losses plus the log-variance regulariser."""
        return tf.reduce_sum(self.effective() * stack(losses, self.task_names) + self.log_vars)

    def extra_logs(self) -> dict[str, float]:
        """``log_var_<task>``: each task's current s_t."""
        values = keras.ops.convert_to_numpy(self.log_vars)
        return {f"{LOG_VAR_PREFIX}{n}": float(v) for n, v in zip(self.task_names, values)}
