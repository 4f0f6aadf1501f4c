"""Baselines, then a sweep warm-started from them: runs read back from MLflow, weights, lineage, one-line errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient

from mtl.errors import MtlError
from mtl.models import ModelConfig, build_model
from mtl.warmstart import load_weights
from search.errors import SpaceError
from search.space import load_space
from search.tracking import RUN_ID_ATTR, download_model
from search.trial import prepare_data, resolve_init, warm_start
from tests.conftest import mlflow_runs
from tests.helpers import cli, run_in_process, space_toml

pytestmark = pytest.mark.slow

BASE = space_toml(search={"shared_depth": 1, "shared_width": 8, "tower_depth": 1, "tie_outputs": False}, training={"epochs": 2})


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def warm_space(folder: Path, ids: dict[str, str], name: str = "warm.toml", batch: int = 1, **search: object) -> Path:
    """A space named warm whose towers start from the runs ``ids`` (task -> run id), frozen, with ``search`` set, asking
    ``batch`` trials at a time."""
    path = folder / name
    path.write_text(space_toml(BASE, study={"name": "warm", "batch": batch}, search={"freeze": "towers", **search},
                               init={"towers": ids}))
    return path


@pytest.fixture(scope="module")
def baselines(tmp_path_factory, empty_mlflow_db) -> tuple[Path, str, dict[str, str]]:
    """`python -m search baselines` run once: (folder, tracking URI, task -> run id)."""
    folder = tmp_path_factory.mktemp("baselines")
    (folder / "base.toml").write_text(BASE)
    uri = f"sqlite:///{shutil.copyfile(empty_mlflow_db, folder / 'mlflow.db')}"  # an empty store, put in place
    done = cli("baselines", "--space", "base.toml", "--study", "warm", "--tracking-uri", uri, cwd=folder)
    assert done.returncode == 0, done.stderr
    ids = dict(line.split() for line in done.stdout.splitlines() if line.strip())
    return folder, uri, ids


def test_baselines_are_runs_with_metrics_and_models(baselines) -> None:
    folder, uri, ids = baselines
    assert sorted(ids) == ["task1", "task2"]
    client, top, nested = mlflow_runs(uri, "warm")
    assert not nested and {r.info.run_id for r in top} == set(ids.values())
    for run in top:
        task = run.data.tags["task"]
        assert ids[task] == run.info.run_id and run.data.tags["kind"] == "baseline" and run.data.tags["study"] == "warm"
        assert run.info.status == "FINISHED" and f"val/{task}/normalized_loss" in run.data.metrics
        assert all(key.split("/")[1] == task for key in run.data.metrics if key.startswith(("val/", "test/")))
        assert download_model(client, run.info.run_id, str(folder / "read" / run.info.run_id))[0].is_file()


def test_weights_loaded_from_baseline_runs_equal_the_sources(baselines) -> None:
    folder, uri, ids = baselines
    space = load_space(warm_space(folder, ids))
    splits = prepare_data(space)
    sources = resolve_init(space, splits, uri)
    assert sources.refs == {"init.tower.task1": ids["task1"], "init.tower.task2": ids["task2"]}
    x = splits.train.x
    for strategy in ("hard", "independent"):
        config = ModelConfig(strategy=strategy, shared_depth=1, shared_width=8, tower_depth=1, tower_width=8)
        target = build_model(config, splits.tasks, x.mean(axis=0), x.var(axis=0), seed=9)
        load_weights(target, warm_start(space, sources, "none"))
        for task, run_id in ids.items():
            path, _ = download_model(MlflowClient(uri), run_id, str(folder / strategy / task))
            source = keras.models.load_model(path)
            pairs = [(f"tower_{task}_0", f"tower_{task}_0"), (f"head_{task}", f"head_{task}")]
            pairs += [(f"trunk_{task}_0", "shared_0")] if strategy == "independent" else []
            for mine, theirs in pairs:
                for a, b in zip(target.get_layer(mine).get_weights(), source.get_layer(theirs).get_weights()):
                    assert np.array_equal(a, b)


def test_a_warm_started_sweep_tags_its_lineage_and_keeps_frozen_towers(baselines, monkeypatch, capsys) -> None:
    folder, uri, ids = baselines
    storage = f"sqlite:///{folder / 'optuna.db'}"
    monkeypatch.chdir(folder)  # the command, in this process; its report goes under folder
    space = warm_space(folder, ids, batch=2)  # asked together, the two trials train as one stack, both warm-started
    assert run_in_process("--space", str(space), "--trials", "2", "--storage", storage, "--tracking-uri", uri) == 0
    assert "alone" not in capsys.readouterr().out
    client, _, children = mlflow_runs(uri, "warm")
    assert len(children) == 2
    for child in children:
        assert child.data.tags["init.tower.task1"] == ids["task1"] and child.data.tags["init.tower.task2"] == ids["task2"]
        assert child.data.params["freeze"] == "towers" and child.data.tags["state"] == "COMPLETE"
        assert child.data.tags["stacked"] == "true"
    trial = optuna.load_study(study_name="warm", storage=storage).trials[0]
    model = keras.models.load_model(download_model(client, trial.user_attrs[RUN_ID_ATTR], str(folder / "t"))[0])
    source = keras.models.load_model(download_model(client, ids["task1"], str(folder / "s"))[0])
    frozen, trained = (layer.get_weights() for layer in (model.get_layer("tower_task1_0"), model.get_layer("head_task1")))
    assert all(np.array_equal(a, b) for a, b in zip(frozen, source.get_layer("tower_task1_0").get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(trained, source.get_layer("head_task1").get_weights()))
    report = (folder / "reports" / "warm" / "report.md").read_text()
    assert "| single-task | — | task1 | val |" in report  # the report's single-task reference rows


def test_a_shape_mismatch_and_an_unknown_run_each_exit_2_with_one_line(baselines) -> None:
    folder, uri, ids = baselines
    storage = f"sqlite:///{folder / 'bad.db'}"
    warm_space(folder, ids, "wide.toml", tower_width=16)
    line = one_line_error(cli("run", "--space", str(folder / "wide.toml"), "--storage", storage, "--tracking-uri", uri, cwd=folder))
    assert "wide.toml: init: strategy hard: layer tower_task1_0 (tower.task1.0) has weight shapes [(8, 16), (16,)]" in line
    assert f"the source {ids['task1']} has [(8, 8), (8,)]" in line

    ghost = warm_space(folder, {"task1": "f" * 32}, "ghost.toml")
    with pytest.raises(MtlError) as raised:  # in this process: the one-line wrapper was shown just above
        run_in_process("--space", str(ghost), "--storage", storage, "--tracking-uri", uri)
    line = str(raised.value)
    assert "ghost.toml: init.towers.task1: no MLflow run 'ffffffffffffffffffffffffffffffff'" in line
    assert optuna.get_all_study_names(storage) == []  # checked before any study was created


def test_a_keras_file_is_a_source_too(baselines) -> None:
    folder, uri, ids = baselines
    saved = str(folder / "trunk.keras")
    shutil.copy(download_model(MlflowClient(uri), ids["task2"], str(folder / "file"))[0], saved)
    path = folder / "file.toml"
    path.write_text(BASE + "[init]\ntrunk = 'trunk.keras'\n")  # relative to the space file
    space = load_space(path)
    sources = resolve_init(space, prepare_data(space), uri)
    assert sources.refs == {"init.trunk": saved} and not sources.towers
    assert np.array_equal(sources.trunk.weights["trunk.0"][0], keras.models.load_model(saved).get_layer("shared_0").get_weights()[0])
    path.write_text(BASE + "[init]\ntrunk = 'absent.keras'\n")
    with pytest.raises(SpaceError, match=r"file.toml: init.trunk: no such file .*absent.keras"):
        resolve_init(load_space(path), prepare_data(space), uri)
