"""Task affinity (TAG lookahead) on planted clusters, and the partitions derived from it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mtl.affinity import AffinitySettings, candidate_partitions, matrix_spread, partition_score, propose, task_affinity
from mtl.affinity.partitions import EXHAUSTIVE_UP_TO, _set_partitions
from mtl.affinity.uncertainty import _all_partitions, contrasts, scores
from mtl.data.splits import split
from mtl.data.synthetic import make_synthetic
from mtl.errors import ConfigError
from mtl.models import ModelConfig
from mtl.partition import canonical, parse_partition

PLANTED = [["task1", "task2", "task3"], ["task4", "task5", "task6"]]
TASKS = tuple(f"task{i}" for i in range(1, 7))


def planted_splits(label_fraction: float = 1.0):
    data = make_synthetic(n_samples=1500, n_features=12, n_tasks=6, correlation=0.8, noise=0.5, groups=PLANTED,
                          label_fraction=label_fraction, seed=0)
    return split(data, 0.2, 0.2, seed=0)


def test_affinity_is_higher_within_planted_clusters_than_across_for_every_pair() -> None:
    result = task_affinity(ModelConfig(shared_depth=1, shared_width=32), planted_splits(), AffinitySettings(epochs=10), seed=0)
    assert result.tasks == TASKS and result.matrix.shape == (6, 6)
    assert result.measurements == -(-result.steps // 5) and result.steps == 10 * -(-900 // 64)
    cluster = {t: 0 if t in PLANTED[0] else 1 for t in TASKS}
    within = [result.matrix[i, j] for i in range(6) for j in range(6) if i != j and cluster[TASKS[i]] == cluster[TASKS[j]]]
    across = [result.matrix[i, j] for i in range(6) for j in range(6) if cluster[TASKS[i]] != cluster[TASKS[j]]]
    assert min(within) > max(across), (within, across)
    candidates = [canonical(p) for p in candidate_partitions(result.matrix, result.tasks)]
    assert "task1+task2+task3|task4+task5+task6" in candidates
    assert [len(c.split("|")) for c in candidates] == [1, 2, 3, 4, 5, 6]
    assert result.samples.shape == (result.measurements, 6, 6)
    proposal = propose(result.samples, result.matrix, result.tasks)  # the planted path: told apart, planted first
    assert proposal.separable and proposal.separated >= 0.95 and proposal.separation > 0
    assert len(proposal.candidates) == 6 and "task1+task2+task3|task4+task5+task6" in map(canonical, proposal.candidates)
    assert all(len({cluster[t] for t in group}) == 1 for group in proposal.candidates[0])  # no pair across clusters
    assert list(proposal.support) == sorted(proposal.support, reverse=True) and proposal.support[0] > 0.5


def test_without_clusters_the_pass_says_it_cannot_tell_and_offers_only_hard_and_independent() -> None:
    data = make_synthetic(n_samples=800, n_features=8, n_tasks=4, correlation=0.0, noise=0.5, seed=0)  # unrelated tasks
    result = task_affinity(ModelConfig(shared_depth=1, shared_width=32), split(data, 0.2, 0.2, seed=0),
                           AffinitySettings(epochs=6), seed=0)
    proposal = propose(result.samples, result.matrix, result.tasks)
    assert not proposal.separable and proposal.separated < 0.95
    assert {canonical(p) for p in proposal.candidates} == {"task1+task2+task3+task4", "task1|task2|task3|task4"}


def test_the_bootstrap_spread_agrees_with_scipys_bootstrap_of_the_median() -> None:
    rng = np.random.default_rng(3)
    samples = rng.standard_t(3, size=(80, 3, 3)) * np.array([0.05, 0.1, 0.2])[None, :, None]  # heavy tails, three scales
    samples[rng.random(samples.shape) < 0.1] = np.nan  # a task unlabelled in some batches
    spread = matrix_spread(samples, draws=3000, seed=1)
    for i in range(3):
        for j in range(3):
            cell = samples[:, i, j]
            expected = stats.bootstrap((cell[np.isfinite(cell)],), np.median, n_resamples=3000, method="percentile",
                                       rng=np.random.default_rng(2)).standard_error
            assert spread[i, j] == pytest.approx(expected, rel=0.2), (i, j)


def test_vectorised_scores_and_contrasts_match_a_direct_computation() -> None:
    tasks = ("a", "b", "c", "d")
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(4, 4))
    matrix[0, 2] = np.nan  # an unmeasured pair
    partitions = _all_partitions(tasks)
    assert np.allclose(scores(matrix[None], partitions, tasks)[0], [partition_score(matrix, p, tasks) for p in partitions])
    two = parse_partition("a+b|c+d", tasks)
    within = [matrix[0, 1], matrix[1, 0], matrix[2, 3], matrix[3, 2]]
    across = [matrix[i, j] for i in range(4) for j in range(4) if (i < 2) != (j < 2) and np.isfinite(matrix[i, j])]
    assert contrasts(matrix[None], [two], tasks)[0, 0] == pytest.approx(np.mean(within) - np.mean(across))


def test_missing_labels_leave_the_affinity_finite() -> None:
    result = task_affinity(ModelConfig(shared_depth=1, shared_width=16), planted_splits(label_fraction=0.3),
                           AffinitySettings(epochs=1, every=2), seed=0)
    assert np.isfinite(result.matrix).all()


def test_plain_training_measures_nothing() -> None:
    result = task_affinity(ModelConfig(shared_depth=1, shared_width=8), planted_splits(), AffinitySettings(epochs=1, every=0), seed=0)
    assert result.measurements == 0 and np.isnan(result.matrix).all()


def test_a_model_without_a_shared_trunk_is_refused() -> None:
    with pytest.raises(ValueError, match="shared"):
        task_affinity(ModelConfig(strategy="independent"), planted_splits(), AffinitySettings(epochs=1))


def planted_matrix(tasks: tuple[str, ...], clusters: list[list[str]], rng: np.random.Generator) -> np.ndarray:
    """Affinity 0.3 +- 0.05 within a cluster, -0.05 +- 0.05 across."""
    where = {t: k for k, group in enumerate(clusters) for t in group}
    same = np.array([[where[a] == where[b] for b in tasks] for a in tasks])
    return np.where(same, 0.3, -0.05) + rng.uniform(-0.05, 0.05, size=same.shape)


def test_partitions_are_enumerated_exactly_and_scored_by_mean_within_group_affinity() -> None:
    assert sum(1 for _ in _set_partitions(TASKS)) == 203  # Bell(6)
    assert len({canonical(parse_partition([list(g) for g in p], TASKS)) for p in _set_partitions(TASKS)}) == 203
    matrix = np.arange(36, dtype=float).reshape(6, 6)
    two = parse_partition("task1+task2+task3|task4+task5+task6", TASKS)
    # task j receives the mean of A[i, j] over the other members i of its group
    expected = sum(np.mean([matrix[i, j] for i in g if i != j]) for g in ([0, 1, 2], [3, 4, 5]) for j in g)
    assert partition_score(matrix, two, TASKS) == pytest.approx(expected)
    assert partition_score(matrix, parse_partition("task1|task2|task3|task4|task5|task6", TASKS), TASKS) == 0.0


def test_exhaustive_search_and_the_greedy_heuristic_find_planted_clusters() -> None:
    rng = np.random.default_rng(0)
    candidates = candidate_partitions(planted_matrix(TASKS, PLANTED, rng), TASKS)
    assert canonical(candidates[1]) == "task1+task2+task3|task4+task5+task6"
    many = tuple(f"t{i:02d}" for i in range(EXHAUSTIVE_UP_TO + 2))  # beyond exhaustive: greedy agglomeration
    clusters = [list(many[0:3]), list(many[3:7]), list(many[7:])]
    greedy = candidate_partitions(planted_matrix(many, clusters, rng), many)
    assert [len(p) for p in greedy] == list(range(1, len(many) + 1))
    assert greedy[2] == parse_partition(clusters, many)


@pytest.mark.parametrize("written, problem", [
    ("task1+task2|task7", "unknown task 'task7'"),
    ([["task1", "task2"], ["task2", "task3"]], "task 'task2' appears twice"),
    ("task1+task2", "leaves out task3"),
    ("task1||task2+task3", "every group needs one or more task names"),
])
def test_a_bad_partition_names_its_problem(written, problem) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_partition(written, ("task1", "task2", "task3"))


def test_partitions_have_one_canonical_form() -> None:
    tasks = ("a", "b", "c", "d")
    assert canonical(parse_partition([["d", "b"], ["c", "a"]], tasks)) == "a+c|b+d"
    assert canonical(parse_partition("c|b+a|d", tasks)) == "a+b|c|d"
