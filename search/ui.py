"""``python -m search ui``: the MLflow UI on the project's tracking store, optionally optuna-dashboard too.

Both are the libraries' own servers, started as child processes bound to 127.0.0.1 and stopped
together on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import quote

from search.errors import StorageError
from search.signals import raise_if_preempted

# MLflow 3's UI opens in GenAI mode unless the URL asks for model training (kept in the browser afterwards)
MODEL_TRAINING = "workflowType=machine_learning"


def study_links(tracking_uri: str, base: str, study: str | None = None) -> list[str]:
    """Lines naming, for each study in the store (or only ``study``), the page of its runs in the
    model-training view and, where it has a registry champion, the page of its registered model."""
    from search.tracking import study_pages

    lines = []
    for page in study_pages(tracking_uri, study):
        lines.append(f"runs of {page.name!r}: {base}/#/experiments/{page.experiment_id}/runs?{MODEL_TRAINING}")
        if page.champion is not None:
            lines.append(f"champion of {page.name!r}: {base}/#/models/{quote(page.champion)}?{MODEL_TRAINING}")
    return lines


def mlflow_command(tracking_uri: str, port: int, host: str) -> list[str]:
    """The ``mlflow server`` command line serving ``tracking_uri`` (a database store) on ``host:port``."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri,
            "--host", host, "--port", str(port), "--workers", "1"]


def server_env() -> dict[str, str]:
    """The environment of a served MLflow UI: MLflow's background job runner (GenAI scorers; four
    worker processes) is off unless ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION`` says otherwise."""
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")}


def dashboard_command(storage: str, port: int, host: str) -> list[str]:
    """The ``optuna-dashboard`` command line serving the Optuna ``storage`` on ``host:port``."""
    executable = shutil.which("optuna-dashboard") or "optuna-dashboard"
    return [executable, storage, "--host", host, "--port", str(port), "--quiet"]


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 90.0) -> None:
    """Poll ``url`` until it answers; raise :class:`StorageError` if the server exits or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StorageError(f"the server for {url} exited with code {process.returncode} (is the port free?)")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise StorageError(f"the server for {url} did not answer within {seconds:.0f} s")


def serve(tracking_uri: str, port: int, storage: str | None = None, dashboard_port: int | None = None,
          host: str = "127.0.0.1", printer: Callable[[str], None] = print, study: str | None = None) -> int:
    """Start the MLflow UI (and optuna-dashboard when ``storage`` is given), print their addresses and
    the pages of the studies (:func:`study_links`; only ``study``'s if given), wait for Ctrl-C."""
    # the servers' logs go to unread temporary files, never to pipes: a full pipe would block a server
    logs = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    processes = [subprocess.Popen(mlflow_command(tracking_uri, port, host), stdout=subprocess.DEVNULL, stderr=logs[0],
                                  env=server_env())]
    addresses = [("MLflow UI", f"http://{host}:{port}", f"http://{host}:{port}/health")]
    if storage is not None:
        board = dashboard_port or port + 1
        processes.append(subprocess.Popen(dashboard_command(storage, board, host), stdout=subprocess.DEVNULL, stderr=logs[1]))
        addresses.append(("optuna-dashboard", f"http://{host}:{board}", f"http://{host}:{board}/"))
    try:
        for process, (name, address, probe) in zip(processes, addresses):
            wait_until_up(probe, process)
            printer(f"{name}: {address}")
            if process is processes[0]:
                for line in study_links(tracking_uri, address, study):
                    printer(line)
        printer("press Ctrl-C to stop")
        while all(p.poll() is None for p in processes):
            raise_if_preempted()  # a Ctrl-C whose exception was lost in a finalizer (and kept quiet) still stops us
            time.sleep(1)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
