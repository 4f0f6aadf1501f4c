"""A comparison SIGKILLed during a fused confirmation round: the rerun ends the runs the dead process left
RUNNING, confirms every seed once, and reaches the verdict of an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from mlflow.tracking import MlflowClient

from search.compare import CONFIRM_KIND, read_verdict_table
from search.tracking import Tracker
from tests.conftest import mlflow_runs
from tests.helpers import run_in_process, space_toml

pytestmark = pytest.mark.slow

SPACE = space_toml(study={"name": "orphans", "trials": 1},
                   compare={"seeds": 3, "reference": "hard",
                            "arms": {"hard": {"strategy": "hard"}, "independent": {"strategy": "independent"}}})


def _running_confirmations(client: MlflowClient, study: str) -> list[str]:
    experiment = client.get_experiment_by_name(study)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id],
                              f"tags.kind = '{CONFIRM_KIND}' and attributes.status = 'RUNNING'")
    return [r.info.run_id for r in runs]


def _verdict(tracking: str, study: str) -> list[dict[str, object]]:
    _, parents, _ = mlflow_runs(tracking, study)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    return read_verdict_table(Tracker(tracking, study), parents[0].info.run_id)


def test_a_comparison_killed_during_a_fused_confirmation_round_resumes_with_no_run_left_running(
        tmp_path, write_space, fresh_mlflow_db) -> None:
    space = str(write_space(SPACE))
    storage, tracking = f"sqlite:///{tmp_path / 'o.db'}", fresh_mlflow_db(tmp_path / "m.db")
    args = ["--space", space, "--storage", storage, "--tracking-uri", tracking, "--no-report"]
    client = MlflowClient(tracking)
    process = subprocess.Popen([sys.executable, "-m", "search", "run", *args], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not _running_confirmations(client, "orphans"):  # the first arm's fused round has started its runs
            assert process.poll() is None, f"the comparison ended before its confirmation was seen: {process.stderr.read()}"
            assert time.monotonic() < deadline, "no confirmation run started"
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)  # an OOM kill or a lost node: nothing runs on the way out
        process.wait(timeout=60)
    finally:
        process.kill()
    left = set(_running_confirmations(client, "orphans"))
    assert left, "the kill landed after the round: nothing was left running to test"

    assert run_in_process(*args) == 0  # the same command again

    _, _, children = mlflow_runs(tracking, "orphans")
    assert [r.info.run_name for r in children if r.info.status == "RUNNING"] == []
    killed = {r.info.run_id: r for r in children if r.info.status == "KILLED"}
    assert set(killed) == left
    assert all(r.data.tags["error"].startswith("orphaned: its process") and r.data.tags["state"] == "FAIL"
               for r in killed.values())
    finished = Counter((r.data.tags["arm"], r.data.tags["seed"]) for r in children
                       if r.data.tags["kind"] == CONFIRM_KIND and r.info.status == "FINISHED")
    assert finished == {(arm, str(3 + 20_000 + i)): 1 for arm in ("hard", "independent") for i in range(3)}

    assert run_in_process(*args, "--study", "straight") == 0  # the same space, never interrupted
    resumed, straight = _verdict(tracking, "orphans"), _verdict(tracking, "straight")
    assert [(r["arm"], r["target"], r["verdict"], r["n"]) for r in resumed] == \
        [(r["arm"], r["target"], r["verdict"], r["n"]) for r in straight]
    for a, b in zip(resumed, straight, strict=True):
        assert {k: v for k, v in a.items() if isinstance(v, float)} == pytest.approx(
            {k: v for k, v in b.items() if isinstance(v, float)}, rel=1e-4, abs=1e-6, nan_ok=True)
