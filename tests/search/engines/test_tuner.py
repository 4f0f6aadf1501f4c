"""The keras-tuner engine: real oracles and training, the MLflow store and the project directory read back."""

from __future__ import annotations

import json
import math

import keras_tuner
import pytest
from mlflow.tracking import MlflowClient

from mtl.errors import TrialFailed
from search.engines import run_sweep, run_tuner_sweep, tuner_space
from search.errors import SpaceError, StorageError
from search.space import Param, load_space, sample
from search.tracking import CHAMPION
from search.trial import prepare_data
from tests.conftest import mlflow_runs as _runs
from tests.helpers import space_toml

TWO_EPOCHS = space_toml(training={"epochs": 2})
# every kind of setting: choices (str, int, bool), int ranges (plain, stepped, log), float ranges
# (plain, stepped, log), and conditions two deep (strategy -> shared_depth -> shared_width)
SEARCHED = space_toml(TWO_EPOCHS, search={
    "tower_width": {"low": 4, "high": 8, "step": 2}, "shared_width": {"low": 4, "high": 16, "log": True},
    "learning_rate": {"low": 5e-3, "high": 2e-2, "log": True}, "batch_size": [32, 64], "strategy": ["hard", "mmoe"],
    "n_experts": {"low": 2, "high": 3}, "expert_width": 4, "dropout": {"low": 0.0, "high": 0.2, "step": 0.1},
}, compare={"arms": "none"})
CONDITIONS = {  # what search.space.sample asks for, restated
    "shared_depth": (("strategy", ("hard",)),),
    "shared_width": (("strategy", ("hard",)), ("shared_depth", (1, 2))),
    "n_experts": (("strategy", ("mmoe",)),),
    "tower_width": (("tower_depth", (1,)),),
}
KT_STATES = {"COMPLETED": "COMPLETE", "FAILED": "FAIL"}
quiet = {"printer": lambda line: None}


def _parsed(param: Param, text: str):
    """A logged parameter value read back with the setting's type."""
    if param.kind == "choice":
        return {str(c): c for c in param.choices}[text]
    return int(text) if param.kind == "int" else float(text)


def _respects(param: Param, value) -> bool:
    """``value`` is a value the setting allows: a choice, or within range and on its step."""
    if param.kind == "choice":
        return value in param.choices
    if not param.low <= value <= param.high:
        return False
    steps = (value - param.low) / (param.step or 1)
    return param.kind == "float" and param.step is None or math.isclose(steps, round(steps), abs_tol=1e-9)


def test_conditions_are_read_off_sample(write_space, tiny_splits) -> None:
    space = load_space(write_space(SEARCHED))
    searched = tuner_space(space, tiny_splits.tasks)
    assert searched.conditions == CONDITIONS
    assert set(searched.params) == {"strategy", "shared_depth", "shared_width", "n_experts", "tower_depth", "tower_width",
                                    "tie_outputs", "dropout", "learning_rate", "batch_size", "loss_weight.task1", "loss_weight.task2"}
    declared = {hp.name: hp for hp in searched.declare().space}
    assert isinstance(declared["tie_outputs"], keras_tuner.engine.hyperparameters.Boolean)
    assert (declared["shared_width"].sampling, declared["learning_rate"].sampling) == ("log", "log")
    assert (declared["tower_width"].step, declared["dropout"].step, declared["batch_size"].values) == (2, 0.1, [32, 64])

    # keras-tuner 1.4.8 can propose high + 1 for a log-scaled integer: the adapter keeps it in range, and says so
    hp = searched.declare()
    hp.values.update(shared_depth=1, shared_width=17)
    assert searched.suggest(hp)(searched.params["shared_width"]) == 16 == hp.values["shared_width"]

    # every proposal of a random oracle is exactly what sample() asks for, inside the space
    oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("objective", "min"), seed=1,
                                                    hyperparameters=searched.declare())
    for number in range(200):
        hp = oracle.get_space()
        hp.values = oracle.populate_space(str(number))["values"]
        drawn = sample(space, tiny_splits.tasks, searched.suggest(hp)).params
        assert {k for k in drawn if k in searched.params} == set(hp.values)
        assert all(_respects(searched.params[k], v) for k, v in hp.values.items())


def test_what_keras_tuner_cannot_search_is_refused_before_anything_runs(write_space, tmp_path) -> None:
    per_task = load_space(write_space(TWO_EPOCHS + "\n[objective]\nper_task = true\n"))
    database = tmp_path / "mlflow.db"  # not the stores fixture's, which puts an empty store in place
    with pytest.raises(SpaceError, match="objective.per_task"):
        run_tuner_sweep(per_task, tracking_uri=f"sqlite:///{database}", project_root=tmp_path / "kt", **quiet)
    assert not (tmp_path / "kt").exists() and not database.exists()


