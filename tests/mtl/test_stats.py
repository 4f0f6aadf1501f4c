"""Paired comparisons and Holm's correction, checked against SciPy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mtl.stats import BETTER, NO_DIFFERENCE, WORSE, holm, paired, spent_alpha, variance_components, verdict


def test_paired_matches_scipys_paired_t_test_and_interval() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(1.0, 0.1, 7)
    arm = reference - 0.05 + rng.normal(0, 0.02, 7)
    d = paired(arm, reference)
    expected = stats.ttest_rel(arm, reference)
    assert d.p == pytest.approx(expected.pvalue)
    low, high = expected.confidence_interval(0.95)
    assert (d.low, d.high) == (pytest.approx(low), pytest.approx(high))
    assert d.mean == pytest.approx(float(np.mean(arm - reference)))
    assert d.relative(d.mean) == pytest.approx(100 * d.mean / reference.mean())


def test_identical_values_are_no_difference_with_a_zero_interval() -> None:
    values = [0.3, 0.5, 0.4]
    d = paired(values, values)
    assert (d.mean, d.low, d.high, d.p) == (0.0, 0.0, 0.0, 1.0)
    assert verdict(d, d.p, 0.05, minimize=True) == NO_DIFFERENCE


def test_float_noise_does_not_make_a_difference() -> None:
    reference = [0.3, 0.5, 0.4, 0.45]
    arm = [v * (1 + 1e-9) for v in reference]  # same training, last-bit differences
    d = paired(arm, reference)
    assert d.mean == 0.0 and d.p == 1.0


def test_one_pair_has_no_interval_and_no_test() -> None:
    d = paired([1.0], [2.0])
    assert d.n == 1 and math.isnan(d.low) and math.isnan(d.p) and not d.tested
    assert verdict(d, math.nan, 0.05, minimize=True) == NO_DIFFERENCE


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        paired([1.0, math.inf], [1.0, 2.0])


def test_zero_spread_gets_the_exact_sign_flip_p_value_of_a_permutation_test() -> None:
    reference = [0.30, 0.50, 0.40]
    arm = [v + 0.1 for v in reference]  # every difference exactly 0.1 (to rounding): no spread
    d = paired(arm, reference)
    exact = stats.permutation_test((np.asarray(arm) - np.asarray(reference),), np.mean, permutation_type="samples",
                                   n_resamples=np.inf, alternative="two-sided")
    assert d.p == pytest.approx(exact.pvalue) == pytest.approx(0.25)  # 2 of the 8 sign flips are as extreme
    assert d.p > 0


def test_fieller_interval_is_the_set_of_ratios_a_paired_t_test_keeps() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(1.0, 0.15, 8)
    arm = 0.9 * reference + rng.normal(0, 0.05, 8)
    d = paired(arm, reference)
    # independent computation: invert the paired t-test of arm - rho * reference on a fine grid of rho
    grid = np.linspace(0.5, 1.5, 200_001)
    kept = [rho for rho in grid[::50] if stats.ttest_1samp(arm - rho * reference, 0.0).pvalue >= 0.05]
    low, high = 100 * (min(kept) - 1), 100 * (max(kept) - 1)
    assert d.relative_low == pytest.approx(low, abs=0.03) and d.relative_high == pytest.approx(high, abs=0.03)
    assert d.relative_low < d.relative(d.mean) < d.relative_high


def test_fieller_interval_is_unbounded_where_the_reference_mean_may_be_zero() -> None:
    d = paired([0.2, -0.1, 0.3, 0.0], [0.1, -0.2, 0.2, -0.05])
    assert (d.relative_low, d.relative_high) == (-math.inf, math.inf)


def test_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        paired([1.0, 2.0], [1.0])


def test_holm_adjusts_step_down_and_keeps_order() -> None:
    # hand computation: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1 (0.8 * 2 -> 1)
    assert holm([]) == []


def test_holm_leaves_untested_comparisons_out_of_the_family() -> None:
    adjusted = holm([0.001, math.nan, 0.0001, 0.002])
    assert adjusted[0] == pytest.approx(0.002) and adjusted[2] == pytest.approx(0.0003) and adjusted[3] == pytest.approx(0.002)
    assert math.isnan(adjusted[1])  # m is 3: the NaN neither sorts nor counts


def test_obrien_fleming_spending_matches_published_values() -> None:
    # Lan and DeMets (1983) O'Brien-Fleming-type spending at alpha 0.05 (two-sided): 0.0056 at half the information
    assert spent_alpha(0.05, 0.5) == pytest.approx(0.0056, abs=5e-5)
    assert spent_alpha(0.05, 0.25) == pytest.approx(0.0000889, rel=0.02)
    assert spent_alpha(0.05, 0.0) == 0.0 and spent_alpha(0.05, 1.0) == 0.05
    assert spent_alpha(0.05, 0.3) < spent_alpha(0.05, 0.6) < spent_alpha(0.05, 0.9) < 0.05


@pytest.mark.parametrize(("mean", "minimize", "word"), [(-0.1, True, BETTER), (0.1, True, WORSE),
                                                        (0.1, False, BETTER), (-0.1, False, WORSE)])
def test_verdict_words_follow_the_direction(mean: float, minimize: bool, word: str) -> None:
    reference = [1.0, 1.1, 0.9, 1.05]
    d = paired([r + mean + 0.001 * i for i, r in enumerate(reference)], reference)
    assert verdict(d, d.p, 0.05, minimize) == word
    assert verdict(d, 0.2, 0.05, minimize) == NO_DIFFERENCE  # a corrected p above alpha decides


def test_variance_components_agree_with_scipys_one_way_anova_and_the_planted_truth() -> None:
    rng = np.random.default_rng(5)
    groups = [rng.normal(mu, 0.5, n) for mu, n in zip(rng.normal(0.0, 1.0, 40), rng.integers(4, 9, 40))]
    parts = variance_components(groups)
    # independent computation: SciPy's F statistic is MSB / MSW; MSW is the pooled within variance
    within = sum(((g - g.mean()) ** 2).sum() for g in groups) / (sum(len(g) for g in groups) - len(groups))
    f = stats.f_oneway(*groups).statistic
    sizes = np.array([len(g) for g in groups])
    n0 = (sizes.sum() - (sizes**2).sum() / sizes.sum()) / (len(groups) - 1)
    assert parts.seed**2 == pytest.approx(within)
    assert parts.replicate**2 == pytest.approx((f * within - within) / n0)
    assert parts.seed == pytest.approx(0.5, rel=0.15) and parts.replicate == pytest.approx(1.0, rel=0.3)  # the planted sds
    assert variance_components([[1.0, 1.2], [0.9, 1.1]]).replicate == 0.0  # a negative estimate is cut at 0
    assert math.isnan(variance_components([[1.0, 2.0]]).seed)  # one group: nothing to split
