"""Through a real MLflow server: a sweep on a mixed table registers its champion, and `mlflow models serve`
answers raw rows exactly as `python -m search predict` does, JSON records of integers included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from benchmarks.faults import free_port
from search.engines import run_sweep
from search.space import load_space
from search.tracking import download_model_files, predict
from search.ui import wait_until_up
from tests.conftest import mixed_frame
from tests.helpers import MIXED_SPACE
from tests.search.servers import mlflow_server

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path, fresh_mlflow_db):
    yield from mlflow_server(fresh_mlflow_db(tmp_path / "server.db"), tmp_path / "artifacts")


def test_champion_through_a_server_is_served_and_matches_search_predict(tmp_path, server) -> None:
    mixed_frame().to_csv(tmp_path / "mixed.csv", index=False)
    (tmp_path / "mixed.toml").write_text(MIXED_SPACE)
    lines: list[str] = []
    run_sweep(load_space(tmp_path / "mixed.toml"), trials=2, storage=f"sqlite:///{tmp_path / 'optuna.db'}", tracking_uri=server,
              printer=lines.append)
    assert "champion: models:/mixed@champion is now version 1 (objective" in "\n".join(lines)

    client = MlflowClient(server)
    version = client.get_model_version_by_alias("mixed", "champion")
    run = client.get_run(version.run_id)
    model_id = run.outputs.model_outputs[0].model_id
    assert version.source == f"models:/{model_id}" and str(client.get_logged_model(model_id).status) == "READY"
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"mixed-train", "mixed-val", "mixed-test"}
    assert client.get_experiment_by_name("mixed").tags["mlflow.experimentKind"] == "custom_model_development"
    signature = Model.load(str(download_model_files(client, "models:/mixed@champion", str(tmp_path / "m")))).signature
    assert {c.name: c.to_dict()["type"] for c in signature.inputs.inputs} == dict.fromkeys(["size", "age", "color", "city"], "any")
    assert [c.name for c in signature.outputs.inputs] == ["price", "churn", "churn_probability", "segment"]

    rows = mixed_frame(9, seed=7).drop(columns=["price", "churn", "segment label"])
    rows.loc[0, "color"], rows.loc[1, "city"], rows.loc[2, "age"] = "purple", None, np.nan
    rows["age"] = rows["age"].round().astype("Int64")  # whole years: JSON integers (and a null) for a column trained on floats
    rows.to_csv(tmp_path / "rows.csv", index=False)
    expected = pd.read_csv(predict("models:/mixed@champion", server, tmp_path / "rows.csv", tmp_path / "p.csv"))

    port = free_port()
    log = (tmp_path / "serve.log").open("w")  # a file, not a pipe: the server's log must never fill a buffer and block it
    env = {**os.environ, "MLFLOW_TRACKING_URI": server,
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}  # mlflow starts uvicorn from PATH
    serving = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "--env-manager", "local", "-m",
                                "models:/mixed@champion", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
                               cwd=tmp_path, stdout=log, stderr=log, env=env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", serving, seconds=180)

        def invoke(body: dict) -> dict:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return dict(json.load(response))
            except urllib.error.HTTPError as error:
                return {"status": error.code, **json.load(error)}

        answer = pd.DataFrame(invoke({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})["predictions"])
        whole = rows["age"].notna().to_numpy()  # rows whose ages are all JSON integers: pandas parses an int64 column
        records = json.loads(rows[whole].to_json(orient="records"))
        assert isinstance(records[0]["age"], int) and not whole.all()
        by_records = pd.DataFrame(invoke({"dataframe_records": records})["predictions"])
        wrong = invoke({"dataframe_records": [{**records[0], "color": "purple", "age": "old"}]})
    finally:
        serving.terminate()
        try:
            serving.wait(timeout=30)
        finally:
            serving.kill()
            log.close()
    assert list(answer.columns) == ["price", "churn", "churn_probability", "segment"] and len(answer) == 9
    np.testing.assert_allclose(answer["price"], expected["price"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(answer["churn_probability"], expected["churn_probability"], rtol=1e-5, atol=1e-6)
    assert list(answer["churn"]) == list(expected["churn"]) and list(answer["segment"]) == list(expected["segment"])
    pd.testing.assert_frame_equal(by_records, answer[whole].reset_index(drop=True))
    # A column of the wrong kind: MLflow's server answers 400 with its own message; the model's one line ends the trace.
    assert wrong["status"] == 400 and "purple" not in json.dumps(wrong), wrong
    assert wrong["stack_trace"].strip().splitlines()[-1].endswith("column 'age' holds str values such as 'old', expected numbers "
                                                                  "(the training column was float64)"), wrong
