"""Random loss weighting (RLW): Lin, Ye, Xu, Shi & Zhang, "Reasonable Effectiveness of Random Weighting:
A Litmus Test for Multi-Task Learning", TMLR 2022."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from mtl.weighting.base import Weighting, draw_seed


class RlwWeighting(Weighting):
    """RLW: fresh weights ``c_t * softmax(z)_t``, z standard normal, for every training step (they sum to 1 with c_t = 1).

    The draws come from a Keras seed generator seeded from the training's seed (:func:`draw_seed`). Each
    step's weights are drawn after the step before (the first at construction), so the logged
    weights are those drawn for the next step; evaluation uses them too.
    """

    SCHEME = "rlw"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed_generator = keras.random.SeedGenerator(draw_seed(self.seed), name="rlw_seed")
        self.current = self.add_weight(shape=(len(self.task_names),), initializer="ones", trainable=False, name="rlw_weights")
        self.current.assign(self.draw())

    def draw(self) -> tf.Tensor:
        """New random weights ``c_t * softmax(z)_t``."""
        return self.constants * tf.nn.softmax(keras.random.normal((len(self.task_names),), seed=self.seed_generator))

    def effective(self) -> tf.Tensor:
        """The weights drawn for the coming step."""
        return tf.convert_to_tensor(self.current)

    def update(self, tape: tf.GradientTape, losses: Mapping[str, tf.Tensor], net: keras.Model) -> None:
        """Draw the next step's weights."""
        self.current.assign(self.draw())
