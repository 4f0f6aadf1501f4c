"""The loss-level weightings per copy: each copy's weights and state as its lone scheme's (:mod:`mtl.weighting`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtl.copy_weighting.base import CopyName, CopyWeighting, task_selector
from mtl.stacked import stacked_twins
from mtl.weighting import draw_seed, dwa_weights
from mtl.weighting.famo import famo_loss, famo_state, famo_step
from mtl.weighting.gradnorm import gradnorm_step, starting_weights, warn_fixed
from mtl.weighting.shared import last_shared_kernel
from mtl.weighting.uncertainty import LOG_VAR_PREFIX


class CopyUncertaintyWeighting(CopyWeighting):
    """:class:`~mtl.weighting.uncertainty.UncertaintyWeighting` per copy: ``sum_t c_t * exp(-s_t) * L_t + s_t``."""

    SCHEME = "uncertainty"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log_vars = self.add_weight(shape=(self.copies, len(self.task_names)), initializer="zeros", name="log_vars")

    def effective(self) -> tf.Tensor:
        """``c_kt * exp(-s_kt)``."""
        return self.constants * tf.exp(-tf.convert_to_tensor(self.log_vars))

    def combine(self, losses: tf.Tensor) -> tf.Tensor:
        """The weighted losses plus every copy's log-variance regulariser."""
        return tf.reduce_sum(self.effective() * tf.transpose(losses) + self.log_vars)

    def extra_logs(self, copy_name: CopyName) -> dict[str, float]:
        """``log_var_<task>`` of every copy."""
        values = np.asarray(keras.ops.convert_to_numpy(self.log_vars))
        return {f"{LOG_VAR_PREFIX}{copy_name(n, k)}": float(values[k, t])
                for k in range(self.copies) for t, n in enumerate(self.task_names)}


class CopyDwaWeighting(CopyWeighting):
    """:class:`~mtl.weighting.dwa.DwaWeighting` per copy: weights ``c_t * T * softmax(r_t / temperature)`` from the
    copy's own last two epochs' mean training losses; the first two epochs use ``c_t``."""

    SCHEME = "dwa"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current = self.add_weight(shape=(self.copies, len(self.task_names)), initializer="ones", trainable=False,
                                       name="dwa_weights")
        self.current.assign(self.constants)
        self.epoch_losses: list[np.ndarray] = []

    def effective(self) -> tf.Tensor:
        """The weights every copy set for this epoch."""
        return tf.convert_to_tensor(self.current)

    def end_epoch(self, epoch_losses: np.ndarray) -> None:
        """Record the epoch's losses and set each copy's next weights."""
        self.epoch_losses.append(np.asarray(epoch_losses, dtype="float64").T)  # (K, T)
        if len(self.epoch_losses) >= 2:
            temperature = self.options["temperature"]
            ratios = np.stack([dwa_weights(last, before, temperature)
                               for last, before in zip(self.epoch_losses[-1], self.epoch_losses[-2], strict=True)])
            self.current.assign((self.constants * ratios).astype("float32"))


class CopyRlwWeighting(CopyWeighting):
    """:class:`~mtl.weighting.rlw.RlwWeighting` per copy: fresh weights ``c_t * softmax(z)_t`` every step, z drawn
    from the copy's own seed generator (the one its lone training would draw from; the first draw at construction)."""

    SCHEME = "rlw"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed_generators = [keras.random.SeedGenerator(draw_seed(seed), name=f"rlw_seed_{k}") for k, seed in enumerate(self.seeds)]
        self.current = self.add_weight(shape=(self.copies, len(self.task_names)), initializer="ones", trainable=False,
                                       name="rlw_weights")
        self.current.assign(self.draw())

    def draw(self) -> tf.Tensor:
        """Every copy's next weights, ``(K, T)``: one draw from each copy's generator."""
        shape = (len(self.task_names),)
        return self.constants * tf.nn.softmax(tf.stack([keras.random.normal(shape, seed=g) for g in self.seed_generators]))

    def effective(self) -> tf.Tensor:
        """The weights every copy drew for the coming step."""
        return tf.convert_to_tensor(self.current)

    def update(self, tape: tf.GradientTape, losses: tf.Tensor) -> None:
        """Draw every copy's next step's weights."""
        self.current.assign(self.draw())


