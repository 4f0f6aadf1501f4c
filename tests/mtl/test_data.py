"""Data: the synthetic generator, seeded splits, and user tables with their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl.data import load_dataset, load_table, make_synthetic, split
from mtl.data.synthetic import task_directions
from mtl.errors import DataError

TARGETS = [{"name": "price", "kind": "regression"}, {"name": "sold", "kind": "binary"}]


def _frame(rows: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows),
                         "price": rng.normal(size=rows), "sold": rng.integers(0, 2, rows)})


def test_synthetic_correlation_controls_task_similarity() -> None:
    def label_corr(p: float) -> float:
        data = make_synthetic(n_samples=4000, n_features=8, n_tasks=2, correlation=p, noise=0.01, seed=0)
        return float(np.corrcoef(data.y["task1"], data.y["task2"])[0, 1])

    low, high = label_corr(0.0), label_corr(0.9)
    assert high > low + 0.4
    assert label_corr(1.0) > 0.99


def test_synthetic_is_seeded_and_shaped() -> None:
    a, b = make_synthetic(n_samples=100, n_features=5, n_tasks=3, seed=7), make_synthetic(n_samples=100, n_features=5, n_tasks=3, seed=7)
    assert a.x.shape == (100, 5) and [t.name for t in a.tasks] == ["task1", "task2", "task3"]
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y["task3"], b.y["task3"])
    assert not np.array_equal(a.x, make_synthetic(n_samples=100, n_features=5, n_tasks=3, seed=8).x)


def test_label_fraction_hides_each_tasks_labels_on_its_own_rows() -> None:
    full = make_synthetic(n_samples=2000, n_features=5, n_tasks=3, seed=4)
    part = make_synthetic(n_samples=2000, n_features=5, n_tasks=3, label_fraction=0.3, seed=4)
    assert part.missing and not full.missing and np.array_equal(part.x, full.x)
    present = {t: ~np.isnan(part.y[t]) for t in part.y}
    for task, rows in present.items():
        assert 0.25 < rows.mean() < 0.35  # about 30% of the rows keep this task's label
        np.testing.assert_array_equal(part.y[task][rows], full.y[task][rows])  # the labels kept are the same
    assert not np.array_equal(present["task1"], present["task2"])  # drawn per task
    assert part.sample_weights is not None and set(np.unique(part.sample_weights["task1"])) == {0.0, 1.0}
    with pytest.raises(DataError, match="label_fraction"):
        make_synthetic(n_samples=100, label_fraction=0.0)


def test_split_is_seeded_disjoint_and_complete() -> None:
    data = make_synthetic(n_samples=200, n_features=4, seed=0)
    s1, s2 = split(data, 0.2, 0.1, seed=5), split(data, 0.2, 0.1, seed=5)
    assert (len(s1.train), len(s1.val), len(s1.test)) == (140, 40, 20)
    np.testing.assert_array_equal(s1.val.x, s2.val.x)
    rows = np.concatenate([s1.train.x, s1.val.x, s1.test.x])
    assert len(np.unique(rows, axis=0)) == 200


@pytest.mark.parametrize("suffix", ["csv", "parquet", "npz"])
def test_tables_load_in_every_format(tmp_path, suffix: str) -> None:
    frame, path = _frame(), tmp_path / f"t.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "parquet":
        frame.to_parquet(path)
    else:
        np.savez(path, **{c: frame[c].to_numpy() for c in frame.columns})
    data = load_table(path, TARGETS, features=["a", "b"])
    assert data.feature_names == ("a", "b") and data.x.shape == (50, 2)
    assert [t.kind for t in data.tasks] == ["regression", "binary"]
    np.testing.assert_allclose(data.y["price"], frame["price"].to_numpy(), rtol=1e-6)


def test_npz_matrix_expands_to_columns(tmp_path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, x=np.ones((10, 3)), y=np.arange(10.0))
    data = load_table(path, [{"name": "y", "kind": "regression"}], features=["x"])
    assert data.feature_names == ("x_0", "x_1", "x_2")


def test_features_default_to_all_non_target_columns(tmp_path) -> None:
    path = tmp_path / "t.csv"
    _frame().to_csv(path, index=False)
    assert load_table(path, TARGETS).feature_names == ("a", "b")


@pytest.mark.parametrize(
    ("mutate", "targets", "message"),
    [
        (lambda f: f, [{"name": "nope", "kind": "regression"}], "target column 'nope' not found"),
        (lambda f: f.assign(a=np.nan), TARGETS, "feature column 'a' is all missing"),
        (lambda f: f.assign(a=None).astype({"a": object}), TARGETS, "feature column 'a' is all missing"),
        (lambda f: f.assign(b=[np.inf] + [0.0] * (len(f) - 1)), TARGETS, "'b' holds infinite values"),
        (lambda f: f.assign(price=[np.inf] + [0.0] * (len(f) - 1)), TARGETS, "'price' holds non-numeric or infinite"),
        (lambda f: f.assign(price=["x"] + [0.0] * (len(f) - 1)), TARGETS, "'price' holds non-numeric or infinite"),
        (lambda f: f.assign(price=np.nan), TARGETS, "target column 'price' is all missing"),
        (lambda f: f.assign(sold=(["yes", "no", "maybe"] * 20)[: len(f)]), TARGETS, "binary target 'sold' has 3 labels"),
        (lambda f: f.assign(sold=["yes"] * (len(f) - 1) + [None]), TARGETS, "target 'sold' has a single class"),
        (lambda f: f.assign(sold=2), TARGETS, "binary target 'sold' must hold only 0 and 1"),
        (lambda f: f.assign(sold=1), TARGETS, "single class"),
    ],
)
def test_bad_tables_raise_one_clear_error(tmp_path, mutate, targets, message: str) -> None:
    path = tmp_path / "bad.csv"
    mutate(_frame()).to_csv(path, index=False)
    with pytest.raises(DataError, match=message):
        load_table(path, targets)


def test_missing_feature_column_and_bad_files(tmp_path) -> None:
    good = tmp_path / "t.csv"
    _frame().to_csv(good, index=False)
    with pytest.raises(DataError, match="column 'zzz' not found"):
        load_table(good, TARGETS, features=["zzz"])
    with pytest.raises(DataError, match="does not exist"):
        load_table(tmp_path / "missing.csv", TARGETS)
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"\x00not parquet at all")
    with pytest.raises(DataError, match="not a readable table"):
        load_table(garbage, TARGETS)
    with pytest.raises(DataError, match="unknown format"):
        load_table(good.rename(tmp_path / "t.xlsx"), TARGETS)


def test_unknown_generator_option_is_a_data_error() -> None:
    with pytest.raises(DataError, match="synthetic"):
        load_dataset("synthetic", {"n_rows": 5}, seed=0)


CLUSTERS = [["task1", "task2", "task3"], ["task4", "task5", "task6"]]


def test_groups_plant_clusters_in_the_realised_weight_vectors() -> None:
    # no sines, no noise: each label is exactly x @ w_i, so least squares recovers the generator's w_i
    data = make_synthetic(n_samples=200, n_features=10, n_tasks=6, correlation=0.6, noise=0.0, n_sines=0, scale=2.0,
                          groups=CLUSTERS, seed=2)
    labels = np.stack([data.y[f"task{i + 1}"] for i in range(6)], axis=1).astype(np.float64)
    weights = np.linalg.lstsq(data.x.astype(np.float64), labels, rcond=None)[0].T
    np.testing.assert_allclose(weights, task_directions(np.random.default_rng(2), 10, [0, 0, 0, 1, 1, 1], 0.6, 2.0), atol=1e-4)
    norms = np.linalg.norm(weights, axis=1)
    np.testing.assert_allclose(norms, 2.0, atol=1e-4)
    cosine = weights @ weights.T / np.outer(norms, norms)
    same = np.equal.outer([0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(cosine[same & ~np.eye(6, dtype=bool)], 0.6, atol=1e-4)
    np.testing.assert_allclose(cosine[~same], 0.0, atol=1e-4)


def test_groups_correlate_labels_within_clusters_only() -> None:
    data = make_synthetic(n_samples=4000, n_features=12, n_tasks=6, correlation=0.8, noise=0.1, groups=CLUSTERS, seed=0)
    corr = np.corrcoef(np.stack([data.y[f"task{i + 1}"] for i in range(6)]))
    for i in range(6):
        for j in range(i + 1, 6):
            if (i < 3) == (j < 3):
                assert corr[i, j] > 0.6, (i, j, corr[i, j])
            else:
                assert abs(corr[i, j]) < 0.1, (i, j, corr[i, j])


def test_groups_depend_only_on_the_partition_and_one_group_is_no_groups() -> None:
    base = make_synthetic(n_samples=100, n_features=8, n_tasks=6, groups=CLUSTERS, seed=1)
    for same in ([CLUSTERS[1][::-1], CLUSTERS[0]], "task1+task2+task3|task4+task5+task6"):
        other = make_synthetic(n_samples=100, n_features=8, n_tasks=6, groups=same, seed=1)
        assert all(np.array_equal(base.y[t], other.y[t]) for t in base.y)
    plain = make_synthetic(n_samples=100, n_features=8, n_tasks=6, seed=1)
    one = make_synthetic(n_samples=100, n_features=8, n_tasks=6, groups=[CLUSTERS[0] + CLUSTERS[1]], seed=1)
    assert all(np.array_equal(plain.y[t], one.y[t]) for t in plain.y)
    assert not np.array_equal(plain.y["task4"], base.y["task4"])


@pytest.mark.parametrize(("groups", "problem"), [
    ([["task1", "task2", "task3"], ["task4", "task5", "task7"]], "unknown task 'task7'"),
    ([["task1", "task2", "task3"], ["task3", "task4", "task5", "task6"]], "task 'task3' appears twice"),
    ([["task1", "task2", "task3"], ["task4", "task5"]], "leaves out task6"),
    ([["task1", "task2", "task3"], []], "every group needs one or more task names"),
])
def test_bad_groups_are_one_data_error_naming_the_problem(groups: list[list[str]], problem: str) -> None:
    with pytest.raises(DataError, match=f"^synthetic: groups .*{problem}") as exc:
        load_dataset("synthetic", {"n_tasks": 6, "groups": groups}, seed=0)  # as a space file's [data] options pass it
    assert "\n" not in str(exc.value)


def test_groups_need_a_feature_per_task_and_per_cluster() -> None:
    with pytest.raises(DataError, match="n_features must be at least n_tasks \\+ number of groups = 8, got 7"):
        make_synthetic(n_features=7, n_tasks=6, groups=CLUSTERS)
    make_synthetic(n_samples=20, n_features=8, n_tasks=6, groups=CLUSTERS)


def test_synthetic_without_groups_is_unchanged() -> None:
    # sums pinned from the generator before `groups` existed: the default data must stay bit-for-bit the same
    plain = make_synthetic()
    assert round(float(plain.y["task1"].astype(np.float64).sum()), 4) == 3585.5287
    assert round(float(plain.y["task2"].astype(np.float64).sum()), 4) == 3467.2850
    assert round(float(plain.x.astype(np.float64).sum()), 4) == 110.2519
    partial = make_synthetic(n_samples=600, n_tasks=3, correlation=0.9, noise=1.0, label_fraction=0.34, seed=3)
    sums = {t: round(float(np.nansum(v.astype(np.float64))), 4) for t, v in partial.y.items()}
    assert sums == {"task1": 325.3401, "task2": 268.6607, "task3": 326.7542}
