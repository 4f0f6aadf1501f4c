"""The notebook API end to end: a DataFrame in, the Optuna studies and MLflow runs read back against the result."""

from __future__ import annotations

import optuna
import pytest

import search
from search.compare import read_verdict_table
from search.engines import arm_study_name
from search.tracking import Tracker
from tests.conftest import MIXED_TASKS, mixed_frame, mlflow_runs


def _space(study: str, compare: bool = True) -> search.Space:
    doc: dict = {
        "study": {"name": study, "trials": 2, "sampler": "random", "seed": 1},
        "data": {"source": "in-memory", "tasks": MIXED_TASKS},
        "training": {"epochs": 3, "patience": 3},
        "search": {"shared_depth": 1, "shared_width": 8, "tower_depth": {"low": 0, "high": 1}, "tower_width": 4,
                   "learning_rate": 0.01, "batch_size": 32},
    }
    if compare:
        doc["compare"] = {"seeds": 2, "arms": {"independent": {"strategy": "independent"}, "hard": {"strategy": "hard"}}}
    return search.Space.from_dict(doc, "notebook")


def test_help_lists_the_public_api() -> None:
    assert {"Space", "run", "load", "task_affinity", "Result", "Verdict", "SpaceError", "StorageError", "DataError"} <= set(dir(search))
    assert search.run.__doc__ and search.Space.from_dict.__doc__


@pytest.mark.slow
def test_a_data_frame_comparison_through_the_api_matches_its_stores(stores, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the report goes to reports/<study>
    frame = mixed_frame(240)
    result = search.run(_space("nb"), data=frame, printer=lambda line: None, **stores)
    assert result.verdict is not None and result.verdict.reference == "independent"
    assert {c.arm for c in result.verdict.comparisons} == {"hard"}
    assert result.report is not None and result.report.is_file()
    trials = result.trials_dataframe()
    assert list(trials.columns[:1]) == ["arm"] and sorted(trials["arm"]) == ["hard", "hard", "independent", "independent"]
    for arm in ("independent", "hard"):
        study = optuna.load_study(study_name=arm_study_name("nb", arm), storage=stores["storage"])
        assert sum(t.state.name == "COMPLETE" for t in study.trials) == 2
    _, parents, children = mlflow_runs(stores["tracking_uri"], "nb")
    assert [p.info.run_id for p in parents] == [result.parent_run_id] and parents[0].info.status == "FINISHED"
    stored = read_verdict_table(Tracker(stores["tracking_uri"], "nb"), result.parent_run_id)
    assert [(r["arm"], r["target"], r["verdict"]) for r in stored] == \
        [(c.arm, c.target, c.word) for c in result.verdict.comparisons]
    best = result.best
    assert best is not None and result.best_run_id in {r.info.run_id for r in children}
    assert result.verdict.best is not None
    assert next(r for r in children if r.info.run_id == result.best_run_id).data.tags["arm"] == result.verdict.best
    assert len(result.load_model().outputs) == 3  # one per task
    again = search.load("nb", data=frame, **stores)
    assert again.verdict == result.verdict and again.best_run_id == result.best_run_id


@pytest.mark.slow
def test_a_plain_sweep_through_the_api(stores, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = search.run(_space("plain", compare=False), data=mixed_frame(200), report=False, printer=lambda line: None,
                        **stores)
    assert result.verdict is None and result.arms == () and result.report is None
    assert len(result.trials_dataframe()) == 2
    assert result.best is not None and result.best.number in (0, 1)
    assert result.best_run_id == result.best.user_attrs["mlflow_run_id"]
    assert len(result.load_model().outputs) == 3


def test_affinity_of_a_data_frame_through_the_api(stores) -> None:
    found = search.task_affinity(_space("aff", compare=False), data=mixed_frame(200), tracking_uri=stores["tracking_uri"],
                                 printer=lambda line: None)
    assert found.affinity.tasks == ("price", "churn", "segment") and found.affinity.matrix.shape == (3, 3)
    assert len(found.candidates) == len(found.scores)
    if found.proposal.separable:  # one candidate per number of groups, best support first
        assert len(found.candidates) == 3 and set(found.candidates) >= {"price+churn+segment", "price|churn|segment"}
    else:  # the pass cannot tell the groups apart on 200 rows: it offers only independent, then hard
        assert found.candidates == ["price|churn|segment", "price+churn+segment"]
    _, parents, _ = mlflow_runs(stores["tracking_uri"], "aff")
    assert [p.info.run_id for p in parents] == [found.run_id] and parents[0].data.tags["kind"] == "affinity"


def test_bad_input_raises_the_projects_errors_with_one_line(stores) -> None:
    with pytest.raises(search.SpaceError, match="notebook: compare.seeds"):
        search.Space.from_dict({**_space_doc(), "compare": {"seeds": 1, "arms": {"a": {}, "b": {}}}}, "notebook")
    with pytest.raises(search.DataError, match="target column 'price' not found") as error:
        search.run(_space("bad", compare=False), data=mixed_frame(50).drop(columns=["price"]), **stores)
    assert "\n" not in str(error.value)
    with pytest.raises(search.SpaceError, match="built-in data set"):
        search.run(search.Space.from_dict({"data": {"source": "synthetic"}}), data=mixed_frame(50), **stores)


def _space_doc() -> dict:
    return {"data": {"source": "in-memory", "tasks": MIXED_TASKS}}
