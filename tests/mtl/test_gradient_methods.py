"""Gradient-level and recent loss-level multi-task methods: each against its paper's definition, then in training."""

from __future__ import annotations

import itertools
import logging
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl.data import Splits, make_synthetic, split
from mtl.errors import ConfigError
from mtl.models import ModelConfig
from mtl.tasks import Task
from mtl.training import TrainConfig, TrainResult, build_for, train
from mtl.weighting import GradientAggregator, Weighting, make_weighting
from mtl.weighting.aligned import alignment
from mtl.weighting.cagrad import cagrad_weights
from mtl.weighting.mgda_ub import representation_layer
from mtl.weighting.pcgrad import pcgrad_weights
from mtl.weighting.upgrad import dual_cone_projections

AGGREGATORS = ("pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl", "upgrad")
METHODS = (*AGGREGATORS, "mgda_ub", "famo", "rlw")
CONFIG = ModelConfig("hard", shared_depth=1, shared_width=16, tower_depth=1, tower_width=8)


def scheme(name: str, tasks: int = 2, **options: float) -> Weighting:
    """A fresh ``name`` over ``tasks`` regression tasks (constants 1)."""
    return make_weighting(name, tuple(Task(f"t{i}", "regression") for i in range(tasks)), {}, options)


def aggregated(name: str, gradients: np.ndarray, **options: float) -> tuple[np.ndarray, np.ndarray]:
    """The direction and weights ``name`` makes of the rows of ``gradients``."""
    method = scheme(name, len(gradients), **options)
    assert isinstance(method, GradientAggregator)
    direction, weights = method.aggregate(tf.constant(gradients, "float32"))
    return direction.numpy().astype("float64"), weights.numpy().astype("float64")


