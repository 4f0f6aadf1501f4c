"""A one-trial sweep on each built-in real data set (the synthetic one is swept throughout the other tests)."""

from __future__ import annotations

import math

import pytest

from search.engines import run_sweep
from search.space import load_space
from tests.conftest import mlflow_runs

pytestmark = pytest.mark.slow

SPACE = """
[study]
name = "{name}"
trials = 1
sampler = "random"

[data]
source = "{name}"
{extra}

[training]
epochs = 1

[search]
shared_depth = 1
shared_width = 8
tower_depth = 0
batch_size = 256
"""


@pytest.mark.parametrize(("name", "extra"), [("solar_flare", ""), ("yeast", ""), ("digits", 'stratify = "digit"')])
def test_one_trial_sweep_on_builtin(name: str, extra: str, write_space, stores) -> None:
    space = load_space(write_space(SPACE.format(name=name, extra=extra)))
    result = run_sweep(space, printer=lambda line: None, **stores)
    assert result.best is not None and math.isfinite(result.best.value)
    val = result.best.user_attrs["val"]
    assert all(math.isfinite(metrics["normalized_loss"]) for metrics in val.values())
    client, _, children = mlflow_runs(stores["tracking_uri"], name)
    [logged] = children[0].outputs.model_outputs
    assert client.get_logged_model(logged.model_id).name == "model"