@pytest.mark.filterwarnings("ignore:The optimal value found")  # scikit-learn's Gaussian process on two points
@pytest.mark.parametrize("oracle", ["random", "bayesian", "hyperband"])
def test_a_sweep_with_each_oracle_logs_one_child_run_per_trial_inside_the_space(oracle, write_space, stores, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("search.engines._keras_tuner.STARTUP_TRIALS", 2)  # so Bayesian optimisation proposes the third trial
    text = space_toml(SEARCHED, training={"epochs": 3}) if oracle == "hyperband" else SEARCHED
    trials = 4 if oracle == "hyperband" else 3  # hyperband, 3 epochs: three 1-epoch trials, then the best for 3
    space = load_space(write_space(text))
    lines: list[str] = []
    result = run_tuner_sweep(space, tracking_uri=stores["tracking_uri"], trials=trials, oracle=oracle,
                             project_root=tmp_path / "kt", printer=lines.append)

    client, parents, children = _runs(stores["tracking_uri"], "tiny")
    assert len(parents) == 1 and parents[0].info.run_id == result.parent_run_id and parents[0].info.status == "FINISHED"
    assert (parents[0].data.tags["engine"], parents[0].data.tags["oracle"]) == ("keras-tuner", oracle)
    assert parents[0].data.tags["best_run_id"] == result.best_run_id
    assert parents[0].data.metrics["best_objective"] == pytest.approx(result.best.score)
    champion = client.get_model_version_by_alias("tiny", CHAMPION)  # the best trial's model, registered as by Optuna
    assert champion.run_id == result.best_run_id and champion.tags["trial"] == str(int(result.best.trial_id))
    assert any(line.startswith("champion: models:/tiny@champion") for line in lines)
    assert sorted(int(r.data.tags["trial_number"]) for r in children) == list(range(trials))
    assert sum(" COMPLETE " in line for line in lines) == trials
    kt_trials = result.tuner.oracle.trials
    run_ids = json.loads((tmp_path / "kt" / "tiny" / "sweep.json").read_text())["run_ids"]
    searched = tuner_space(space, prepare_data(space).tasks)
    for run in children:
        tags, params = run.data.tags, run.data.params
        assert tags["mlflow.parentRunId"] == result.parent_run_id and run.info.status == "FINISHED"
        assert (tags["engine"], tags["oracle"], tags["state"]) == ("keras-tuner", oracle, "COMPLETE")
        trial = kt_trials[next(i for i in kt_trials if int(i) == int(tags["trial_number"]))]
        assert run_ids[trial.trial_id] == run.info.run_id
        assert run.data.metrics["objective"] == pytest.approx(trial.score)
        # the values keras-tuner proposed, as trained and logged: inside the space, active exactly when sample asks
        proposed = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        logged = {k: _parsed(searched.params[k], v) for k, v in params.items() if k in searched.params}
        assert logged == proposed
        assert all(_respects(searched.params[k], v) for k, v in logged.items())
        assert ("shared_depth" in logged) == (logged["strategy"] == "hard")
        assert ("shared_width" in logged) == (logged.get("shared_depth", 0) > 0)
        assert ("n_experts" in logged) == (logged["strategy"] == "mmoe")
        assert ("tower_width" in logged) == (logged["tower_depth"] > 0)
        epochs = trial.hyperparameters.values.get("tuner/epochs", 2)
        assert params["epochs"] == str(epochs)
        assert 1 <= len(client.get_metric_history(run.info.run_id, "epoch/val/objective")) <= epochs
    if oracle == "hyperband":
        assert [kt_trials[i].hyperparameters.values["tuner/epochs"] for i in sorted(kt_trials)] == [1, 1, 1, 3]
        last = kt_trials[sorted(kt_trials)[-1]].hyperparameters.values
        continued = kt_trials[last["tuner/trial_id"]].hyperparameters.values
        assert {k: v for k, v in last.items() if not k.startswith("tuner/")} == \
               {k: v for k, v in continued.items() if not k.startswith("tuner/")}


CURVES = "learning_curves.png"


def test_child_runs_carry_the_same_names_as_the_optuna_engines(write_space, stores, tmp_path) -> None:
    space = load_space(write_space(TWO_EPOCHS))
    run_sweep(space, trials=2, **stores, **quiet)
    run_tuner_sweep(space, "tiny-kt", stores["tracking_uri"], trials=2, oracle="random", project_root=tmp_path / "kt", **quiet)
    client, _, optuna_runs = _runs(stores["tracking_uri"], "tiny")
    _, _, kt_runs = _runs(stores["tracking_uri"], "tiny-kt")
    conditional = {"shared_width", "tower_width"}

    def artifacts(run) -> set[str]:
        return {a.path for a in client.list_artifacts(run.info.run_id)}

    def names(run) -> tuple:
        return set(run.data.metrics), set(run.data.params) - conditional, set(run.data.tags) - {"oracle"}, artifacts(run) - {CURVES}

    expected = names(optuna_runs[0])
    assert all(names(run) == expected for run in optuna_runs + kt_runs)
    for runs in (optuna_runs, kt_runs):  # each engine draws learning curves once, for its best trial
        best = min(runs, key=lambda run: run.data.metrics["objective"])
        assert [run is best for run in runs] == [CURVES in artifacts(run) for run in runs]
    assert all("oracle" in run.data.tags and "oracle" not in optuna_runs[0].data.tags for run in kt_runs)


def test_a_rerun_resumes_the_project_and_the_parent_run_after_an_interruption(write_space, stores, tmp_path, monkeypatch) -> None:
    space = load_space(write_space(TWO_EPOCHS))
    sweep = {"tracking_uri": stores["tracking_uri"], "oracle": "random", "project_root": tmp_path / "kt", **quiet}

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("search.trial._run.train_alone", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_tuner_sweep(space, trials=2, **sweep)
    _, parents, children = _runs(stores["tracking_uri"], "tiny")
    assert parents[0].info.status == "KILLED" and children[0].info.status == "KILLED"
    monkeypatch.setattr("search.trial._run.train_alone", crash)  # an unexpected error ends the sweep, unwrapped
    with pytest.raises(RuntimeError, match="boom"):
        run_tuner_sweep(space, trials=2, **sweep)
    assert MlflowClient(stores["tracking_uri"]).get_run(parents[0].info.run_id).info.status == "FAILED"
    monkeypatch.undo()

    result = run_tuner_sweep(space, trials=2, **sweep)  # the two trials that failed are replaced
    assert result.parent_run_id == parents[0].info.run_id
    assert [KT_STATES[t.status] for _, t in sorted(result.tuner.oracle.trials.items())] == ["FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    assert sorted(p.name for p in (tmp_path / "kt" / "tiny").glob("trial_*")) == [f"trial_{i}" for i in range(4)]
    again = run_tuner_sweep(space, trials=2, **sweep)  # budget met: nothing runs
    assert len(again.tuner.oracle.trials) == 4 and again.parent_run_id == result.parent_run_id

    _, parents, children = _runs(stores["tracking_uri"], "tiny")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted((int(r.data.tags["trial_number"]), r.data.tags["state"]) for r in children) == \
           [(0, "FAIL"), (1, "FAIL"), (2, "COMPLETE"), (3, "COMPLETE")]
    assert "boom" in next(r for r in children if r.data.tags["trial_number"] == "1").data.tags["error"]
    with pytest.raises(StorageError, match="--oracle random"):
        run_tuner_sweep(space, trials=3, **{**sweep, "oracle": "bayesian"})
    changed = load_space(write_space(space_toml(TWO_EPOCHS, search={"tower_width": 12}), "changed.toml"))
    with pytest.raises(SpaceError, match="different space"):
        run_tuner_sweep(changed, "tiny", trials=3, **sweep)


def test_failing_trials_are_recorded_failed_replaced_and_five_in_a_row_stop(write_space, stores, tmp_path, monkeypatch) -> None:
    def diverge(*args, **kwargs):
        raise TrialFailed("training diverged: non-finite loss in epoch 0")

    monkeypatch.setattr("search.trial._run.train_alone", diverge)
    space = load_space(write_space(TWO_EPOCHS))
    lines: list[str] = []
    result = run_tuner_sweep(space, tracking_uri=stores["tracking_uri"], trials=2, oracle="random",
                             project_root=tmp_path / "kt", printer=lines.append)
    assert result.best is None and result.best_run_id is None
    assert [t.status for t in result.tuner.oracle.trials.values()] == ["FAILED"] * 5  # more than the budget: replaced
    assert sum("FAIL" in line and "diverged" in line for line in lines) == 5 and "stopping" in lines[-1]
    _, parents, children = _runs(stores["tracking_uri"], "tiny")
    assert parents[0].info.status == "FINISHED" and len(children) == 5
    for run in children:
        assert run.info.status == "FAILED" and run.data.tags["state"] == "FAIL" and run.data.tags["oracle"] == "random"
        assert "diverged" in run.data.tags["error"]
