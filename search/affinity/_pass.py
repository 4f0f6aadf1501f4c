"""The affinity pass of a space: one hard-shared training with TAG's lookahead measured (:mod:`mtl.affinity`).

Settings: ``hard`` with a trunk wide enough that the tasks need not compete for it (one layer of 64
units, towers of one layer of 32: the defaults, whatever the space searches; a narrow trunk would
measure who wins the trunk rather than who helps whom), dropout 0; the activation, learning rate and
batch size of the space's single-task baselines (``[baselines]``, else the space's fixed values, else
the defaults); the space's epochs and seed; a lookahead step of 0.1 (a plain gradient step on the
shared variables) every 5 training steps. The run
lives in the study's experiment, named ``affinity``, tagged ``kind=affinity``; it logs the matrix as
an MLflow table (``affinity.json``), each cell's bootstrap spread as another (``affinity_spread.json``),
the heatmap (``affinity.png``), the candidate partitions with their scores, spreads and support,
ranked by the support (``affinity_partitions.json``, also the ``candidates`` tag), whether the groups
could be told apart (tag ``separable``; metrics ``affinity/separated`` and ``affinity/separation``,
:mod:`mtl.affinity.uncertainty`) and the pass's seconds.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtl.affinity import CANNOT_TELL, Affinity, AffinitySettings, Proposal, propose, task_affinity
from mtl.data import Splits
from mtl.errors import ConfigError
from mtl.partition import canonical
from search.affinity._plot import affinity_figure
from search.progress import step_bar
from search.signals import raise_if_preempted, signals_deferred
from search.space import Space
from search.tracking import Tracker
from search.trial import baseline_config, baseline_settings

AFFINITY_KIND = "affinity"
CANDIDATES_ATTR = "affinity_candidates"  # the study's user attribute caching ``groups = "auto"``'s partitions
SCORES_ATTR = "affinity_scores"  # their ranking keys (rank T - i for the i-th), in the same order
PASS_SHAPE = {"shared_depth": 1, "shared_width": 64, "tower_depth": 1, "tower_width": 32}  # the pass's model, fixed
MATRIX_FILE, HEATMAP_FILE, PARTITIONS_FILE = "affinity.json", "affinity.png", "affinity_partitions.json"
SPREAD_FILE = "affinity_spread.json"


@dataclass(frozen=True)
class AffinityRun:
    """A logged affinity pass: its matrix, the candidates (canonical, best support first: one per number of
    groups, or only the all-singletons and one-group partitions where the groups cannot be told apart), their
    ranking keys (T - i for the i-th: higher is better, as the study stores them), the whole
    :class:`~mtl.affinity.Proposal`, its MLflow run and that run's experiment."""

    affinity: Affinity
    candidates: list[str]
    scores: list[float]
    run_id: str
    experiment: str
    proposal: Proposal


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
        steps = -(-len(splits.train) // options.batch_size) * options.epochs
        with signals_deferred(), step_bar("affinity pass", steps) as advance:  # a Ctrl-C or SIGTERM stops it between steps

            def after_step() -> None:
                raise_if_preempted()
                advance()

            affinity = task_affinity(config, splits, options, seed=space.study.seed, after_step=after_step)
        proposal = propose(affinity.samples, affinity.matrix, affinity.tasks, seed=space.study.seed)
        candidates = [canonical(p) for p in proposal.candidates]
        _log(tracker, run_id, affinity, proposal, candidates)
    except BaseException as exc:
        tracker.end_after(run_id, exc)
        raise
    tracker.end(run_id, "FINISHED", "COMPLETE")
    printer(format_affinity(affinity, proposal))
    return AffinityRun(affinity, candidates, [float(len(candidates) - i) for i in range(len(candidates))], run_id,
                       study_name, proposal)


def _log(tracker: Tracker, run_id: str, affinity: Affinity, proposal: Proposal, candidates: list[str]) -> None:
    for values, name in ((affinity.matrix, MATRIX_FILE), (proposal.spread, SPREAD_FILE)):
        frame = pd.DataFrame(values, columns=list(affinity.tasks))
        frame.insert(0, "task", list(affinity.tasks))
        tracker.log_table(run_id, frame, name)
    figure = affinity_figure(affinity.matrix, affinity.tasks, proposal.spread)
    tracker.log_figure(run_id, figure, HEATMAP_FILE)
    figure.clf()
    tracker.log_dict(run_id, {
        "tasks": list(affinity.tasks), "matrix": affinity.matrix.tolist(), "spread": _listed(proposal.spread),
        "separable": proposal.separable, "separated": proposal.separated, "separation": _finite(proposal.separation),
        "partitions": [{"groups": c, "score": s, "spread": _finite(d), "support": _finite(b)}
                       for c, s, d, b in zip(candidates, proposal.scores, proposal.spreads, proposal.support)]},
        PARTITIONS_FILE)
    metrics = {"affinity/seconds": affinity.seconds, "affinity/measurements": affinity.measurements,
               "affinity/steps": affinity.steps, "affinity/separated": proposal.separated}
    if np.isfinite(proposal.separation):
        metrics["affinity/separation"] = proposal.separation
    spread = proposal.spread[~np.eye(len(affinity.tasks), dtype=bool)]
    if np.isfinite(spread).any():
        metrics["affinity/median_spread"] = float(np.nanmedian(spread))
    tracker.log_metrics(run_id, metrics)
    tracker.set_tags(run_id, {"candidates": " ; ".join(candidates), "separable": str(proposal.separable).lower()})


def _finite(value: float) -> float | None:
    """``value``, or None (JSON null) where it is NaN."""
    return float(value) if np.isfinite(value) else None


def _listed(matrix: np.ndarray) -> list[list[float | None]]:
    """``matrix`` as nested lists, NaN as None."""
    return [[_finite(v) for v in row] for row in matrix]


def format_affinity(affinity: Affinity, proposal: Proposal) -> str:
    """The matrix with each cell's bootstrap spread and the ranked candidates as text: what ``python -m search
    affinity`` prints."""
    width = max(max(len(t) for t in affinity.tasks) + 2, 19)  # a cell is up to 17 characters ("-0.0022 +- 0.0011")
    lines = ["affinity of the row task's step onto the column task's loss (median over "
             f"{affinity.measurements} measurements, {affinity.seconds:.1f} s; +- its bootstrap spread over the "
             "measured steps):",
             " " * width + "".join(f"{t:>{width}}" for t in affinity.tasks)]
    for i, task in enumerate(affinity.tasks):
        cells = [f"{affinity.matrix[i, j]:.4f} +- {proposal.spread[i, j]:.4f}" for j in range(len(affinity.tasks))]
        lines.append(f"{task:<{width}}" + "".join(f"{c:>{width}}" for c in cells))
    told = (f"within-group minus across-group affinity {proposal.separation:+.4f} (median out of bag), "
            f"positive in {proposal.separated:.0%} of the bootstrap resamples")
    if not proposal.separable:
        lines.append(f"{CANNOT_TELL} ({told}; 95% needed): only the one-group and all-singletons partitions are offered")
    elif np.isfinite(proposal.separation):
        lines.append(f"the groups are told apart: {told}")
    lines.append("candidate partitions, best first (score = summed mean affinity within groups +- its bootstrap spread; "
                 "support = share of resamples where it scores highest of these):")
    lines += [f"  {len(p)} group(s): {canonical(p)}  (score {s:.4f} +- {d:.4f}, support {b:.0%})"
              for p, s, d, b in zip(proposal.candidates, proposal.scores, proposal.spreads, proposal.support)]
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
    runs = tracker.search_runs(
        [tracker.experiment_id], filter_string=f"tags.kind = '{AFFINITY_KIND}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    run_id = runs[0].info.run_id
    with tempfile.TemporaryDirectory() as folder:
        stored = json.loads(Path(tracker.download_artifacts(run_id, PARTITIONS_FILE, folder)).read_text())
    return StoredAffinity(run_id, tuple(stored["tasks"]), np.array(stored["matrix"], dtype=float),
                          tuple((p["groups"], float(p["score"])) for p in stored["partitions"]))
