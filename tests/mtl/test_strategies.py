"""Sharing strategies: train-save-reload, who shares which weights (from gradients), gates, cross-stitch, sizes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl.data import make_synthetic, split
from mtl.errors import ConfigError
from mtl.models import STRATEGIES, STRATEGY_OPTIONS, ModelConfig, build_model
from mtl.tasks import Task
from mtl.training import TrainConfig, train

N_FEATURES = 6
MEAN, VAR = np.zeros(N_FEATURES, "float32"), np.ones(N_FEATURES, "float32")
X = np.random.default_rng(0).normal(size=(32, N_FEATURES)).astype("float32")
SMALL = {"shared_depth": 1, "shared_width": 5, "tower_depth": 1, "tower_width": 3, "activation": "tanh"}
SMALL_OPTIONS = {
    "hard": {},
    "independent": {},
    "mmoe": {"n_experts": 3, "expert_width": 4},
    "cgc": {"shared_experts": 2, "task_experts": 1, "expert_width": 4},
    "ple": {"shared_experts": 1, "task_experts": 1, "expert_width": 4, "levels": 2},
    "cross_stitch": {"cross_stitch_self": 0.8},
    "grouped": {"groups": "task1|task2"},
}


def tasks_of(n: int) -> tuple[Task, ...]:
    return tuple(Task(f"task{i + 1}", "regression") for i in range(n))


def small_config(strategy: str, **overrides) -> ModelConfig:
    return ModelConfig(strategy=strategy, **{**SMALL, "options": SMALL_OPTIONS[strategy], **overrides})


def dependencies(model: keras.Model) -> dict[str, set[int]]:
    """Per output, the indices of the trainable variables its gradient reaches (not None, not all zero)."""
    x = tf.constant(X)
    found = {}
    for name in model.output_names:
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(model(x, training=False)[name])
        grads = tape.gradient(total, model.trainable_variables)
        found[name] = {i for i, g in enumerate(grads) if g is not None and bool(tf.reduce_any(g != 0))}
    return found


def shared_variables(model: keras.Model) -> set[int]:
    """Indices of the trainable variables on which every output depends."""
    return set.intersection(*dependencies(model).values())


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def stack(n_in: int, depth: int, width: int) -> tuple[int, int]:
    """(parameters, output width) of ``dense_stack``."""
    params = sum(dense(n_in if i == 0 else width, width) for i in range(depth))
    return params, width if depth else n_in


def towers_and_heads(n_in: int, c: ModelConfig, n_tasks: int) -> int:
    tower, out = stack(n_in, c.tower_depth, c.tower_width)
    return n_tasks * tower + (1 if c.tie_outputs else n_tasks) * dense(out, 1)


def expected_params(c: ModelConfig, n_tasks: int) -> int:
    """Closed-form parameter count of a regression model over N_FEATURES inputs."""
    trunk, trunk_out = stack(N_FEATURES, c.shared_depth, c.shared_width)
    if c.strategy == "hard":
        return trunk + towers_and_heads(trunk_out, c, n_tasks)
    if c.strategy == "independent":
        return n_tasks * trunk + towers_and_heads(trunk_out, c, n_tasks)
    assert c.strategy == "mmoe"
    n_experts, depth, width = c.options["n_experts"], c.options["expert_depth"], c.options["expert_width"]
    experts = n_experts * stack(N_FEATURES, depth, width)[0]
    gates = n_tasks * dense(N_FEATURES, n_experts)
    return experts + gates + towers_and_heads(width, c, n_tasks)


def test_every_strategy_has_an_options_table() -> None:
    assert set(STRATEGY_OPTIONS) == set(STRATEGIES)
    assert STRATEGY_OPTIONS["hard"] == STRATEGY_OPTIONS["independent"] == {}
    assert STRATEGY_OPTIONS["mmoe"] == {"n_experts": (int, 4), "expert_depth": (int, 1), "expert_width": (int, 32)}
    for options in STRATEGY_OPTIONS.values():
        for kind, default in options.values():
            assert isinstance(default, kind)


@pytest.mark.parametrize(
    ("strategy", "n_tasks"),
    [("hard", 2), ("independent", 2), ("mmoe", 2), ("cgc", 2), ("ple", 2), ("cross_stitch", 2), ("mmoe", 3), ("cross_stitch", 3)],
)
def test_trains_saves_and_reloads_identically(strategy, n_tasks, tmp_path) -> None:
    splits = split(make_synthetic(n_samples=300, n_features=N_FEATURES, n_tasks=n_tasks), 0.2, 0.2, seed=0)
    result = train(small_config(strategy, dropout=0.1), splits, TrainConfig(epochs=2, batch_size=64))
    path = tmp_path / f"{strategy}.keras"
    result.model.save(path)
    reloaded = keras.models.load_model(path)
    original, again = result.model(splits.test.x), reloaded(splits.test.x)
    assert sorted(again) == [t.name for t in splits.tasks]
    for task in splits.tasks:
        np.testing.assert_array_equal(np.asarray(original[task.name]), np.asarray(again[task.name]))


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_tied_outputs_hold_one_head_kernel(strategy) -> None:
    for tied, kernels in ((True, 1), (False, 2)):
        model = build_model(small_config(strategy, tower_width=7, tie_outputs=tied), tasks_of(2), MEAN, VAR)
        head_kernels = [v for v in model.trainable_variables if tuple(v.shape) == (7, 1)]
        assert len(head_kernels) == kernels
        shared = {id(model.trainable_variables[i]) for i in shared_variables(model)}
        assert (id(head_kernels[0]) in shared) == tied


@pytest.mark.parametrize("tied", [False, True])
def test_independent_shares_nothing_but_a_tied_head(tied) -> None:
    model = build_model(small_config("independent", shared_depth=2, tie_outputs=tied), tasks_of(3), MEAN, VAR)
    shared = shared_variables(model)
    reached = dependencies(model)
    assert all(not (reached[a] & reached[b]) - shared for a in reached for b in reached if a != b)  # no pairwise sharing either
    assert sorted(tuple(model.trainable_variables[i].shape) for i in shared) == ([(1,), (3, 1)] if tied else [])


@pytest.mark.parametrize("shared_depth", [0, 1, 2])
def test_hard_shares_exactly_the_trunk(shared_depth) -> None:
    model = build_model(small_config("hard", shared_depth=shared_depth), tasks_of(2), MEAN, VAR)
    trunk = {id(v) for i in range(shared_depth) for v in model.get_layer(f"shared_{i}").trainable_variables}
    shared = {id(model.trainable_variables[i]) for i in shared_variables(model)}
    assert shared == trunk
    assert len(shared) == 2 * shared_depth


@pytest.mark.parametrize(
    ("strategy", "shared_layers"),
    [
        ("mmoe", ("expert_",)),
        ("cgc", ("level0_shared_expert_",)),
        # below the last level, task experts also feed the shared gate, hence the next level's shared experts
        ("ple", ("level0_expert_", "level0_shared_", "level1_shared_expert_")),
        ("cross_stitch", ("column_", "cross_stitch_")),
    ],
)
def test_soft_sharing_shares_exactly_the_mixed_parts(strategy, shared_layers) -> None:
    model = build_model(small_config(strategy), tasks_of(2), MEAN, VAR)
    expected = {id(v) for layer in model.layers if layer.name.startswith(shared_layers) for v in layer.trainable_variables}
    shared = {id(model.trainable_variables[i]) for i in shared_variables(model)}
    assert expected and shared == expected


@pytest.mark.parametrize("n_tasks", [2, 3])
def test_mmoe_gates_are_distributions(n_tasks) -> None:
    tasks = tasks_of(n_tasks)
    model = build_model(small_config("mmoe"), tasks, MEAN + 0.5, VAR * 2.0, seed=1)
    gates = keras.Model(model.inputs, [model.get_layer(f"gate_{t.name}").output for t in tasks])
    for gate in gates.predict(X, verbose=0):
        assert gate.shape == (len(X), SMALL_OPTIONS["mmoe"]["n_experts"])
        assert (gate >= 0).all()
        np.testing.assert_allclose(gate.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(("n_tasks", "self_weight"), [(2, 0.9), (3, 0.6)])
def test_cross_stitch_units_start_at_the_configured_mix(n_tasks, self_weight) -> None:
    options = {} if self_weight == 0.9 else {"cross_stitch_self": self_weight}
    model = build_model(small_config("cross_stitch", shared_depth=2, options=options), tasks_of(n_tasks), MEAN, VAR)
    off = (1.0 - self_weight) / (n_tasks - 1)
    expected = np.full((n_tasks, n_tasks), off) + np.eye(n_tasks) * (self_weight - off)
    for i in range(2):
        (mix,) = model.get_layer(f"cross_stitch_{i}").get_weights()
        np.testing.assert_allclose(mix, expected, rtol=1e-6)
    columns = n_tasks * (dense(N_FEATURES, 5) + dense(5, 5))
    assert model.count_params() == columns + 2 * n_tasks**2 + towers_and_heads(5, small_config("cross_stitch"), n_tasks)


@pytest.mark.parametrize(
    ("strategy", "sizes", "options", "n_tasks"),
    [
        ("hard", (0, 0, 1, 8, False), {}, 2),
        ("hard", (2, 16, 0, 0, True), {}, 3),
        ("hard", (3, 12, 2, 6, False), {}, 2),
        ("independent", (0, 0, 1, 8, True), {}, 2),
        ("independent", (2, 16, 2, 4, False), {}, 3),
        ("mmoe", (1, 8, 1, 4, False), {"n_experts": 4, "expert_depth": 1, "expert_width": 8}, 2),
        ("mmoe", (0, 0, 0, 0, True), {"n_experts": 2, "expert_depth": 3, "expert_width": 5}, 3),
        ("mmoe", (1, 8, 2, 3, False), {"n_experts": 1, "expert_depth": 2, "expert_width": 6}, 2),
    ],
)
def test_parameter_counts_match_closed_form(strategy, sizes, options, n_tasks) -> None:
    shared_depth, shared_width, tower_depth, tower_width, tied = sizes
    config = ModelConfig(strategy, shared_depth, shared_width, tower_depth, tower_width, tied, options=options)
    assert build_model(config, tasks_of(n_tasks), MEAN, VAR).count_params() == expected_params(config, n_tasks)


def test_expert_width_defaults_to_shared_width_then_32() -> None:
    for shared_width, width in ((12, 12), (0, 32)):
        model = build_model(ModelConfig("mmoe", shared_width=shared_width, tower_depth=0), tasks_of(2), MEAN, VAR)
        assert model.get_layer("expert_0_0").units == width
        assert len([layer for layer in model.layers if layer.name.startswith("expert_")]) == 4


def test_ple_stacks_levels_and_cgc_is_one_level() -> None:
    options = {"shared_experts": 2, "task_experts": 1, "expert_width": 4, "levels": 3}
    ple = build_model(small_config("ple", options=options), tasks_of(2), MEAN, VAR)
    cgc = build_model(small_config("cgc", options=options), tasks_of(2), MEAN, VAR)
    names = {layer.name for layer in ple.layers}
    assert {"level0_shared_gate", "level1_shared_gate", "level2_gate_task1"} <= names and "level2_shared_gate" not in names
    assert ple.get_layer("level0_shared_gate").units == 2 + 2 * 1  # the shared gate mixes every expert
    assert ple.get_layer("level0_gate_task1").units == 2 + 1  # a task gate mixes its own and the shared ones
    assert not any(layer.name.startswith(("level1", "level0_shared_gate")) for layer in cgc.layers)


@pytest.mark.parametrize(
    ("strategy", "options"),
    [
        ("mmoe", {"n_experts": 0}),
        ("mmoe", {"expert_width": 2.5}),
        ("ple", {"levels": 0}),
        ("cross_stitch", {"cross_stitch_self": 1.5}),
    ],
)
def test_bad_options_are_refused(strategy, options) -> None:
    with pytest.raises(ConfigError, match=next(iter(options))):
        build_model(small_config(strategy, options=options), tasks_of(2), MEAN, VAR)
