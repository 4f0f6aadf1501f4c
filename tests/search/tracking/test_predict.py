"""`python -m search predict`: a logged trial model predicts raw table rows exactly as in memory."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mtl.errors import MtlError
from search.cli import build_parser, cmd_predict
from search.engines import run_sweep
from search.space import load_space
from search.tracking import RUN_ID_ATTR, download_model
from search.trial import prepare_data

pytestmark = pytest.mark.slow


def test_predict_writes_one_column_per_task_matching_the_model(write_space, stores, tmp_path) -> None:
    space = load_space(write_space())
    result = run_sweep(space, trials=1, printer=lambda line: None, **stores)
    run_id = result.best.user_attrs[RUN_ID_ATTR]
    splits = prepare_data(space)
    table = tmp_path / "rows.csv"
    pd.DataFrame(splits.test.x, columns=splits.test.feature_names).assign(extra="ignored").to_csv(table, index=False)

    done = subprocess.run([sys.executable, "-m", "search", "predict", "--run-id", run_id, "--input", str(table),
                           "--output", str(tmp_path / "p.csv"), "--tracking-uri", stores["tracking_uri"]],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(tmp_path / "p.csv")
    assert list(written.columns) == ["task1", "task2"] and len(written) == len(splits.test)
    model = keras.models.load_model(download_model(MlflowClient(stores["tracking_uri"]), run_id, str(tmp_path))[0])
    expected = model.predict(splits.test.x, verbose=0)
    np.testing.assert_allclose(written["task1"], expected["task1"][:, 0], rtol=1e-5, atol=1e-6)

    def predict(*args: str) -> int:  # the command in this process (the CLI's error wrapper is tested in test_cli)
        return cmd_predict(build_parser().parse_args(["predict", *args, "--tracking-uri", stores["tracking_uri"]]))

    # The registry champion (this one-trial sweep's only trial) predicts the same through its models:/ URI.
    assert predict("--model", "models:/tiny@champion", "--input", str(table), "--output", str(tmp_path / "c.csv")) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c.csv"), written)

    pd.DataFrame({"x0": [1.0]}).to_csv(tmp_path / "short.csv", index=False)
    for args, needle in (
        (("--run-id", "0" * 32, "--input", str(table)), "no MLflow run"),
        (("--model", "models:/nobody@champion", "--input", str(table)), "no model 'models:/nobody@champion'"),
        (("--model", run_id, "--input", str(table)), "expected a models:/ URI"),
        (("--run-id", run_id, "--input", str(tmp_path / "short.csv")), "needs column(s) 'x1'"),
    ):
        with pytest.raises(MtlError, match=needle.replace("(", r"\(").replace(")", r"\)")) as raised:
            predict(*args, "--output", str(tmp_path / "q.csv"))
        assert "\n" not in str(raised.value)
    assert not (tmp_path / "q.csv").exists()
