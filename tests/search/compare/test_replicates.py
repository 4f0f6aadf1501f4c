"""Replicates: every arm re-tuned on re-cut rows per replicate, and a verdict about the designs with the replicate as unit."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from search.compare import CONFIRM_KIND, ConfirmedArm, conclude, read_verdict_table
from search.compare._verdict import decide_designs
from search.engines import open_sweep, tune_sweep
from search.space import load_space
from tests.conftest import mlflow_runs
from tests.helpers import space_toml

SPACE = space_toml(study={"name": "reps", "trials": 1},
                   compare={"seeds": 3, "replicates": 3, "reference": "independent",
                            "arms": {"independent": {"strategy": "independent"}, "hard": {"strategy": "hard"}}})


@pytest.mark.slow
def test_a_comparison_with_three_replicates_runs_resumes_and_judges_the_designs(write_space, stores) -> None:
    space = load_space(write_space(SPACE))
    sweep = open_sweep(space, **stores)
    assert [(a.name, a.replicate) for a in sweep.arms] == [(arm, r) for r in range(3) for arm in ("independent", "hard")]
    assert len({a.study.study_name for a in sweep.arms}) == 6
    tests = [a.splits.test.x if a.splits else sweep.splits.test.x for a in sweep.arms[::2]]
    assert not np.array_equal(tests[0], tests[1]) and not np.array_equal(tests[1], tests[2])  # each replicate re-cuts the rows
    tune_sweep(sweep, printer=lambda line: None)
    verdict = conclude(sweep, printer=lambda line: None)
    assert verdict.replicates == 3 and [c.target for c in verdict.comparisons] == ["task1", "task2", "objective"]
    objective = verdict.comparisons[-1]
    assert objective.difference.n == 3 and len(objective.per_replicate) == 3
    assert all(own.n == 3 for own in objective.per_replicate)
    # the design-level difference is the mean of the replicates' own mean differences
    assert objective.difference.mean == pytest.approx(np.mean([own.mean for own in objective.per_replicate]))
    assert objective.components is not None and objective.components.seed > 0
    text = "\n".join(verdict.sentences())
    assert "scope: the designs, over 3 replicates" in text and "replicate sd" in text
    _, parents, children = mlflow_runs(stores["tracking_uri"], "reps")
    confirmations = [r for r in children if r.data.tags["kind"] == CONFIRM_KIND]
    assert len(confirmations) == 18 and {r.data.tags["replicate"] for r in confirmations} == {"0", "1", "2"}
    assert {r.data.tags["replicate"] for r in children if r.data.tags["kind"] == "trial"} == {"0", "1", "2"}
    assert len({r.data.tags["seed"] for r in confirmations}) == 9  # each replicate its own seeds
    rows = read_verdict_table(sweep.tracker, parents[0].info.run_id)
    design = next(r for r in rows if r["target"] == "objective" and r["replicate"] == "all")
    assert design["n"] == 3 and design["seed_sd"] == pytest.approx(objective.components.seed)
    assert sorted(r["replicate"] for r in rows if r["target"] == "objective") == ["0", "1", "2", "all"]
    champion = MlflowClient(stores["tracking_uri"]).get_model_version_by_alias("reps", "champion")
    assert champion.tags["replicates"] == "3" and champion.tags["replicate"] == "0" and champion.tags["arm"] == verdict.best
    again = conclude(open_sweep(space, **stores), printer=lambda line: None)  # a resume trains nothing new, judges the same
    assert again == verdict
    assert len([r for r in mlflow_runs(stores["tracking_uri"], "reps")[2] if r.data.tags["kind"] == CONFIRM_KIND]) == 18


def _replicated(rng: np.random.Generator, shifts: list[float], seeds: int = 8) -> tuple[ConfirmedArm, ...]:
    """Two arms per replicate; in replicate r the arm is worse than the reference by ``shifts[r]`` (plus seed noise)."""
    arms = []
    for r, shift in enumerate(shifts):
        base = rng.normal(1.0, 0.02, seeds)
        own = 100 * r + np.arange(seeds)
        for name, values in (("ref", base), ("arm", base + shift + rng.normal(0.0, 0.01, seeds))):
            scores = {int(s): {"t": float(v), "objective": float(v)} for s, v in zip(own, values)}
            arms.append(ConfirmedArm(name, 0, scores, {}, frozenset(), r))
    return tuple(arms)


def test_the_design_interval_covers_a_difference_that_varies_by_replicate_where_each_replicate_s_does_not() -> None:
    rng = np.random.default_rng(11)
    shifts = list(rng.normal(0.05, 0.04, 6))  # the design's true mean difference is 0.05; replicates scatter around it
    verdict = decide_designs(_replicated(rng, shifts), 8, "ref", ("t",), 0.05, True)
    objective = next(c for c in verdict.comparisons if c.target == "objective")
    own = objective.per_replicate
    # each replicate's seed-only interval is narrow and misses some other replicate's estimate
    assert all(any(not o.low <= other.mean <= o.high for other in own) for o in own)
    design = objective.difference
    assert design.low <= 0.05 <= design.high and design.n == 6
    assert design.high - design.low > max(o.high - o.low for o in own)  # wider: it carries the replicate variance
    assert objective.components.replicate_share > 0.8  # and says that most of the variance is the replicates'
