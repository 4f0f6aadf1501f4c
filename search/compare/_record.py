"""The verdict in MLflow: the parent run holds the table, one metric per arm and the sentences.

On the sweep's parent run: the table ``verdict.json`` (one row per arm x target; logged with
MLflow's ``log_table``, so ``mlflow.load_table`` reads it, and later replaced whole in the same
format with full precision, since ``log_table`` would append to the earlier verdict and keeps 10 decimals),
metrics ``arm/<arm>/test_objective``
(mean over the confirmation seeds) and ``arm/<arm>/test_objective_std``, tags ``reference_arm``, ``best_arm``,
``dropped_arms`` (those the race stopped early, comma-separated) and ``verdict`` (the sentences), and
the sentences as the run's description (``mlflow.note.content``), so the runs
view and the run page open on the answer.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from search.compare._verdict import Verdict
from search.tracking import NOTE_TAG, Tracker

VERDICT_TABLE = "verdict.json"
MAX_TAG = 5000


def record_verdict(tracker: Tracker, parent: str, verdict: Verdict) -> None:
    """Write ``verdict`` to the parent run (replacing an earlier one)."""
    table = pd.DataFrame(verdict.table())
    if not any(f.path == VERDICT_TABLE for f in tracker.list_artifacts(parent)):
        tracker.log_table(parent, table, VERDICT_TABLE)  # registers it as a table for mlflow.load_table
    # replace it (log_table would append) in the same format with every digit: log_table keeps 10 decimals, so p = 1e-12 read 0
    tracker.log_text(parent, table.to_json(orient="split", index=False, double_precision=15), VERDICT_TABLE)
    metrics = {}
    for s in verdict.standings:
        if s.n:
            metrics[f"arm/{s.arm}/test_objective"] = s.mean
            if not math.isnan(s.std):
                metrics[f"arm/{s.arm}/test_objective_std"] = s.std
    tracker.log_metrics(parent, metrics)
    text = "\n".join(verdict.sentences())
    tracker.set_tags(parent, {"reference_arm": verdict.reference, "best_arm": verdict.best or "", "verdict": text[:MAX_TAG],
                              "dropped_arms": ",".join(d.arm for d in verdict.dropped),
                              NOTE_TAG: "**Verdict**\n\n" + "\n".join(f"- {line}" for line in verdict.sentences())})


def read_verdict_table(tracker: Tracker, parent: str) -> list[dict[str, Any]]:
    """The verdict rows stored on the parent run (empty when it holds none)."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = Path(tracker.download_artifacts(parent, VERDICT_TABLE, folder))
        except Exception:  # no verdict logged yet
            return []
        doc = json.loads(path.read_text())
    return [dict(zip(doc["columns"], row, strict=True)) for row in doc["data"]]
