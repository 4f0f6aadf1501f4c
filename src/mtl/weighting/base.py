"""The interface every loss-weighting scheme implements, and the checks they share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtl.errors import ConfigError
from mtl.tasks import Task


class Weighting(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Turns per-task losses into one training loss; holds whatever state the scheme adapts.

    ``constants`` (task -> c_t, from ``TrainConfig.loss_weights``, 1.0 where absent) scale the
    scheme's weights. A subclass names itself in ``SCHEME``, lists its options with defaults in
    ``OPTIONS`` and implements :meth:`effective` (the weights as a tensor in task order) and,
    where it differs, :meth:`combine`; ``persistent_tape`` asks for a tape :meth:`update` can reuse;
    ``relooks`` asks the trainer to compute the batch's losses again after the optimiser step and
    hand both to :meth:`after_step`. Gradient-level schemes
    (:class:`~mtl.weighting.aggregator.GradientAggregator`) override :meth:`gradients`. ``seed`` is
    the training's seed: a scheme that draws random numbers seeds its generator from it
    (:func:`draw_seed`), so its draws are fixed by the seed alone.
    The trainer records every step's effective weights (:meth:`record_step`); the logged weight of
    an epoch is their mean (:meth:`weights_now`). Being a Layer, its variables (trainable or not)
    travel with the training wrapper.
    """

    SCHEME = ""
    OPTIONS: dict[str, float] = {}
    persistent_tape = False
    relooks = False

    def __init__(self, tasks: tuple[Task, ...], constants: Mapping[str, float], options: Mapping[str, float], seed: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(name=f"weighting_{self.SCHEME}", **kwargs)
        self.seed = seed
        self.task_names = tuple(t.name for t in tasks)
        self.constants = np.array([float(constants.get(n, 1.0)) for n in self.task_names], dtype="float32")
        self.options = self.resolve_options(options)
        shape = (len(self.task_names),)
        self.step_weights = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="epoch_weight_sum")
        self.steps_seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="epoch_steps")
        self.built = True

    @classmethod
    def resolve_options(cls, given: Mapping[str, float]) -> dict[str, float]:
        """``OPTIONS`` overridden by ``given``; :class:`ConfigError` for unknown names or non-numbers."""
        return {**cls.OPTIONS, **check_options(cls.SCHEME, cls.OPTIONS, given)}

    def effective(self) -> tf.Tensor:
        """The current effective weight of each task, in task order."""
        raise NotImplementedError

    def combine(self, losses: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """The training loss: ``sum_t w_t * L_t`` with the effective weights."""
        return tf.reduce_sum(self.effective() * stack(losses, self.task_names))

    def setup(self, net: keras.Model, x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Inspect the model (and a few training rows of its inputs) before training; nothing by default."""

    def forward(self, net: keras.Model, x: Any, training: bool) -> dict[str, tf.Tensor]:
        """The training step's predictions of ``net`` on ``x`` (keyed by task); a plain call by default."""
        predictions: dict[str, tf.Tensor] = net(x, training=training)
        return predictions

    def gradients(
        self, tape: tf.GradientTape, losses: Mapping[str, tf.Tensor], total: tf.Tensor, variables: list[keras.Variable]
    ) -> list[tf.Tensor | None]:
        """The step's gradient for each of ``variables`` from the step's tape, per-task losses and
        training loss ``total``: that of ``total`` by default."""
        return list(tape.gradient(total, variables))

    def update(self, tape: tf.GradientTape, losses: Mapping[str, tf.Tensor], net: keras.Model) -> None:
        """Adapt after each training step, inside the step's graph; nothing by default."""

    def after_step(self, before: tf.Tensor, after: tf.Tensor) -> None:
        """Adapt from the batch's per-task losses (vectors in task order) before and after the step,
        inside the step's graph; called only where ``relooks``; nothing by default."""

    def end_epoch(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Adapt between epochs from the epoch's logs; nothing by default."""

    def record_step(self) -> None:
        """Add the step's effective weights to the epoch's running sum (inside the step's graph, once its
        gradients exist: a gradient-level scheme sets its weights while making them)."""
        self.step_weights.assign_add(self.effective())
        self.steps_seen.assign_add(1.0)

    def start_epoch(self) -> None:
        """Clear the epoch's running sum of step weights."""
        self.step_weights.assign(np.zeros(len(self.task_names), dtype="float32"))
        self.steps_seen.assign(0.0)

    def weights_now(self) -> dict[str, float]:
        """Each task's effective weight averaged over the epoch's training steps so far (the current
        weight before any step), by task name."""
        steps = float(keras.ops.convert_to_numpy(self.steps_seen))
        values = keras.ops.convert_to_numpy(self.step_weights) / steps if steps else keras.ops.convert_to_numpy(self.effective())
        return dict(zip(self.task_names, (float(w) for w in values)))

    def extra_logs(self) -> dict[str, float]:
        """Scheme-specific values worth logging each epoch; none by default."""
        return {}


def draw_seed(seed: int) -> int:
    """The seed of a weighting's random draws for a training's ``seed``: its own stream, apart from the streams the
    seed itself starts (initialisation, dropout, batch order)."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0] % (2**31 - 1))


def stack(losses: Mapping[str, tf.Tensor], names: tuple[str, ...]) -> tf.Tensor:
    """The per-task losses as one float32 vector in task order."""
    return tf.stack([tf.cast(losses[n], "float32") for n in names])


def check_options(scheme: str, known: Mapping[str, float], given: Mapping[str, float]) -> dict[str, float]:
    """``given`` as floats; :class:`ConfigError` for names not in ``known`` or values that are not numbers."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"{scheme}: unknown weighting option(s) {', '.join(unknown)} (known: {allowed})")
    checked = {}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ConfigError(f"{scheme}: weighting option {name!r} must be a number, got {value!r}")
        checked[name] = float(value)
    return checked


def at_least(scheme: str, options: Mapping[str, float], name: str, minimum: float, strict: bool = False) -> None:
    """:class:`ConfigError` unless ``options[name]`` is >= ``minimum`` (> where ``strict``)."""
    value = options[name]
    if not (value > minimum if strict else value >= minimum):
        raise ConfigError(f"{scheme}: weighting option {name!r} must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
