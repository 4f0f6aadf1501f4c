"""The verdict as one sequential design: error rates by simulation of the shipped race and verdict, and the edge cases."""

from __future__ import annotations

import math
import shutil
import sys

import numpy as np
import pytest
from scipy import stats

from search.compare import (
    NO_DIFFERENCE,
    ConfirmedArm,
    any_claim,
    decide,
    look_levels,
    race_looks,
    read_verdict_table,
    record_verdict,
    simulated_arms,
)
from search.compare._confirm import _scores
from search.space import parse_space
from search.tracking import Tracker
from search.trial import prepare_data
from tests.conftest import TINY_SPACE

SEEDS = tuple(range(100, 110))  # K = 10, as the default space
LOOKS = race_looks(len(SEEDS), fuse=True)  # the default fused race: one look, after 5
TASKS = ("task1", "task2")


def _decide(arms: tuple[ConfirmedArm, ...]):
    return decide(arms, SEEDS, "arm0", TASKS, 0.05, True, LOOKS)


@pytest.mark.parametrize("count", [3, 4, 6])
def test_under_the_global_null_any_drop_or_verdict_stays_within_alpha(count: int) -> None:
    rng = np.random.default_rng(count)
    repetitions = 400  # benchmarks/racing.py runs 10,000 (README); here a check that the shipped rule holds
    errors = sum(any_claim(_decide(simulated_arms(rng, count, SEEDS, TASKS))) for _ in range(repetitions))
    interval = stats.binomtest(errors, repetitions).proportion_ci(0.95)
    assert interval.low <= 0.05, (errors, interval)  # at most alpha, within the simulation's own interval


def test_a_planted_worse_arm_is_dropped_and_a_better_arm_found() -> None:
    rng = np.random.default_rng(7)
    dropped = better = 0
    for _ in range(100):
        verdict = _decide(simulated_arms(rng, 4, SEEDS, TASKS, {2: 3.0, 3: -1.5}))  # arm2 much worse, arm3 better by 1.5 sd
        dropped += any(d.arm == "arm2" for d in verdict.dropped)
        better += any(c.arm == "arm3" and c.target == "objective" and c.word == "better" for c in verdict.comparisons)
    assert dropped >= 75 and better >= 70, (dropped, better)


def test_the_race_and_the_verdict_share_alpha() -> None:
    levels, final = look_levels(0.05, LOOKS, len(SEEDS))
    assert levels[0] == pytest.approx(0.0056, abs=1e-4) and sum(levels) + final == pytest.approx(0.05)
    arms = simulated_arms(np.random.default_rng(0), 3, SEEDS, TASKS)
    assert _decide(arms).level == pytest.approx(final)
    assert decide(arms, SEEDS, "arm0", TASKS, 0.05, True, ()).level == 0.05  # no race: all of it


def _fixed(name: str, values: list[float], trial: int | None = 0, failed: tuple[int, ...] = ()) -> ConfirmedArm:
    scores = {s: {"task1": v, "task2": v, "objective": v} for s, v in zip(SEEDS, values) if s not in failed}
    return ConfirmedArm(name, trial, scores, {}, frozenset(failed))


@pytest.fixture(scope="module")
def tracker(tmp_path_factory, empty_mlflow_db) -> Tracker:
    """One real MLflow store for the module (each test writes its own parent run), an empty one put in place."""
    return Tracker(f"sqlite:///{shutil.copyfile(empty_mlflow_db, tmp_path_factory.mktemp('edges') / 'mlflow.db')}", "edges")


def _rows(verdict, tracker: Tracker) -> dict[tuple[str, str, str], dict]:
    """The verdict written to a real MLflow store and read back, by (arm, reference, target)."""
    parent = tracker.client.create_run(tracker.experiment_id).info.run_id
    record_verdict(tracker, parent, verdict)
    return {(r["arm"], r["reference"], r["target"]): r for r in read_verdict_table(tracker, parent)}


