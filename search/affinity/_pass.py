"""The affinity pass of a space: one hard-shared training with TAG's lookahead measured (:mod:`mtl.affinity`).

Settings: ``hard`` with a trunk wide enough that the tasks need not compete for it (one layer of 64
units, towers of one layer of 32: the defaults, whatever the space searches; a narrow trunk would
measure who wins the trunk rather than who helps whom), dropout 0; the activation, learning rate and
batch size of the space's single-task baselines (``[baselines]``, else the space's fixed values, else
the defaults); the space's epochs and seed; a lookahead step of 0.1 (a plain gradient step on the
shared variables) every 5 training steps. The run
lives in the study's experiment, named ``affinity``, tagged ``kind=affinity``; it logs the matrix as
an MLflow table (``affinity.json``), the heatmap (``affinity.png``), the candidate partitions with
their scores (``affinity_partitions.json``, also the ``candidates`` tag) and the pass's seconds.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtl.affinity import Affinity, AffinitySettings, candidate_partitions, partition_score, task_affinity
from mtl.data import Splits
from mtl.errors import ConfigError
from mtl.partition import canonical
from search.affinity._plot import affinity_figure
from search.signals import raise_if_preempted, signals_deferred
from search.space import Space
from search.tracking import Tracker
from search.trial import baseline_config, baseline_settings

AFFINITY_KIND = "affinity"
CANDIDATES_ATTR = "affinity_candidates"  # the study's user attribute caching ``groups = "auto"``'s partitions
SCORES_ATTR = "affinity_scores"  # their scores, in the same order
PASS_SHAPE = {"shared_depth": 1, "shared_width": 64, "tower_depth": 1, "tower_width": 32}  # the pass's model, fixed
MATRIX_FILE, HEATMAP_FILE, PARTITIONS_FILE = "affinity.json", "affinity.png", "affinity_partitions.json"


@dataclass(frozen=True)
class AffinityRun:
    """A logged affinity pass: its matrix, the candidates (one per number of groups, canonical) and their scores,
    its MLflow run and that run's experiment."""

    affinity: Affinity
    candidates: list[str]
    scores: list[float]
    run_id: str
    experiment: str


def run_affinity(space: Space, splits: Splits, tracker: Tracker, study_name: str, parent_run_id: str | None = None,
                 printer: Callable[[str], None] = print) -> AffinityRun:
    """Run and log the pass for ``space`` on ``splits``; print what it found."""
    if len(splits.tasks) < 2:
        raise ConfigError(f"task affinity needs two or more tasks, the data has {len(splits.tasks)}")
    if parent_run_id is None:  # the `affinity` command; a sweep's opening ended the orphans already
        tracker.end_orphans(printer)
    settings = {**baseline_settings(space), **PASS_SHAPE, "dropout": 0.0}
    config = baseline_config(settings)
    options = AffinitySettings(epochs=space.training.epochs, learning_rate=settings["learning_rate"],
                               batch_size=settings["batch_size"])
    params = {"strategy": "hard", **{k: v for k, v in settings.items() if k != "dropout"}, **asdict(options),
              "seed": space.study.seed}
    run_id = tracker.start_trial(parent_run_id, "affinity", params, {"kind": AFFINITY_KIND, "study": study_name,
                                                                    "state": "RUNNING"})
    printer(f"affinity: one hard-shared training of {options.epochs} epochs, lookahead every {options.every} steps")
    try:
        with signals_deferred():  # a Ctrl-C or SIGTERM stops the pass between steps, never inside TensorFlow's C++
            affinity = task_affinity(config, splits, options, seed=space.study.seed, after_step=raise_if_preempted)
        partitions = candidate_partitions(affinity.matrix, affinity.tasks)
        candidates = [canonical(p) for p in partitions]
        scores = [partition_score(affinity.matrix, p, affinity.tasks) for p in partitions]
        _log(tracker, run_id, affinity, candidates, scores)
    except BaseException as exc:
        tracker.end_after(run_id, exc)
        raise
    tracker.end(run_id, "FINISHED", "COMPLETE")
    printer(format_affinity(affinity, candidates, scores))
    return AffinityRun(affinity, candidates, scores, run_id, study_name)


def _log(tracker: Tracker, run_id: str, affinity: Affinity, candidates: list[str], scores: list[float]) -> None:
    client = tracker.client
    frame = pd.DataFrame(affinity.matrix, columns=list(affinity.tasks))
    frame.insert(0, "task", list(affinity.tasks))
    client.log_table(run_id, frame, MATRIX_FILE)
    figure = affinity_figure(affinity.matrix, affinity.tasks)
    client.log_figure(run_id, figure, HEATMAP_FILE)
    figure.clf()
    client.log_dict(run_id, {"tasks": list(affinity.tasks), "matrix": affinity.matrix.tolist(),
                             "partitions": [{"groups": c, "score": s} for c, s in zip(candidates, scores)]},
                    PARTITIONS_FILE)
    tracker.log_metrics(run_id, {"affinity/seconds": affinity.seconds, "affinity/measurements": affinity.measurements,
                                 "affinity/steps": affinity.steps})
    tracker.set_tags(run_id, {"candidates": " ; ".join(candidates)})


def format_affinity(affinity: Affinity, candidates: list[str], scores: list[float]) -> str:
    """The matrix and the candidates as text: what ``python -m search affinity`` prints."""
    width = max(len(t) for t in affinity.tasks) + 2
    lines = ["affinity of the row task's step onto the column task's loss (median over "
             f"{affinity.measurements} measurements, {affinity.seconds:.1f} s):",
             " " * width + "".join(f"{t:>{width}}" for t in affinity.tasks)]
    for i, task in enumerate(affinity.tasks):
        lines.append(f"{task:<{width}}" + "".join(f"{affinity.matrix[i, j]:>{width}.4f}" for j in range(len(affinity.tasks))))
    lines.append("candidate partitions (best per number of groups; score = summed mean affinity within groups):")
    lines += [f"  {len(c.split('|'))} group(s): {c}  (score {s:.4f})" for c, s in zip(candidates, scores)]
    return "\n".join(lines)


@dataclass(frozen=True)
class StoredAffinity:
    """An affinity run read back from MLflow: its matrix and its candidate partitions with their scores."""

    run_id: str
    tasks: tuple[str, ...]
    matrix: np.ndarray
    partitions: tuple[tuple[str, float], ...]


def latest_affinity(tracker: Tracker) -> StoredAffinity | None:
    """The latest finished affinity run of the tracker's experiment (its ``affinity_partitions.json``), or None."""
    runs = tracker.client.search_runs(
        [tracker.experiment_id], filter_string=f"tags.kind = '{AFFINITY_KIND}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    run_id = runs[0].info.run_id
    with tempfile.TemporaryDirectory() as folder:
        stored = json.loads(Path(tracker.client.download_artifacts(run_id, PARTITIONS_FILE, folder)).read_text())
    return StoredAffinity(run_id, tuple(stored["tasks"]), np.array(stored["matrix"], dtype=float),
                          tuple((p["groups"], float(p["score"])) for p in stored["partitions"]))
