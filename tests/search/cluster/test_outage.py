"""A storage that goes away mid-sweep: the worker retries with back-off, records nothing twice, or gives up in one line."""

from __future__ import annotations

import time

import optuna
import pytest

from tests.conftest import TINY_SPACE
from tests.search.servers import Link, create, postgres_databases, trial_runs, wait_for_running_trial, worker

pytestmark = pytest.mark.slow
SPACE = (TINY_SPACE.replace("epochs = 3", "epochs = 12").replace("patience = 2", "patience = 12")
         .replace("n_samples = 400", "n_samples = 1500").replace("batch_size = 64", "batch_size = 16"))


@pytest.fixture
def linked():
    """(Optuna storage URL through a cuttable link, the same database directly, the link, MLflow URL)."""
    for storage, tracking in postgres_databases(("optuna", "mlflow")):
        link = Link(5432)
        try:
            yield storage.replace(":5432/", f":{link.port}/"), storage, link, tracking
        finally:
            link.cut()


def test_a_worker_rides_out_a_storage_outage_without_recording_a_trial_twice(linked, write_space, tmp_path) -> None:
    via_link, direct, link, tracking = linked
    create(write_space(SPACE), 3, direct, tracking, tmp_path)
    process = worker(via_link, tracking, tmp_path, 1, env={"MTL_STORAGE_BACKOFF": "1", "MTL_STORAGE_RETRIES": "8"})
    cut_off = wait_for_running_trial(direct, worker_pid=process.pid)
    link.cut()
    time.sleep(6)
    link.restore()
    out, err = process.communicate(timeout=400)
    assert process.returncode == 0, err
    assert "unreachable" in out and "retry 1/8" in out
    assert "Traceback" not in err, err
    trials = optuna.load_study(study_name="tiny", storage=direct).trials
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == 3 and not [t for t in trials if t.state.name == "RUNNING"]
    assert trials[cut_off.number].state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == cut_off.number]
    assert len(retries) == 1 and retries[0].params == cut_off.params
    runs = trial_runs(tracking)
    assert sorted(int(r.data.tags["trial_number"]) for r in runs if r.data.tags["state"] in ("COMPLETE", "PRUNED")) \
        == sorted(t.number for t in counted)  # the cut-off trial's run is not counted in MLflow either
    assert not [r for r in runs if r.info.status == "RUNNING"]


def test_a_worker_gives_up_in_one_line_when_the_storage_stays_away(linked, write_space, tmp_path) -> None:
    via_link, direct, link, tracking = linked
    create(write_space(SPACE), 3, direct, tracking, tmp_path)
    process = worker(via_link, tracking, tmp_path, 1, env={"MTL_STORAGE_BACKOFF": "0.5", "MTL_STORAGE_RETRIES": "2"})
    wait_for_running_trial(direct, worker_pid=process.pid)
    link.cut()
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2, err
    assert "retry 2/2" in out
    assert err.strip().splitlines()[-1].startswith("error: storage ")
    assert "still unreachable after 2 retries" in err and "Traceback" not in err, err
