"""Fixed weights: the constant per-task ``loss_weights`` of the training configuration."""

from __future__ import annotations

import tensorflow as tf

from mtl.weighting.base import Weighting


class FixedWeighting(Weighting):
    """Constant weights c_t (``TrainConfig.loss_weights``, 1.0 by default): the plain weighted sum of losses."""

    SCHEME = "fixed"

    def effective(self) -> tf.Tensor:
        """The constants themselves."""
        return tf.constant(self.constants)
