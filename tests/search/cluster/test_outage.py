"""A storage that goes away mid-sweep: a trial outlives a short cut, a long cut ends in one line, and a
storage that stays away ends the worker in one line.

Two workers share a study with a budget of one trial, each through its own cuttable link to
PostgreSQL: the one that takes the trial is cut off, the other waits for that trial and checks for
stale trials every second, which is when a live trial would be wrongly failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from mlflow.tracking import MlflowClient

from benchmarks.faults import Link
from tests.helpers import space_toml
from tests.search.servers import (
    GRACE_SECONDS,
    Output,
    create,
    parent_run,
    postgres_databases,
    tiny_study,
    trial_runs,
    wait_for_running_trial,
    wait_until,
    worker,
)

pytestmark = pytest.mark.slow
SPACE = space_toml(training={"epochs": 12, "patience": 12}, data={"options.n_samples": 1500}, search={"batch_size": 16})
HELD = space_toml(SPACE, training={"epochs": 60, "patience": 60})  # a trial: 12-30 s here
RETRIES = {"MTL_STORAGE_BACKOFF": "1", "MTL_STORAGE_RETRIES": "8"}


@pytest.fixture
def stores():
    """(Optuna storage URL, MLflow URL): two fresh PostgreSQL databases."""
    yield from postgres_databases(("optuna", "mlflow"))


@pytest.fixture
def links():
    """Two cuttable links to PostgreSQL."""
    made = [Link(5432), Link(5432)]
    yield made
    for link in made:
        link.cut()


def trial_owner_and_watcher(storage: str, tracking: str, links: list[Link], cwd) -> tuple[Output, Link, Output]:
    """Start two workers, each through its own link; once one runs trial 0 and the other waits for it:
    (the owner's output, the owner's link, the watcher's output)."""
    outputs = [Output(worker(link.url(storage), tracking, cwd, i, env=RETRIES)) for i, link in enumerate(links, 1)]
    trial = wait_for_running_trial(storage)
    owner = next(i for i, o in enumerate(outputs) if trial.user_attrs["worker"].endswith(f":{o.process.pid}"))
    watcher = outputs[1 - owner]
    watcher.wait_for("budget filled by 1 running trial(s) of other workers")  # now it checks for stale trials each second
    return outputs[owner], links[owner], watcher


def finished(output: Output) -> tuple[str, str]:
    """Wait for the worker: it must exit 0 without a traceback; (stdout, stderr)."""
    code, out, err = output.finish()
    assert code == 0, out + err
    assert "Traceback" not in err, err
    return out, err


def test_a_trial_outlives_a_storage_cut_shorter_than_the_grace_period(stores, links, write_space, tmp_path) -> None:
    storage, tracking = stores
    create(write_space(HELD), 1, storage, tracking)
    owner, link, watcher = trial_owner_and_watcher(storage, tracking, links, tmp_path)
    cut_at = datetime.now()
    link.cut()
    owner.wait_for("heartbeat: storage")  # the owner noticed: its heartbeat failed
    link.restore()
    cut_for = datetime.now() - cut_at
    owner.wait_for("heartbeat: storage reachable again")
    out, _ = finished(owner)
    finished(watcher)

    assert cut_for < timedelta(seconds=GRACE_SECONDS)
    trials = tiny_study(storage).trials
    held = trials[0]
    assert held.state.name == "COMPLETE"  # completed once, by its own worker
    assert held.datetime_complete - cut_at > timedelta(seconds=GRACE_SECONDS), "the trial ended too soon to show anything"
    assert [t.number for t in trials if t.state.name in ("COMPLETE", "PRUNED")] == [0]
    assert not [t for t in trials if "failed_trial" in t.system_attrs]  # nothing was failed as stale and retried
    assert all("already taken" in t.user_attrs.get("fail_reason", "") for t in trials if t.state.name == "FAIL")
    run = MlflowClient(tracking).get_run(held.user_attrs["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["state"] == "COMPLETE" and "error" not in run.data.tags
    assert not [r for r in trial_runs(tracking) if r.info.status == "RUNNING"]
    assert parent_run(tracking).info.status == "FINISHED"
    assert "was failed as stale" not in out


def test_a_trial_taken_over_during_a_long_cut_ends_in_one_line_and_its_worker_goes_on(stores, links, write_space,
                                                                                     tmp_path) -> None:
    storage, tracking = stores
    create(write_space(HELD), 1, storage, tracking)
    owner, link, watcher = trial_owner_and_watcher(storage, tracking, links, tmp_path)
    link.cut()
    study = tiny_study(storage)
    wait_until(lambda: study.trials[0].state.name == "FAIL", "the watcher to fail the cut-off trial as stale")
    wait_until(lambda: [t for t in study.trials if t.system_attrs.get("failed_trial") == 0 and t.state.name == "RUNNING"],
               "the watcher to run its retry")
    link.restore()
    out, _ = finished(owner)
    finished(watcher)

    assert len([line for line in out.splitlines() if "trial 0 was failed as stale by another worker" in line]) == 1
    trials = tiny_study(storage).trials
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retries) == 1 and retries[0].params == trials[0].params and retries[0].state.name == "COMPLETE"
    assert [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")] == retries
    lost = MlflowClient(tracking).get_run(trials[0].user_attrs["mlflow_run_id"])
    assert lost.info.status == "FAILED" and "no heartbeat" in lost.data.tags["error"]
    assert not [r for r in trial_runs(tracking) if r.info.status == "RUNNING"]
    assert parent_run(tracking).info.status == "FINISHED"


def test_a_worker_gives_up_in_one_line_when_the_storage_stays_away(stores, links, write_space, tmp_path) -> None:
    storage, tracking = stores
    link = links[0]
    create(write_space(SPACE), 3, storage, tracking)
    process = worker(link.url(storage), tracking, tmp_path, 1, env={"MTL_STORAGE_BACKOFF": "0.5", "MTL_STORAGE_RETRIES": "2"})
    wait_for_running_trial(storage, worker_pid=process.pid)
    link.cut()
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2, err
    assert "retry 2/2" in out
    assert err.strip().splitlines()[-1].startswith("error: storage ")
    assert "still unreachable after 2 retries" in err and "Traceback" not in err, err
