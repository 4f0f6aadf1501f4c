"""Loss weightings for K stacked copies: every copy keeps its own weights and state, as its lone training would.

A stack trains each task's loss per copy, ``(T, K)`` (:mod:`mtl.copy_trainer`). The schemes here
turn those into one training loss while keeping one state per copy, with the formulas of the lone
schemes in :mod:`mtl.weighting`, so copy k weighs its tasks exactly as a lone training with its
settings would:

- ``fixed``: each copy's constants c_t (its ``loss_weights``);
- ``uncertainty``: a trainable log-variance per copy and task (Kendall et al.), trained by the
  stack's optimizer with each copy's learning rate;
- ``dwa``: each copy's weights set between epochs from its own last two epochs' training losses;
- ``rlw``: each copy's weights drawn afresh every step from its own seed generator, seeded from
  the copy's training seed as a lone training seeds its own (:func:`mtl.weighting.draw_seed`);
- ``famo``: each copy's logits moved after every step by its own Adam, from the fall of its own
  losses on the batch (the stack computes the batch's losses again after the step, as alone);
- ``gradnorm``: each copy's weights moved after every step from its own tasks' gradient norms on
  its own last shared kernel (its slice of the stacked kernel; in a padded stack copies of
  different depths read different stacked kernels).

- the gradient-level methods (``pcgrad``, ``mgda``, ``cagrad``, ``imtl_g``, ``aligned_mtl``,
  ``upgrad``): each copy's Gram matrix of task gradients on its own shared variables, combined by
  the copy's own instance of the lone scheme (PCGrad's draws from the copy's seed), into the copy's
  own update direction (:class:`CopyGradientAggregator`); ``mgda_ub`` takes each copy's Gram
  matrix on its own shared representation, its slice of that stacked layer's output.

So every weighting stacks.
:class:`CopyWeightLogger` logs what a lone training's :class:`~mtl.weighting.WeightLogger` logs, per copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import keras
import numpy as np
import tensorflow as tf

from mtl.tasks import Task
from mtl.weighting import WEIGHT_PREFIX, WEIGHTINGS, draw_seed, dwa_weights, make_weighting
from mtl.weighting.famo import famo_loss, famo_state, famo_step
from mtl.weighting.gradnorm import gradnorm_step, starting_weights, warn_fixed
from mtl.weighting.mgda_ub import REPRESENTATION, representation_layer
from mtl.weighting.shared import last_shared_kernel
from mtl.weighting.uncertainty import LOG_VAR_PREFIX

CopyName = Callable[[str, int], str]  # (task, copy) -> the copy's name of the task in a stack's logs


class CopyWeighting(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Per copy, task weights for a stack's ``(T, K)`` task losses: each copy's fixed constants, ``(K, T)``, by default.

    Every variable carries the copy axis first (what :class:`~mtl.copy_trainer.CopyAdam` needs of
    anything it trains). The mean of each epoch's step weights is what gets logged, as alone.
    """

    SCHEME = "fixed"
    relooks = False  # the trainer computes the batch's losses again after the step for after_step
    persistent_tape = False  # update reads the step's tape again

    def __init__(self, tasks: tuple[Task, ...], constants: Sequence[Mapping[str, float]], options: Mapping[str, float],
                 seeds: Sequence[int]) -> None:
        super().__init__(name=f"copy_weighting_{self.SCHEME}")
        self.tasks, self.task_names = tasks, tuple(t.name for t in tasks)
        self.copies, self.seeds = len(constants), tuple(seeds)
        self.options = WEIGHTINGS[self.SCHEME].resolve_options(options)
        self.constants = np.array([[float(c.get(n, 1.0)) for n in self.task_names] for c in constants], dtype="float32")  # (K, T)
        shape = (self.copies, len(self.task_names))
        self.step_weights = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="epoch_weight_sum")
        self.steps_seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="epoch_steps")
        self.built = True

    def effective(self) -> tf.Tensor:
        """Each copy's current weight of each task, ``(K, T)``."""
        return tf.constant(self.constants)

    def combine(self, losses: tf.Tensor) -> tf.Tensor:
        """The training loss of every copy together from the ``(T, K)`` task losses: ``sum_k sum_t w_kt * L_tk``."""
        return tf.reduce_sum(self.effective() * tf.transpose(losses))

    def setup(self, stacked: keras.Model, copies: Sequence[keras.Model], x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Inspect the stacked model, the lone copies it stacks and a few training rows before training; nothing by
        default."""

    def gradients(self, tape: tf.GradientTape, losses: tf.Tensor, total: tf.Tensor,
                  variables: list[keras.Variable]) -> list[tf.Tensor | None]:
        """The step's gradient for each of ``variables`` from the step's tape, the ``(T, K)`` task losses and the
        training loss ``total``: that of ``total`` by default."""
        return list(tape.gradient(total, variables))

    def forward(self, stacked: keras.Model, x: Any, training: bool) -> dict[str, tf.Tensor]:
        """The training step's predictions of ``stacked`` on ``x`` (keyed by task); a plain call by default."""
        predicted: dict[str, tf.Tensor] = stacked(x, training=training)
        return predicted

    def update(self, tape: tf.GradientTape, losses: tf.Tensor) -> None:
        """Adapt after each training step from its tape and the ``(T, K)`` task losses, inside the step's graph;
        nothing by default."""

    def after_step(self, before: tf.Tensor, after: tf.Tensor) -> None:
        """Adapt from every copy's batch losses ``(T, K)`` before and after the step, inside the step's graph; called
        only where ``relooks``; nothing by default."""

    def record_step(self) -> None:
        """Add the step's weights to the epoch's running sum (inside the step's graph)."""
        self.step_weights.assign_add(self.effective())
        self.steps_seen.assign_add(1.0)

    def start_epoch(self) -> None:
        """Clear the epoch's running sum of step weights."""
        self.step_weights.assign(tf.zeros_like(self.step_weights))
        self.steps_seen.assign(0.0)

    def weights_now(self) -> np.ndarray:
        """Each copy's task weights averaged over the epoch's steps so far (the current ones before any), ``(K, T)``."""
        steps = float(keras.ops.convert_to_numpy(self.steps_seen))
        if steps:
            return np.asarray(keras.ops.convert_to_numpy(self.step_weights)) / steps
        return np.asarray(keras.ops.convert_to_numpy(self.effective()))

    def extra_logs(self, copy_name: CopyName) -> dict[str, float]:
        """Scheme-specific values per copy, named as a lone training names them with the copy's task names."""
        return {}

    def end_epoch(self, epoch_losses: np.ndarray) -> None:
        """Adapt between epochs from every copy's epoch training losses ``(T, K)``; nothing by default."""


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
            layer = next(layer for layer in lone.layers if any(w is kernel for w in layer.weights))
            index = next(i for i, w in enumerate(layer.weights) if w is kernel)
            twin = stacked.get_layer(layer.name).weights[index]
            users.setdefault(twin.path, (twin, np.zeros(self.copies, dtype="float32")))[1][k] = 1.0
        self.kernels = list(users.values())

    def update(self, tape: tf.GradientTape, losses: tf.Tensor) -> None:
        """One GradNorm step on every copy's weights (a stacked kernel's gradient holds each copy's own in its slice)."""
        if not self.kernels:
            return
        norms = tf.zeros_like(self.current)
        for kernel, users in self.kernels:
            axes = list(range(1, len(kernel.shape)))
            tasks = tf.eye(len(self.task_names), dtype=losses.dtype)
            # task t's gradient, d(sum_k L_tk)/dW: the tape's losses, selected by output gradients (a slice taken
            # outside the tape would have no gradient)
            gradients = [tape.gradient(losses, kernel, output_gradients=tf.ones_like(losses) * tasks[:, t:t + 1])
                         for t in range(len(self.task_names))]
            per_task = [tf.sqrt(tf.reduce_sum(tf.square(g), axis=axes)) for g in gradients]
            norms += users[:, None] * tf.stack(per_task, axis=1)
        stepped = gradnorm_step(self, tf.transpose(losses), norms)
        moved = np.sum([users for _, users in self.kernels], axis=0) > 0  # the copies that have a last shared kernel
        self.current.assign(tf.where(moved[:, None], stepped, tf.convert_to_tensor(self.current)))


class CopyGradientAggregator(CopyWeighting):
    """A gradient-level method per copy (:class:`~mtl.weighting.aggregator.GradientAggregator`): on copy k's shared
    variables (its lone model's, as their stacked slices) the direction ``w_k @ G_k``, ``G_k`` the rows of its
    ``c_t L_t`` gradients and ``w_k`` what the scheme makes of their Gram matrix; elsewhere the gradient of
    ``sum_t c_t L_t``. The weights come from one lone instance of the scheme per copy (seeded with the copy's seed),
    so every copy combines its gradients exactly as its lone training would. Subclasses name the scheme."""

    persistent_tape = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schemes = [make_weighting(self.SCHEME, self.tasks, dict(zip(self.task_names, (float(c) for c in row))), self.options,
                                       seed) for row, seed in zip(self.constants, self.seeds, strict=True)]
        self.current = self.add_weight(shape=(self.copies, len(self.task_names)), initializer="ones", trainable=False,
                                       name=f"{self.SCHEME}_weights")
        self.current.assign(self.constants)
        self.shared: dict[str, np.ndarray] = {}  # a stacked variable's path -> (K,) 1 where it is one of copy k's shared
        self.sharing = np.zeros(self.copies, dtype=bool)  # the copies with any shared variable

    def effective(self) -> tf.Tensor:
        """``c_kt * w_kt`` of the latest step (``c_kt`` before the first)."""
        return tf.convert_to_tensor(self.current)

    def combine(self, losses: tf.Tensor) -> tf.Tensor:
        """``sum_k sum_t c_kt L_tk``: the loss the task gradients come from."""
        return tf.reduce_sum(self.constants * tf.transpose(losses))

    def setup(self, stacked: keras.Model, copies: Sequence[keras.Model], x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Find each copy's shared variables in its lone model, and their stacked twins."""
        self.shared = {}
        for k, lone in enumerate(copies):
            self.schemes[k].setup(lone, x)  # warns, as alone, where nothing is shared
            for layer in lone.layers:
                for index, weight in enumerate(layer.weights):
                    if weight.path in self.schemes[k].shared_paths:
                        twin = stacked.get_layer(layer.name).weights[index]
                        self.shared.setdefault(twin.path, np.zeros(self.copies, dtype="float32"))[k] = 1.0
                        self.sharing[k] = True

    def task_row(self, task: int) -> tf.Tensor:
        """The output gradients of the ``(T, K)`` losses that select row ``task`` of every copy's G: the gradient of
        ``sum_k c_kt L_tk``, whose slice k of a stacked variable (or of a stacked activation) is copy k's own."""
        return tf.one_hot(task, len(self.task_names))[:, None] * self.constants[:, task][None]

    def gram(self, tape: tf.GradientTape, losses: tf.Tensor, rows: list[list[tf.Tensor]],
             variables: list[keras.Variable]) -> tf.Tensor:
        """Every copy's Gram matrix ``(K, T, T)`` of its task gradient rows (``rows[t]``, one per variable) on its
        own shared variables."""
        count = len(self.task_names)
        gram = tf.zeros((self.copies, count, count))
        for index, variable in enumerate(variables):
            mask = self.shared.get(variable.path)
            if mask is not None:
                flat = tf.stack([tf.reshape(row[index], (self.copies, -1)) for row in rows])  # (T, K, P)
                gram += mask[:, None, None] * tf.einsum("ikp,jkp->kij", flat, flat)
        return gram

    def gradients(self, tape: tf.GradientTape, losses: tf.Tensor, total: tf.Tensor,
                  variables: list[keras.Variable]) -> list[tf.Tensor | None]:
        """Each variable's update gradient, every copy's slice its own (records the step's effective weights)."""
        count = len(self.task_names)
        rows = [tape.gradient(losses, variables, output_gradients=self.task_row(t), unconnected_gradients=tf.UnconnectedGradients.ZERO)
                for t in range(count)]
        gram = self.gram(tape, losses, rows, variables)
        weights = tf.stack([tf.cast(scheme.combination(tf.cast(gram[k], "float64")), "float32") if self.sharing[k]
                            else tf.ones(count) for k, scheme in enumerate(self.schemes)])  # (K, T)
        self.current.assign(self.constants * weights)
        out = []
        for index, variable in enumerate(variables):
            mask = self.shared.get(variable.path, np.zeros(self.copies, dtype="float32"))
            coefficients = mask[:, None] * weights + (1.0 - mask[:, None])  # shared: w_kt; elsewhere 1 (sum_t c_t L_t)
            shape = (self.copies, *[1] * (len(variable.shape) - 1))
            out.append(sum(tf.reshape(coefficients[:, t], shape) * rows[t][index] for t in range(count)))
        return out


class CopyMgdaUbWeighting(CopyGradientAggregator):
    """:class:`~mtl.weighting.mgda_ub.MgdaUbWeighting` per copy: each copy's Gram matrix from its task gradients on its
    own shared representation (the output of its last trunk layer: its slice of that stacked layer's output, which a
    probe of the stacked model returns beside the predictions); the update as the other gradient-level methods'."""

    SCHEME = "mgda_ub"

    def setup(self, stacked: keras.Model, copies: Sequence[keras.Model], x: np.ndarray | dict[str, np.ndarray]) -> None:
        """Find each copy's representation layer (a :class:`~mtl.errors.ConfigError` without one, as alone) and build
        the probe (the stacked model's layers and variables, with those layers' outputs too)."""
        super().setup(stacked, copies, x)
        names = [cast(keras.layers.Layer, representation_layer(lone)).name for lone in copies]  # the lone setup checked
        self.readers = {name: np.array([n == name for n in names], dtype="float32") for name in sorted(set(names))}
        outputs = {**dict(zip(stacked.output_names, stacked.outputs)),
                   **{REPRESENTATION + name: stacked.get_layer(name).output for name in self.readers}}
        # not tracked as a sub-layer: its variables are the stacked model's, which the trainer already holds
        object.__setattr__(self, "probe", keras.Model(stacked.input, outputs, name=f"{stacked.name}_with_representations"))
        self.captured: dict[str, tf.Tensor] = {}

    def forward(self, stacked: keras.Model, x: Any, training: bool) -> dict[str, tf.Tensor]:
        """The predictions, through the probe so every representation is on the step's tape."""
        outputs = dict(self.probe(x, training=training))
        self.captured = {name: outputs.pop(REPRESENTATION + name) for name in self.readers}
        return outputs

    def gram(self, tape: tf.GradientTape, losses: tf.Tensor, rows: list[list[tf.Tensor]],
             variables: list[keras.Variable]) -> tf.Tensor:
        """Every copy's Gram matrix of its task gradients on its representation ``(batch, K, width)``, slice k."""
        count = len(self.task_names)
        gram = tf.zeros((self.copies, count, count))
        for name, readers in self.readers.items():
            z = self.captured.pop(name)
            per_task = [tape.gradient(losses, z, output_gradients=self.task_row(t), unconnected_gradients=tf.UnconnectedGradients.ZERO)
                        for t in range(count)]
            flat = tf.stack([tf.reshape(tf.transpose(g, (1, 0, *range(2, len(g.shape)))), (self.copies, -1)) for g in per_task])
            gram += readers[:, None, None] * tf.einsum("ikp,jkp->kij", flat, flat)
        return gram


def copy_aggregator(name: str) -> type[CopyGradientAggregator]:
    """The stacked form of the gradient-level method ``name``."""
    return type(f"CopyAggregator_{name}", (CopyGradientAggregator,), {"SCHEME": name})


AGGREGATED = ("pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl", "upgrad")  # the gradient-level methods that stack
COPY_WEIGHTINGS: dict[str, type[CopyWeighting]] = {
    **{c.SCHEME: c for c in (CopyWeighting, CopyUncertaintyWeighting, CopyDwaWeighting, CopyRlwWeighting, CopyFamoWeighting,
                             CopyGradNormWeighting, CopyMgdaUbWeighting)},
    **{name: copy_aggregator(name) for name in AGGREGATED}}


def make_copy_weighting(name: str, tasks: tuple[Task, ...], constants: Sequence[Mapping[str, float]],
                        options: Mapping[str, float], seeds: Sequence[int]) -> CopyWeighting:
    """The stacked form of the weighting ``name`` for one copy per entry of ``constants`` (each copy's c_t) and of
    ``seeds`` (each copy's training seed)."""
    return COPY_WEIGHTINGS[name](tasks, constants, options, seeds)


class CopyWeightLogger(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints: its classes are Any to mypy
    """Per epoch and copy, ``weight_<task>`` (the epoch's mean step weight) and the scheme's extra logs under the copy's
    task names (``copy_name``); then the weighting adapts from every copy's epoch losses (``epoch_losses()``, ``(T, K)``)."""

    def __init__(self, weighting: CopyWeighting, copy_name: CopyName, epoch_losses: Callable[[], np.ndarray]) -> None:
        super().__init__()
        self.weighting, self.copy_name, self.epoch_losses = weighting, copy_name, epoch_losses

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Start the epoch's average of step weights afresh."""
        self.weighting.start_epoch()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Log every copy's weights, then adapt them."""
        if logs is None:
            return
        weights = self.weighting.weights_now()
        logs.update({f"{WEIGHT_PREFIX}{self.copy_name(n, k)}": float(weights[k, t])
                     for k in range(self.weighting.copies) for t, n in enumerate(self.weighting.task_names)})
        logs.update(self.weighting.extra_logs(self.copy_name))
        self.weighting.end_epoch(self.epoch_losses())
