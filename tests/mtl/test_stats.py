"""Paired comparisons and Holm's correction, checked against SciPy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mtl.stats import BETTER, NO_DIFFERENCE, WORSE, holm, paired, verdict


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


def test_one_pair_has_no_interval() -> None:
    d = paired([1.0], [2.0])
    assert d.n == 1 and math.isnan(d.low) and d.p == 1.0


def test_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        paired([1.0, 2.0], [1.0])


def test_holm_adjusts_step_down_and_keeps_order() -> None:
    # hand computation: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1 (0.8 * 2 -> 1)
    assert holm([]) == []


@pytest.mark.parametrize(("mean", "minimize", "word"), [(-0.1, True, BETTER), (0.1, True, WORSE),
                                                        (0.1, False, BETTER), (-0.1, False, WORSE)])
def test_verdict_words_follow_the_direction(mean: float, minimize: bool, word: str) -> None:
    reference = [1.0, 1.1, 0.9, 1.05]
    d = paired([r + mean + 0.001 * i for i, r in enumerate(reference)], reference)
    assert verdict(d, d.p, 0.05, minimize) == word
    assert verdict(d, 0.2, 0.05, minimize) == NO_DIFFERENCE  # a corrected p above alpha decides
