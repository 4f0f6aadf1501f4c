"""`python -m search ui`: the MLflow UI serves the sweep through its REST API and in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from benchmarks.faults import free_port
from search.engines import run_sweep
from search.space import load_space

pytestmark = pytest.mark.slow


def api(port: int, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def chromium_dom(url: str) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: .ci/run installs it from Debian's packages")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--virtual-time-budget=30000", "--dump-dom", url]
        return subprocess.run([browser, *flags], capture_output=True, text=True, timeout=120).stdout


@pytest.fixture
def ui_server(write_space, stores, tmp_path):
    """A 2-trial sweep, then `python -m search ui` on a free port; yields (port, sweep result)."""
    result = run_sweep(load_space(write_space()), trials=2, printer=lambda line: None, **stores)
    port = free_port()
    log = (tmp_path / "ui.log").open("w")  # a file, not a pipe: the servers' request logs must never fill a buffer and block them
    # SIGINT restored in the child: a shell running pytest in the background (nohup, a script's `&`) hands it down ignored
    process = subprocess.Popen([sys.executable, "-m", "search", "ui", "--port", str(port), "--tracking-uri", stores["tracking_uri"]],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=log, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []  # the address, printed once the server answers, then the study's pages
        while not lines or lines[-1] != "press Ctrl-C to stop":
            line = process.stdout.readline()
            assert line, "".join(lines) + (tmp_path / "ui.log").read_text()
            lines.append(line.strip())
        assert lines[0] == f"MLflow UI: http://127.0.0.1:{port}", lines
        yield port, result, lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=120) == 0  # a generous bound: the servers shut down their workers first
        finally:
            process.kill()
            log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the MLflow server went down with it
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            time.sleep(0.5)
        except OSError:
            return
    pytest.fail("the MLflow server outlived `search ui`")


def test_ui_serves_parent_and_nested_runs_over_rest_and_in_a_browser(ui_server) -> None:
    port, result, lines = ui_server
    experiment = api(port, "experiments/get-by-name?experiment_name=tiny")["experiment"]
    runs = api(port, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    parents = [r for r, t in zip(runs, tags) if "mlflow.parentRunId" not in t]
    children = [(r, t) for r, t in zip(runs, tags) if t.get("mlflow.parentRunId") == result.parent_run_id]
    assert len(parents) == 1 and parents[0]["info"]["run_id"] == result.parent_run_id
    assert len(children) == 2
    for run, run_tags in children:
        metrics = {m["key"] for m in run["data"]["metrics"]}
        assert {"val/task1/rmse", "val/task2/rmse", "test/task1/loss", "objective"} <= metrics
        assert run_tags["strategy"] == "hard" and run_tags["kind"] == "trial"

    experiment_id = experiment["experiment_id"]
    runs_url = f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    model_url = f"http://127.0.0.1:{port}/#/models/tiny?workflowType=machine_learning"
    assert lines[1:] == [f"runs of 'tiny': {runs_url}", f"champion of 'tiny': {model_url}", "press Ctrl-C to stop"]
    runs_page = chromium_dom(runs_url)
    assert "sweep-tiny" in runs_page  # the sweep's parent run is listed (children fold under it)
    # the model-training view (its side bar has the Model registry), not the GenAI overview
    assert "Model registry" in runs_page and "Overview" not in runs_page and "Training runs" not in runs_page
    model_page = chromium_dom(model_url)
    assert "Version 1" in model_page and "champion" in model_page
    child, child_tags = children[0]
    run_page = chromium_dom(f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs/{child['info']['run_id']}")
    assert f"trial-{int(child_tags['trial_number']):03d}" in run_page and "val/task1/rmse" in run_page