def random_gradients(seed: int, tasks: int = 4, size: int = 10) -> np.ndarray:
    """Gradients with a common part and conflicting task parts, at different scales."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=size)
    result: np.ndarray = 0.5 * common + rng.normal(size=(tasks, size)) * rng.uniform(0.3, 3.0, size=(tasks, 1))
    return result


def fit(splits: Splits, weighting: str, epochs: int, config: ModelConfig = CONFIG, batch_size: int = 32) -> TrainResult:
    """Train without early stopping at a brisk learning rate."""
    settings = TrainConfig(weighting=weighting, epochs=epochs, patience=epochs, learning_rate=0.02, batch_size=batch_size)
    return train(config, splits, settings)


def test_pcgrad_removes_the_conflicting_components() -> None:
    g = np.array([[1.0, 0.0], [-1.0, 1.0]])  # g1 . g2 = -1: they conflict
    direction, weights = aggregated("pcgrad", g)
    g1_pc = g[0] - (g[0] @ g[1]) / (g[1] @ g[1]) * g[1]  # (0.5, 0.5)
    g2_pc = g[1] - (g[1] @ g[0]) / (g[0] @ g[0]) * g[0]  # (0, 1)
    assert g1_pc @ g[1] == pytest.approx(0.0) and g2_pc @ g[0] == pytest.approx(0.0)
    np.testing.assert_allclose(direction, g1_pc + g2_pc, atol=1e-6)
    np.testing.assert_allclose(direction, [0.5, 1.5], atol=1e-6)
    np.testing.assert_allclose(weights, [2.0, 1.5], atol=1e-6)  # coefficients of g1 and g2 in the sum

    agreeing = np.array([[1.0, 0.0], [1.0, 1.0]])
    direction, weights = aggregated("pcgrad", agreeing)
    np.testing.assert_allclose(direction, agreeing.sum(axis=0), atol=1e-6)
    np.testing.assert_allclose(weights, [1.0, 1.0])


@pytest.mark.parametrize("seed", range(3))
def test_pcgrad_follows_algorithm_1_in_the_given_order(seed: int) -> None:
    g = random_gradients(seed, tasks=4)
    order = np.random.default_rng(seed).permutation(4)
    expected = np.zeros(g.shape[1])
    for i in range(4):
        projected = g[i].copy()
        for j in order:
            inner = projected @ g[j]
            if inner < 0:
                projected -= inner / (g[j] @ g[j]) * g[j]
        expected += projected
    weights = pcgrad_weights(tf.constant(g @ g.T), tf.constant(order)).numpy()
    np.testing.assert_allclose(weights @ g, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_mgda_finds_the_min_norm_point(seed: int) -> None:
    g = random_gradients(seed, tasks=2)
    direction, weights = aggregated("mgda", g)
    # two tasks: the closed form of the nearest point to 0 on the segment [g2, g1]
    alpha = np.clip((g[1] @ (g[1] - g[0])) / ((g[0] - g[1]) @ (g[0] - g[1])), 0.0, 1.0)
    np.testing.assert_allclose(weights, [alpha, 1 - alpha], atol=1e-5)
    np.testing.assert_allclose(direction, alpha * g[0] + (1 - alpha) * g[1], rtol=1e-4, atol=1e-5)
    grid = np.linspace(0.0, 1.0, 10001)[:, None]
    assert np.linalg.norm(direction) <= np.linalg.norm(grid * g[0] + (1 - grid) * g[1], axis=1).min() + 1e-5

    # four tasks: the optimality conditions of the min-norm point d, g_t . d >= |d|^2 for every t
    g = random_gradients(seed, tasks=4, size=3)  # four gradients in 3-d: a hull that is not a single vertex
    direction, weights = aggregated("mgda", g)
    assert weights.sum() == pytest.approx(1.0, abs=1e-6) and weights.min() >= 0.0
    assert (g @ direction).min() >= direction @ direction - 1e-5 * (g**2).sum(axis=1).max()


@pytest.mark.parametrize("seed", range(4))
def test_imtl_g_projects_equally_on_every_unit_gradient(seed: int) -> None:
    g = random_gradients(seed, tasks=4)
    direction, weights = aggregated("imtl_g", g)
    projections = g @ direction / np.linalg.norm(g, axis=1)
    np.testing.assert_allclose(projections, projections.mean(), rtol=1e-4)
    assert projections.mean() > 0 and weights.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_upgrad_conflicts_with_no_task(seed: int) -> None:
    g = random_gradients(seed, tasks=4)
    assert (g @ g.T).min() < 0  # some tasks conflict
    direction, _ = aggregated("upgrad", g)
    scale = np.linalg.norm(g, axis=1) * np.linalg.norm(direction)
    assert (g @ direction >= -1e-5 * scale).all()
    # each row is a projection onto the dual cone: no worse than the plain gradient, and in the cone
    projections = dual_cone_projections(tf.constant(g @ g.T)).numpy()
    assert (projections >= np.eye(4) - 1e-12).all()
    assert (projections @ (g @ g.T) >= -1e-8 * np.abs(g @ g.T).max()).all()


def test_upgrad_is_the_mean_without_conflicts() -> None:
    g = np.abs(random_gradients(0, tasks=3))
    direction, weights = aggregated("upgrad", g)
    np.testing.assert_allclose(direction, g.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(weights, 1 / 3, rtol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_cagrad_solves_its_dual_and_improves_the_worst_task(seed: int) -> None:
    g = random_gradients(seed, tasks=3)
    direction, weights = aggregated("cagrad", g, c=0.0)
    np.testing.assert_allclose(direction, g.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights, 1 / 3, rtol=1e-6)

    c = 0.4
    gram = g @ g.T
    mean = np.full(3, 1 / 3)
    radius = c * np.sqrt(mean @ gram @ mean)
    grid = np.array([(a, b, 1 - a - b) for a, b in itertools.product(np.linspace(0, 1, 401), repeat=2) if a + b <= 1 + 1e-12])
    objective = grid @ gram @ mean + radius * np.sqrt(np.einsum("ij,jk,ik->i", grid, gram, grid))
    weights = cagrad_weights(tf.constant(gram), c).numpy()
    # recover w from the direction's weights: weights = (mean + radius / |g_w| * w) / (1 + c^2)
    w = weights * (1 + c**2) - mean
    w /= w.sum()
    assert w @ gram @ mean + radius * np.sqrt(w @ gram @ w) <= objective.min() + 1e-6 * np.abs(gram).max()

    direction, _ = aggregated("cagrad", g, c=c)
    unscaled = direction * (1 + c**2)
    assert np.linalg.norm(unscaled - g.mean(axis=0)) == pytest.approx(radius, rel=1e-4)  # on the ball's edge
    assert (g @ unscaled).min() >= (g @ g.mean(axis=0)).min() - 1e-5  # the worst task gains at least as much


def test_aligned_mtl_sums_orthogonal_equal_gradients_and_equalises_singular_values() -> None:
    g = 2.0 * np.eye(3, 5)
    direction, weights = aggregated("aligned_mtl", g)
    np.testing.assert_allclose(weights, 1.0, rtol=1e-6)
    np.testing.assert_allclose(direction, g.sum(axis=0), rtol=1e-6)

    g = random_gradients(1, tasks=4)
    aligned = alignment(tf.constant(g @ g.T)).numpy() @ g
    singular = np.linalg.svd(g, compute_uv=False)
    np.testing.assert_allclose(np.linalg.svd(aligned, compute_uv=False), singular.min(), rtol=1e-6)
    direction, weights = aggregated("aligned_mtl", g)
    np.testing.assert_allclose(direction, aligned.sum(axis=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", AGGREGATORS)
def test_a_zero_gradient_gets_weight_zero_and_no_nan(name: str) -> None:
    g = random_gradients(2, tasks=3)
    g[1] = 0.0  # task 2 has no labelled row in the batch
    direction, weights = aggregated(name, g)
    assert np.isfinite(direction).all() and np.isfinite(weights).all()
    assert weights[1] == 0.0 and weights[[0, 2]].min() > 0
    direction_without, _ = aggregated(name, g[[0, 2]])
    if name != "pcgrad":  # pcgrad visits the tasks in a random order
        np.testing.assert_allclose(direction, direction_without, rtol=1e-4, atol=1e-6)

    direction, weights = aggregated(name, np.zeros((3, 4)))
    np.testing.assert_array_equal(direction, 0.0)
    assert np.isfinite(weights).all()


def test_rlw_draws_positive_weights_summing_to_one() -> None:
    rlw = scheme("rlw", tasks=4)
    draws = np.array([rlw.draw().numpy() for _ in range(20)])
    assert (draws > 0).all()
    np.testing.assert_allclose(draws.sum(axis=1), 1.0, rtol=1e-6)
    assert len({tuple(d) for d in draws}) == 20


def test_famo_shifts_weight_toward_the_task_that_improved_less() -> None:
    famo = scheme("famo", tasks=2)
    for _ in range(5):
        famo.after_step(tf.constant([1.0, 1.0]), tf.constant([0.5, 0.9]))  # task t1 falls faster
    weights = famo.effective().numpy()
    assert (weights > 0).all() and weights.sum() == pytest.approx(1.0) and weights[1] > weights[0]


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [("cagrad", {"c": 1.0}, "must be < 1"), ("cagrad", {"c": -0.1}, "must be >= 0"), ("famo", {"lr": 0.0}, "must be > 0"),
     ("pcgrad", {"c": 0.4}, "unknown weighting option")],
)
def test_bad_options_are_config_errors(name: str, options: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(weighting=name, weighting_options=options)


@pytest.fixture(scope="module")
def two_tasks() -> Splits:
    """The default synthetic generator's two related regression tasks, 600 rows."""
    return split(make_synthetic(n_samples=600, n_features=6, n_tasks=2, seed=1), 0.2, 0.2, seed=1)


