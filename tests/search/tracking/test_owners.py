"""The ownership rule that ends orphaned runs: a run is orphaned only when its owner process is provably dead."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from search.tracking import HEARTBEAT_TAG, OWNER_TAG
from search.tracking._owners import orphaned, owner, process_token, shared_store


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now
    return child.pid


def test_a_run_is_orphaned_only_when_its_owner_is_provably_dead() -> None:
    host = socket.gethostname()
    assert orphaned({}) is None  # no owner (a parent run, or a run older than the tag): never touched
    assert orphaned({OWNER_TAG: owner()}) is None  # this process's own run
    parent = os.getppid()  # alive, on this host
    assert orphaned({OWNER_TAG: f"{host}:{parent}:{process_token(parent)}"}) is None
    dead = _dead_pid()
    assert orphaned({OWNER_TAG: f"{host}:{dead}:x"}) == f"its process {host}:{dead} is dead"
    reason = orphaned({OWNER_TAG: f"{host}:{parent}:another-start"})  # the pid was recycled by another process
    assert reason is not None and "another process" in reason
    elsewhere = {OWNER_TAG: "elsewhere.example:12:x"}
    assert orphaned(elsewhere) is None  # another host and no heartbeat: nothing proves it dead
    assert orphaned(elsewhere | {HEARTBEAT_TAG: "1000"}, now=1000 + 599, stale_after=600) is None
    assert orphaned(elsewhere | {HEARTBEAT_TAG: "1000"}, now=1000 + 601, stale_after=600) == \
        "its process elsewhere.example:12 sent no heartbeat for 601 s"


def test_only_stores_other_hosts_share_carry_heartbeats() -> None:
    assert not shared_store("sqlite:///mlruns/mlflow.db") and not shared_store("file:///tmp/mlruns")
    assert shared_store("http://127.0.0.1:5000") and shared_store("postgresql://u@db:5432/mlflow")
