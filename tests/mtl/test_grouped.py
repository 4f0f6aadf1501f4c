"""The grouped strategy: sizes, names and roles against hard/independent, who feeds which trunk, bad partitions, train-save-reload."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl.errors import ConfigError
from mtl.models import STRATEGY_OPTIONS, USES_SHARED_STACK, ModelConfig, build_model
from mtl.models.roles import layer_roles
from mtl.tasks import Task
from mtl.warmstart import freeze

N_FEATURES = 4
MEAN, VAR = np.zeros(N_FEATURES, "float32"), np.ones(N_FEATURES, "float32")
X = np.random.default_rng(0).normal(size=(16, N_FEATURES)).astype("float32")
MIXED = "task1|task2+task3|task4+task5+task6"  # a singleton, a pair and a triple


def tasks_of(n: int) -> tuple[Task, ...]:
    return tuple(Task(f"task{i + 1}", "regression") for i in range(n))


def config(groups: object, **sizes: object) -> ModelConfig:
    base = {"shared_depth": 1, "shared_width": 5, "tower_depth": 1, "tower_width": 3, "activation": "tanh"}
    return ModelConfig(strategy="grouped", **{**base, **sizes}, options={} if groups is None else {"groups": groups})


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def stack(n_in: int, depth: int, width: int) -> tuple[int, int]:
    """(parameters, output width) of ``dense_stack``."""
    return sum(dense(n_in if i == 0 else width, width) for i in range(depth)), width if depth else n_in


def test_registered_with_a_groups_option_and_the_shared_stack() -> None:
    assert STRATEGY_OPTIONS["grouped"] == {"groups": (str, "")}
    assert "grouped" in USES_SHARED_STACK


@pytest.mark.parametrize(
    ("n_tasks", "groups", "n_groups", "sizes"),
    [
        (6, "task1+task2+task3+task4+task5+task6", 1, (2, 5, 1, 3, False)),
        (6, "task1|task2|task3|task4|task5|task6", 6, (1, 4, 2, 3, False)),
        (6, "task1+task2+task3|task4+task5+task6", 2, (2, 6, 1, 2, True)),
        (6, [["task6", "task4", "task5"], ["task2", "task3", "task1"]], 2, (1, 3, 0, 0, False)),
        (4, "task1|task2+task3|task4", 3, (3, 4, 1, 5, False)),
        (4, "task1|task2+task3|task4", 3, (0, 0, 1, 5, True)),
    ],
)
def test_parameter_counts_match_closed_form(n_tasks, groups, n_groups, sizes) -> None:
    shared_depth, shared_width, tower_depth, tower_width, tied = sizes
    model = build_model(
        config(groups, shared_depth=shared_depth, shared_width=shared_width, tower_depth=tower_depth,
               tower_width=tower_width, tie_outputs=tied),
        tasks_of(n_tasks), MEAN, VAR,
    )
    encoding = model.get_layer("standardize").count_params()  # the mean and variance are constants, not weights
    assert encoding == 0
    trunk, trunk_out = stack(N_FEATURES, shared_depth, shared_width)
    tower, tower_out = stack(trunk_out, tower_depth, tower_width)
    heads = (1 if tied else n_tasks) * dense(tower_out, 1)
    assert model.count_params() == encoding + n_groups * trunk + n_tasks * tower + heads


def structure(model: keras.Model) -> tuple[list[str], list[tuple[int, ...]], dict[str, str]]:
    """Layer names, trainable variable shapes in order, and role -> layer name."""
    return (
        [layer.name for layer in model.layers],
        [tuple(v.shape) for v in model.trainable_variables],
        {role: layer.name for role, layer in layer_roles(model).items()},
    )


@pytest.mark.parametrize(
    ("same_as", "groups"),
    [("hard", "task1+task2+task3+task4"), ("hard", [["task4", "task3", "task2", "task1"]]), ("independent", "task1|task2|task3|task4")],
)
def test_the_extreme_partitions_build_hard_and_independent(same_as, groups) -> None:
    sizes = {"shared_depth": 2, "shared_width": 5, "tower_depth": 1, "tower_width": 3, "dropout": 0.1}
    grouped = build_model(config(groups, **sizes), tasks_of(4), MEAN, VAR)
    reference = build_model(ModelConfig(strategy=same_as, **sizes), tasks_of(4), MEAN, VAR)
    assert structure(grouped) == structure(reference)
    trunk = {"trunk.0", "trunk.1"} if same_as == "hard" else {f"trunk.task{i}.{j}" for i in range(1, 5) for j in (0, 1)}
    assert {role for role in layer_roles(grouped) if role.startswith("trunk.")} == trunk


def test_group_trunks_are_named_by_their_canonical_group() -> None:
    for groups in (MIXED, [["task6", "task5", "task4"], ["task1"], ["task3", "task2"]]):
        model = build_model(config(groups, shared_depth=2), tasks_of(6), MEAN, VAR)
        trunks = {role: layer.name for role, layer in layer_roles(model).items() if role.startswith("trunk.")}
        assert trunks == {
            "trunk.task1.0": "trunk_task1_0",
            "trunk.task1.1": "trunk_task1_1",
            "trunk.task2+task3.0": "group_task2-task3_0",
            "trunk.task2+task3.1": "group_task2-task3_1",
            "trunk.task4+task5+task6.0": "group_task4-task5-task6_0",
            "trunk.task4+task5+task6.1": "group_task4-task5-task6_1",
        }
        frozen = {layer.name for layer in freeze(model, "trunk")}
        assert frozen == set(trunks.values())


@pytest.mark.parametrize("groups", [MIXED, "task1+task2+task3|task4+task5+task6"])
def test_each_trunk_gets_gradients_from_its_own_tasks_only(groups) -> None:
    model = build_model(config(groups, shared_depth=2), tasks_of(6), MEAN, VAR)
    trunks: dict[str, list[keras.layers.Layer]] = {}
    for role, layer in layer_roles(model).items():
        if role.startswith("trunk."):
            trunks.setdefault(role.split(".")[1], []).append(layer)
    assert sorted(trunks) == sorted(groups.split("|"))
    kernels = [(group, layer.kernel) for group, layers in trunks.items() for layer in layers]
    x = tf.constant(X)
    for task in model.output_names:
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(model(x, training=False)[task])
        grads = tape.gradient(total, [kernel for _, kernel in kernels])
        for (group, kernel), grad in zip(kernels, grads):
            reached = grad is not None and bool(tf.reduce_any(grad != 0))
            assert reached == (task in group.split("+")), (task, group, kernel.path)

@pytest.mark.parametrize(
    ("groups", "problem"),
    [
        (None, "options.groups is required"),
        ("", "options.groups is required"),
        ("task1+task2|task3", "leaves out task4"),
        ("task1+task5|task2|task3|task4", "unknown task 'task5'"),
        ("task1+task2|task2+task3|task4", "task 'task2' appears twice"),
        ([["task1", "task2"], [], ["task3", "task4"]], "every group needs one or more task names"),
        (3, "expected a partition"),
    ],
)
def test_bad_partitions_are_refused(groups, problem) -> None:
    with pytest.raises(ConfigError, match=f"^grouped: .*{problem}"):
        build_model(config(groups), tasks_of(4), MEAN, VAR)


def test_trains_saves_and_reloads_identically(tmp_path) -> None:
    tasks = tasks_of(6)
    model = build_model(config(MIXED, dropout=0.1), tasks, MEAN, VAR)
    model.compile(optimizer="adam", loss={t.name: "mse" for t in tasks})
    y = {t.name: np.random.default_rng(i).normal(size=(len(X), 1)).astype("float32") for i, t in enumerate(tasks)}
    history = model.fit(X, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert structure(reloaded) == structure(model)
    original, again = model.predict(X, verbose=0), reloaded.predict(X, verbose=0)
    for task in tasks:
        np.testing.assert_array_equal(original[task.name], again[task.name])