@pytest.mark.parametrize("name", METHODS)
def test_each_method_learns_and_logs_its_weights(name: str, two_tasks: Splits) -> None:
    result = fit(two_tasks, name, epochs=8)
    assert result.objective < 0.9  # 1.0: no better than predicting the training mean
    for task in ("task1", "task2"):
        weights = result.history[f"weight_{task}"]
        assert weights == result.weights[task] and len(weights) == 8
        assert all(math.isfinite(w) for w in weights)
    if name in ("mgda", "mgda_ub", "imtl_g", "rlw", "famo"):  # weights on the simplex
        np.testing.assert_allclose(sum(np.array(result.weights[t]) for t in ("task1", "task2")), 1.0, rtol=1e-5)
    if name == "famo":
        assert min(min(w) for w in result.weights.values()) > 0


@pytest.mark.parametrize("name", METHODS)
def test_masked_tasks_give_finite_losses_and_weights(name: str) -> None:
    splits = split(make_synthetic(n_samples=300, n_features=6, n_tasks=3, label_fraction=0.3, seed=2), 0.2, 0.2, seed=2)
    result = fit(splits, name, epochs=2, batch_size=4)  # about a quarter of the batches lack each task's label
    logged = [v for key, values in result.history.items() if key.endswith("loss") or key.startswith("weight_") for v in values]
    assert logged and all(math.isfinite(v) for v in logged)