class CopyFamoWeighting(CopyWeighting):
    """:class:`~mtl.weighting.famo.FamoWeighting` per copy: weights ``c_t z_t``, ``z = softmax(xi)``, each copy's
    logits xi ``(K, T)`` moved by its own Adam after every step."""

    SCHEME = "famo"
    relooks = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logits, self.first_moment, self.second_moment, self.steps = famo_state(self, (self.copies, len(self.task_names)))

    def effective(self) -> tf.Tensor:
        """``c_kt z_kt``."""
        return self.constants * tf.nn.softmax(tf.convert_to_tensor(self.logits))

    def combine(self, losses: tf.Tensor) -> tf.Tensor:
        """Every copy's ``sum_t c_t z_t log L_t / C`` (each copy its own C), summed."""
        return famo_loss(self.effective(), tf.transpose(losses))

    def after_step(self, before: tf.Tensor, after: tf.Tensor) -> None:
        """One Adam step on every copy's logits from the fall of its own losses on the batch."""
        famo_step(self.logits, self.first_moment, self.second_moment, self.steps, tf.transpose(before), tf.transpose(after),
                  self.options)


class CopyGradNormWeighting(CopyWeighting):
    """:class:`~mtl.weighting.gradnorm.GradNormWeighting` per copy: after every step, one GradNorm step on each copy's
    weights from its task losses and its tasks' gradient norms on its own last shared kernel; a copy without one keeps
    its starting weights (a lone training warns the same)."""

    SCHEME = "gradnorm"
    persistent_tape = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shape = (self.copies, len(self.task_names))
        self.current = self.add_weight(shape=shape, initializer="ones", trainable=False, name="gradnorm_weights")
        self.current.assign(starting_weights(self.constants))
        self.initial_losses = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="initial_losses")
        self.started = self.add_weight(shape=(), initializer="zeros", trainable=False, name="started")
        self.kernels: list[tuple[keras.Variable, np.ndarray]] = []  # each stacked kernel W and the copies it is W of

    def effective(self) -> tf.Tensor:
        """The current weights, ``(K, T)``."""
        return tf.convert_to_tensor(self.current)

    def setup(self, stacked: keras.Model, copies: Sequence[keras.Model], x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Find each copy's last shared kernel in its lone model and its stacked twin (the same layer's weight)."""
        users: dict[str, tuple[keras.Variable, np.ndarray]] = {}
        for k, lone in enumerate(copies):
            kernel = last_shared_kernel(lone, x)
            if kernel is None:
                warn_fixed(lone.name)
                continue
            twin = stacked_twins(stacked, lone)[kernel.path]
            users.setdefault(twin.path, (twin, np.zeros(self.copies, dtype="float32")))[1][k] = 1.0
        self.kernels = list(users.values())

    def update(self, tape: tf.GradientTape, losses: tf.Tensor) -> None:
        """One GradNorm step on every copy's weights (a stacked kernel's gradient holds each copy's own in its slice)."""
        if not self.kernels:
            return
        norms = tf.zeros_like(self.current)
        count = len(self.task_names)
        selectors = [task_selector(t, count, np.ones(self.copies, dtype="float32")) for t in range(count)]
        for kernel, users in self.kernels:
            axes = list(range(1, len(kernel.shape)))
            gradients = [tape.gradient(losses, kernel, output_gradients=selector) for selector in selectors]  # d(sum_k L_tk)/dW
            per_task = [tf.sqrt(tf.reduce_sum(tf.square(g), axis=axes)) for g in gradients]
            norms += users[:, None] * tf.stack(per_task, axis=1)
        stepped = gradnorm_step(self, tf.transpose(losses), norms)
        moved = np.sum([users for _, users in self.kernels], axis=0) > 0  # the copies that have a last shared kernel
        self.current.assign(tf.where(moved[:, None], stepped, tf.convert_to_tensor(self.current)))
