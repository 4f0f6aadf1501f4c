"""The hard-sharing builder: structure from sampled configs, tied heads, save and reload."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from mtl.errors import ConfigError
from mtl.models import ModelConfig, build_model
from mtl.tasks import Task

TASKS = (Task("alpha", "regression"), Task("beta", "regression"))
MEAN, VAR = np.zeros(5, "float32"), np.ones(5, "float32")


def dense_widths(model: keras.Model, prefix: str) -> list[int]:
    return [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense) and layer.name.startswith(prefix)]


@pytest.mark.parametrize(
    ("shared_depth", "shared_width", "tower_depth", "tower_width"),
    [(0, 0, 1, 8), (2, 16, 0, 0), (3, 12, 2, 6), (1, 4, 1, 4)],
)
def test_structure_follows_config(shared_depth, shared_width, tower_depth, tower_width) -> None:
    config = ModelConfig(shared_depth=shared_depth, shared_width=shared_width, tower_depth=tower_depth, tower_width=tower_width)
    model = build_model(config, TASKS, MEAN, VAR)
    assert model.output_names == ["alpha", "beta"]
    assert dense_widths(model, "shared_") == [shared_width] * shared_depth
    for task in ("alpha", "beta"):
        assert dense_widths(model, f"tower_{task}_") == [tower_width] * tower_depth
        assert dense_widths(model, f"head_{task}") == [1]
    # the first layer after the input standardisation is shared only when shared_depth > 0
    standardize = model.get_layer("standardize")
    consumers = {node.operation.name for node in standardize._outbound_nodes}
    towers = {f"tower_{t}_0" for t in ("alpha", "beta")}
    expected = {"shared_0"} if shared_depth else (towers if tower_depth else {"head_alpha", "head_beta"})
    assert consumers == expected


def test_tied_outputs_use_one_layer_instance_and_one_kernel() -> None:
    config = ModelConfig(shared_depth=1, shared_width=8, tower_depth=1, tower_width=4, tie_outputs=True)
    model = build_model(config, TASKS, MEAN, VAR)
    heads = [layer for layer in model.layers if layer.name.startswith("head")]
    assert [h.name for h in heads] == ["head_tied"]
    assert len(heads[0]._inbound_nodes) == 2
    assert model.output_names == ["alpha", "beta"]
    x = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
    before = model.predict(x, verbose=0)
    kernel, bias = heads[0].get_weights()
    heads[0].set_weights([kernel, bias + 1.0])
    after = model.predict(x, verbose=0)
    for task in ("alpha", "beta"):  # one kernel/bias pair moves both outputs
        np.testing.assert_allclose(after[task], before[task] + 1.0, rtol=1e-5, atol=1e-5)
    untied = build_model(replace(config, tie_outputs=False), TASKS, MEAN, VAR)
    assert model.count_params() == untied.count_params() - (4 + 1)  # one head of 4 weights + bias fewer


def test_tying_unlike_tasks_is_refused() -> None:
    tasks = (Task("r", "regression"), Task("c", "multiclass", 3))
    with pytest.raises(ConfigError, match="tie_outputs"):
        build_model(ModelConfig(tie_outputs=True), tasks, MEAN, VAR)


def test_saved_model_reloads_and_predicts_identically(tmp_path) -> None:
    tasks = (Task("r", "regression"), Task("b", "binary"), Task("m", "multiclass", 4))
    model = build_model(ModelConfig(shared_depth=2, shared_width=8, dropout=0.2), tasks, MEAN + 1.0, VAR * 4.0, seed=3)
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    x = np.random.default_rng(1).normal(size=(32, 5)).astype("float32")
    original, again = model.predict(x, verbose=0), reloaded.predict(x, verbose=0)
    for task in ("r", "b", "m"):
        np.testing.assert_array_equal(original[task], again[task])
    assert again["m"].shape == (32, 4)
    np.testing.assert_allclose(again["m"].sum(axis=1), 1.0, rtol=1e-5)


def test_seed_fixes_weight_initialisation() -> None:
    config = ModelConfig(shared_depth=1, shared_width=8)
    a, b = build_model(config, TASKS, MEAN, VAR, seed=5), build_model(config, TASKS, MEAN, VAR, seed=5)
    c = build_model(config, TASKS, MEAN, VAR, seed=6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_layer("shared_0").get_weights()[0], c.get_layer("shared_0").get_weights()[0])
