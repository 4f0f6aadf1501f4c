"""A comparison's champion carries its verdict: the first arm's tuning trial, its confirmed test objective and the
verdict's sentences, read back from the registry on SQLite and through an MLflow server; each log_models setting."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mlflow.tracking import MlflowClient

from search.compare import CONFIRM_KIND, conclude
from search.engines import crown_champion, open_sweep, tune_sweep
from search.space import load_space
from search.tracking import CHAMPION, RUN_ID_ATTR
from tests.conftest import mlflow_runs
from tests.helpers import space_toml
from tests.search.servers import mlflow_server

pytestmark = pytest.mark.slow

def arms_space(keep: str) -> str:
    """Two hard arms, wide and narrow (the reference), confirmed on two seeds; ``log_models = keep``."""
    return space_toml(study={"name": "champ", "trials": 2},
                      compare={"seeds": 2, "racing": False, "reference": "narrow",
                               "arms": {"wide": {"strategy": "hard", "shared_width": 16},
                                        "narrow": {"strategy": "hard", "shared_depth": 1, "shared_width": 4}}},
                      tracking={"log_models": keep})


@pytest.fixture(params=["sqlite", "server"])
def tracking(request, tmp_path, fresh_mlflow_db):
    """The SQLite default, or an MLflow server over its own SQLite file (each an empty store put in place)."""
    if request.param == "sqlite":
        yield fresh_mlflow_db(tmp_path / "mlflow.db")
    else:
        yield from mlflow_server(fresh_mlflow_db(tmp_path / "server.db"), tmp_path / "artifacts")


def test_the_champion_carries_the_verdict_and_moves_only_with_the_ranking(write_space, tmp_path, tracking) -> None:
    keep = "best" if tracking.startswith("sqlite") else "confirmations"
    space = load_space(write_space(arms_space(keep)))
    sweep = open_sweep(space, storage=f"sqlite:///{tmp_path / 'optuna.db'}", tracking_uri=tracking)
    tune_sweep(sweep, printer=lambda line: None)
    verdict = conclude(sweep, printer=lambda line: None, finish=False)
    lines: list[str] = []
    crown_champion(sweep, lines.append, verdict=verdict)

    client = MlflowClient(tracking)
    version = client.get_model_version_by_alias("champ", CHAMPION)
    best = next(s for s in verdict.standings if s.arm == verdict.best)
    arm = next(a for a in sweep.arms if a.name == verdict.best)
    trial = next(t for t in arm.study.trials if t.number == best.trial)
    assert version.run_id == trial.user_attrs[RUN_ID_ATTR]  # the arm's confirmed tuning trial
    tags = version.tags
    assert tags["arm"] == verdict.best and tags["strategy"] == "hard" and tags["held.strategy"] == "hard"
    assert tags["held.shared_width"] == ("16" if verdict.best == "wide" else "4")
    assert tags["trial"] == str(best.trial) and tags["reference_arm"] == "narrow" and tags["study"] == "champ"
    assert float(tags["test_objective_mean"]) == best.mean and float(tags["test_objective_sd"]) == best.std
    assert tags["test_objective_n"] == "2" and tags["test_objective_failed"] == "0"
    assert float(tags["val_objective"]) == pytest.approx(trial.user_attrs["objective"])
    assert version.description == "\n".join(verdict.sentences())
    assert any(line.startswith(f"champion: models:/champ@{CHAMPION} ") and verdict.best in line for line in lines)

    # Resumed with the same ranking: the alias stays; with another arm first, it moves to a new version.
    crown_champion(sweep, lines.append, verdict=verdict)
    assert client.get_model_version_by_alias("champ", CHAMPION).version == version.version
    assert "stays version" in lines[-1]
    other = replace(verdict, standings=tuple(reversed(verdict.standings)))
    crown_champion(sweep, lines.append, verdict=other)
    moved = client.get_model_version_by_alias("champ", CHAMPION)
    assert int(moved.version) == int(version.version) + 1 and moved.tags["arm"] == other.best != verdict.best

    # log_models: every arm's best trial keeps its model; confirmations only with "confirmations"; metrics for all.
    _, _, children = mlflow_runs(tracking, "champ")
    with_model = {r.info.run_id for r in children if r.outputs and r.outputs.model_outputs}
    for a in sweep.arms:
        best_trial = min((t for t in a.study.trials if t.value is not None), key=lambda t: t.value)
        assert best_trial.user_attrs[RUN_ID_ATTR] in with_model
    confirmations = {r.info.run_id for r in children if r.data.tags["kind"] == CONFIRM_KIND}
    assert len(confirmations) == 4 and (confirmations <= with_model if keep == "confirmations" else not confirmations & with_model)
    assert all("objective" in r.data.metrics and r.inputs.dataset_inputs for r in children)
