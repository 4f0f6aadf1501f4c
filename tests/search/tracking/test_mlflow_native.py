"""MLflow-native results read back from a real store: Logged Models, datasets, the experiment kind, the champion."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

import mtl.models  # noqa: F401  (registers the custom layers a saved model uses)
from search.engines import run_sweep
from search.space import load_space
from search.tracking import CHAMPION, RUN_ID_ATTR, Tracker, download_model_files, promote
from search.trial import prepare_data
from tests.conftest import mlflow_runs
from tests.helpers import space_toml

pytestmark = pytest.mark.slow


def champion(client, name: str):
    return client.get_model_version_by_alias(name, CHAMPION)


def test_trials_log_models_datasets_and_the_best_becomes_champion_only_on_improvement(write_space, stores, tmp_path) -> None:
    space = load_space(write_space())
    first = run_sweep(space, trials=2, printer=lambda line: None, **stores)
    client, parents, children = mlflow_runs(stores["tracking_uri"], "tiny")
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"

    # Every trial: a READY Logged Model named "model" with a signature, output of its run; three datasets.
    digests = set()
    for run in children:
        [output] = run.outputs.model_outputs
        logged = client.get_logged_model(output.model_id)
        assert logged.name == "model" and logged.source_run_id == run.info.run_id and str(logged.status) == "READY"
        inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
        assert set(inputs) == {"synthetic-train", "synthetic-val", "synthetic-test"}
        contexts = {name: {t.key: t.value for t in i.tags}["mlflow.data.context"] for name, i in inputs.items()}
        assert contexts == {"synthetic-train": "training", "synthetic-val": "validation", "synthetic-test": "test"}
        digests.add(tuple(sorted((name, i.dataset.digest) for name, i in inputs.items())))
    assert len(digests) == 1  # the same rows, the same digests, for every trial

    model_uri = f"models:/{children[0].outputs.model_outputs[0].model_id}"
    local = str(download_model_files(client, model_uri, str(tmp_path / "m")))
    info = mlflow.models.Model.load(local)
    assert [c.name for c in info.signature.inputs.inputs] == [f"x{i}" for i in range(6)]
    assert [c.name for c in info.signature.outputs.inputs] == ["task1", "task2"]
    assert {"python_function", "keras"} <= set(info.flavors)
    with open(f"{local}/requirements.txt") as handle:
        pinned = handle.read()
    assert "keras==" in pinned and "mlflow==" in pinned

    # The pyfunc predicts raw rows as the Keras model does, and the keras flavor loads the Keras model.
    splits = prepare_data(space)
    rows = pd.DataFrame(splits.test.x, columns=splits.test.feature_names)
    predicted = mlflow.pyfunc.load_model(local).predict(rows)
    keras_model = mlflow.keras.load_model(local)
    expected = keras_model.predict(splits.test.x, verbose=0)
    np.testing.assert_allclose(predicted["task2"], expected["task2"][:, 0], rtol=1e-5, atol=1e-6)

    # The champion: the best trial, with its tags; the parent run carries the per-task summary.
    best = first.best
    version = champion(client, "tiny")
    assert version.run_id == best.user_attrs[RUN_ID_ATTR]
    assert version.source == f"models:/{client.get_run(version.run_id).outputs.model_outputs[0].model_id}"
    assert version.tags["trial"] == str(best.number) and float(version.tags["objective"]) == pytest.approx(best.value)
    assert version.tags["strategy"] == "hard"
    [parent] = parents
    metrics = client.get_run(parent.info.run_id).data.metrics
    assert metrics["best_objective"] == pytest.approx(best.value)
    assert metrics["best/test/task1/rmse"] == pytest.approx(best.user_attrs["test"]["task1"]["rmse"])

    # Resumed: the alias moves only if a better trial appears, and never to a worse one.
    second = run_sweep(space, trials=5, printer=lambda line: None, **stores)
    moved = champion(client, "tiny")
    if second.best.number == best.number:
        assert moved.version == version.version
    else:
        assert second.best.value < best.value and moved.run_id == second.best.user_attrs[RUN_ID_ATTR]
        assert int(moved.version) == int(version.version) + 1
    # A worse candidate leaves it where it is.
    worst = max((t for t in second.study.trials if t.value is not None), key=lambda t: t.value)
    tracker = Tracker(stores["tracking_uri"], "tiny")
    kept = promote(tracker, "tiny", worst.user_attrs[RUN_ID_ATTR], worst.value, True, {})
    assert not kept.moved and champion(client, "tiny").version == moved.version


def test_registration_can_be_switched_off_or_renamed(write_space, stores) -> None:
    text = space_toml(study={"registered_model": "tiny-best"})
    run_sweep(load_space(write_space(text, "named.toml")), trials=1, printer=lambda line: None, **stores)
    client = mlflow.MlflowClient(stores["tracking_uri"])
    assert champion(client, "tiny-best").tags["study"] == "tiny"
    off = space_toml(text, study={"registered_model": None, "register": False, "name": "quiet"})
    run_sweep(load_space(write_space(off, "off.toml")), trials=1, printer=lambda line: None, **stores)
    assert [m.name for m in client.search_registered_models()] == ["tiny-best"]