def test_a_failed_seed_counts_against_its_arm_and_is_shown(tracker) -> None:
    reference = _fixed("ref", [1.0, 1.1, 0.9, 1.05, 1.0, 0.95])
    # "flaky" is a little better where it trains, but fails on two seeds: it cannot win by losing them
    flaky = _fixed("flaky", [0.9, 1.0, 0.8, 0.95, 0.9, 0.85], failed=(SEEDS[1], SEEDS[4]))
    verdict = decide((reference, flaky), SEEDS[:6], "ref", ("task1", "task2"), 0.05, True, ())
    row = _rows(verdict, tracker)[("flaky", "ref", "objective")]
    assert row["n"] == 6 and row["failed_arm"] == 2 and row["failed_reference"] == 0
    assert row["verdict"] == NO_DIFFERENCE  # without the rule, the four seeds it kept would make it "better"
    standing = next(s for s in verdict.standings if s.arm == "flaky")
    assert standing.failed == 2 and standing.n == 6  # ranked on all 6 seeds, its failed two at the worst value there (1.1)
    assert standing.mean == pytest.approx(np.mean([0.9, 1.1, 0.8, 0.95, 1.1, 0.85]))
    text = "\n".join(verdict.sentences())
    assert "failed seeds (scored as the worst value on that seed): flaky 2 of 6" in text


def test_non_finite_scores_never_reach_holm_and_n_below_two_leaves_the_family(tracker) -> None:
    reference = _fixed("ref", [1.0, 1.1, 0.9, 1.05])
    lonely = _fixed("lonely", [0.5, 0.5, 0.5, 0.5], failed=SEEDS[1:4])  # one seed scored: not tested (n = 1 < 2 pairs)
    lonely = ConfirmedArm("lonely", 0, {SEEDS[0]: lonely.scores[SEEDS[0]]}, {}, frozenset())
    good = _fixed("good", [0.8, 0.9, 0.7, 0.86])
    verdict = decide((reference, lonely, good), SEEDS[:4], "ref", ("task1", "task2"), 0.05, True, ())
    rows = _rows(verdict, tracker)
    lonely_row = rows[("lonely", "ref", "objective")]
    assert lonely_row["n"] == 1 and lonely_row["p_holm"] is None and lonely_row["verdict"] == NO_DIFFERENCE  # NaN reads back as null
    # good's 3 targets are the whole family: m = 3, not 6
    good_rows = [rows[("good", "ref", t)] for t in ("task1", "task2", "objective")]
    assert all(r["p_holm"] == pytest.approx(min(1.0, 3 * r["p"])) for r in good_rows)
    assert "not tested against ref (fewer than 2 paired seeds): lonely" in "\n".join(verdict.sentences())


def test_zero_spread_differences_get_an_exact_p_value_not_certainty(tracker) -> None:
    reference = _fixed("ref", [1.0, 1.1, 0.9])
    shifted = _fixed("shifted", [0.9, 1.0, 0.8])  # better by exactly 0.1 on every seed: 3 pairs, no spread
    verdict = decide((reference, shifted), SEEDS[:3], "ref", ("task1",), 0.05, True, ())
    row = _rows(verdict, tracker)[("shifted", "ref", "objective")]
    assert row["p"] == pytest.approx(0.25) and row["verdict"] == NO_DIFFERENCE  # 3 seeds cannot show it


def test_single_task_baselines_are_a_second_family(tracker) -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(1.0, 0.1, 6)
    reference = _fixed("ref", list(base))
    arm = _fixed("arm", list(base - 0.05 + rng.normal(0, 0.01, 6)))
    single = _fixed("single-task", list(base + 0.3 + rng.normal(0, 0.01, 6)), trial=None)
    verdict = decide((reference, arm, single), SEEDS[:6], "ref", ("task1", "task2"), 0.05, True, (), also=("single-task",))
    rows = _rows(verdict, tracker)
    primary = [r for r in rows.values() if r["reference"] == "ref"]
    assert len(primary) == 3
    ordered = sorted(primary, key=lambda r: r["p"])
    assert ordered[0]["p_holm"] == pytest.approx(min(1.0, 3 * ordered[0]["p"]))  # m = 3: the baselines' rows are not counted
    second = [r for r in rows.values() if r["reference"] == "single-task"]
    assert len(second) == 6 and all(r["verdict"] == "better" for r in second)


def test_an_infinite_score_read_back_from_mlflow_is_a_failed_seed(tracker) -> None:
    space = load_space_text()
    run_id = tracker.client.create_run(tracker.experiment_id).info.run_id
    tracker.log_metrics(run_id, {"test/task1/normalized_loss": math.inf, "test/task2/normalized_loss": 0.5})
    run = tracker.get_run(run_id)
    assert run.data.metrics["test/task1/normalized_loss"] == sys.float_info.max  # MLflow stores inf as the largest float
    tasks = prepare_data(space).tasks
    assert _scores(run, space, tasks) is None  # so read_confirmations counts the seed failed, never a pair


def load_space_text():
    """The tiny space (two regression tasks), parsed."""
    return parse_space(TINY_SPACE, "tiny.toml")