def test_aggregating_without_shared_weights_falls_back_to_the_sum(two_tasks: Splits, caplog: pytest.LogCaptureFixture) -> None:
    config = ModelConfig(strategy="independent", shared_depth=1, shared_width=4, tower_depth=0)
    with caplog.at_level(logging.WARNING, logger="mtl.weighting.aggregator"):
        result = fit(two_tasks, "upgrad", epochs=2, config=config)
    assert result.weights == {t: [1.0, 1.0] for t in ("task1", "task2")}
    assert "upgrad: no weight is shared" in caplog.text


def test_mgda_ub_weighs_by_the_min_norm_point_of_the_representation_gradients(two_tasks: Splits) -> None:
    seen: list[np.ndarray] = []

    class Capture(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            seen.append(self.model.weighting.current.numpy().copy())

    settings = TrainConfig(weighting="mgda_ub", epochs=1, patience=1, batch_size=len(two_tasks.train.inputs))
    model = build_for(CONFIG, two_tasks.train, settings.seed)  # the model train builds first, for its first step
    layer = representation_layer(model)
    assert layer is not None and layer.name == "shared_0"
    probe = keras.Model(model.input, [layer.output, *model.outputs])
    x = tf.constant(two_tasks.train.inputs)
    with tf.GradientTape(persistent=True) as tape:
        z, *predictions = probe(x, training=True)
        losses = [tf.reduce_mean((tf.squeeze(p, -1) - two_tasks.train.y[t]) ** 2) for p, t in zip(predictions, ("task1", "task2"))]
    g1, g2 = (tape.gradient(loss, z).numpy().ravel().astype("float64") for loss in losses)
    alpha = float(np.clip((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)), 0.0, 1.0))  # the two-task closed form
    train(CONFIG, two_tasks, settings, callbacks=[Capture()])
    np.testing.assert_allclose(seen[0], [alpha, 1.0 - alpha], atol=1e-4)  # one full batch: its one step


def test_mgda_ub_needs_a_shared_trunk(two_tasks: Splits) -> None:
    config = ModelConfig(strategy="independent", shared_depth=1, shared_width=4, tower_depth=0)
    with pytest.raises(ConfigError, match="mgda_ub: model .* has no shared trunk"):
        fit(two_tasks, "mgda_ub", epochs=1, config=config)


@pytest.mark.parametrize("name", ("pcgrad", "rlw"))
def test_the_logged_weight_is_the_mean_of_the_epoch_steps_weights(name: str, two_tasks: Splits) -> None:
    steps: list[list[np.ndarray]] = []

    class Capture(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            steps.append([])

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if name == "rlw":  # drawn before its step
                steps[-1].append(self.model.weighting.effective().numpy().copy())

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if name == "pcgrad":  # set while making its step's gradients
                steps[-1].append(self.model.weighting.current.numpy().copy())

    result = train(CONFIG, two_tasks, TrainConfig(weighting=name, epochs=3, patience=3, batch_size=64), callbacks=[Capture()])
    logged = np.array([result.weights[t] for t in ("task1", "task2")]).T  # epochs x tasks
    means = np.array([np.mean(epoch, axis=0) for epoch in steps])
    np.testing.assert_allclose(logged, means, rtol=1e-5)
    assert any(len({tuple(np.round(w, 6)) for w in epoch}) > 1 for epoch in steps)  # steps differ: a mean, not a copy
