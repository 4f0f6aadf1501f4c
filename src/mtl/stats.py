"""Paired comparisons of two designs measured on the same seeds: mean difference, interval, p-value, Holm.

Plain numerics (NumPy and SciPy), so a notebook can use them on its own. A comparison pairs arm
``a`` with the reference on each seed (the same seed, and split, for both), so seed-to-seed
variation common to both cancels. The test is the paired t-test; its interval is the matching
t interval of the mean difference. Where every difference is the same non-zero value (no spread)
the t-test has no answer, and the exact sign-flip permutation p-value, ``2 / 2**n``, stands in.
The relative difference's interval is Fieller's for the ratio of the two means (paired), so it
carries the reference mean's uncertainty too. Holm's step-down correction keeps the family-wise
error rate of several comparisons at ``alpha``; comparisons with fewer than two pairs have no
p-value (NaN) and are left out of the family. :func:`spent_alpha` is the Lan-DeMets
O'Brien-Fleming-type spending function that splits ``alpha`` across a race's looks.
:func:`variance_components` splits paired differences grouped by replicate into the seed-to-seed
and the replicate-to-replicate parts (one-way random-effects ANOVA).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no detectable difference"
FLOAT_NOISE = 1e-6  # relative differences below this are rounding (e.g. threads summing in another order), not effects


@dataclass(frozen=True)
class Paired:
    """One paired comparison: ``mean`` difference (arm - reference), its ``low``/``high`` interval at
    ``level``, the two-sided ``p`` value (NaN: not tested, fewer than two pairs), the reference's mean,
    and the relative difference's interval in % of the reference's mean (``relative_low``/``relative_high``,
    Fieller's; infinite where the reference mean is not told apart from 0)."""

    n: int
    mean: float
    low: float
    high: float
    p: float
    reference_mean: float
    level: float = 0.95
    relative_low: float = math.nan
    relative_high: float = math.nan

    def relative(self, value: float) -> float:
        """``value`` (a difference) as a percentage of the reference's mean; NaN where that is 0."""
        return 100.0 * value / abs(self.reference_mean) if self.reference_mean else math.nan

    @property
    def tested(self) -> bool:
        """Whether there were pairs enough (two) for a test."""
        return not math.isnan(self.p)


def sign_flip_p(n: int) -> float:
    """The exact two-sided sign-flip permutation p-value of ``n`` equal non-zero differences: only the
    all-plus and all-minus flips are as extreme, ``2 / 2**n`` (1 for one pair)."""
    return min(1.0, 2.0 ** (1 - n))


def fieller(arm: np.ndarray, reference: np.ndarray, level: float) -> tuple[float, float]:
    """Fieller's interval for ``mean(arm) / mean(reference) - 1`` on paired values, in % of the
    reference's mean (its sign taken into account): the ratios r for which a paired t-test of
    ``arm - r * reference`` keeps mean 0 at ``level``. Infinite ends where the reference mean is not
    told apart from 0 (the set is then unbounded)."""
    n = arm.size
    q = float(stats.t.ppf(0.5 + level / 2, n - 1)) ** 2 / n
    cov = np.cov(np.vstack([arm, reference]), ddof=1)
    a, r = float(arm.mean()), float(reference.mean())
    # (a - rho r)^2 <= q (s_aa - 2 rho s_ar + rho^2 s_rr), a quadratic in rho
    qa, qb, qc = r * r - q * cov[1, 1], -2.0 * (a * r - q * cov[0, 1]), a * a - q * cov[0, 0]
    disc = qb * qb - 4 * qa * qc
    if qa <= 0 or disc < 0:
        return -math.inf, math.inf
    root = math.sqrt(disc)
    sign = math.copysign(1.0, r)
    ends = sorted(sign * 100.0 * ((-qb + side * root) / (2 * qa) - 1.0) for side in (-1, 1))
    return ends[0], ends[1]


def paired(arm: Sequence[float], reference: Sequence[float], level: float = 0.95) -> Paired:
    """Compare ``arm`` with ``reference`` value by value (the same seeds in the same order); finite values only.

    Differences within :data:`FLOAT_NOISE` of the values count as 0. With fewer than two pairs
    there is no interval and no test (NaN). Identical differences (zero spread) give a zero-width
    interval at the mean difference, with ``p`` 1 when that is 0 and :func:`sign_flip_p` otherwise.
    """
    a, r = np.asarray(arm, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != r.shape:
        raise ValueError(f"paired values need equal lengths, got {a.size} and {r.size}")
    if not (np.isfinite(a).all() and np.isfinite(r).all()):
        raise ValueError("paired values must be finite (a failed seed is the caller's to score)")
    d = a - r
    noise = np.abs(d) <= FLOAT_NOISE * np.maximum(np.abs(a), np.abs(r))
    d[noise] = 0.0  # the same computation up to rounding
    a = np.where(noise, r, a)
    n = int(d.size)
    ref_mean = float(r.mean()) if n else math.nan
    if n == 0:
        return Paired(0, math.nan, math.nan, math.nan, math.nan, ref_mean, level)
    mean = float(d.mean())
    if n < 2:
        return Paired(n, mean, math.nan, math.nan, math.nan, ref_mean, level)
    se = float(d.std(ddof=1)) / math.sqrt(n)
    if se <= FLOAT_NOISE * float(np.abs(np.concatenate([a, r])).max()):  # equal differences, up to rounding
        rel = 100.0 * mean / abs(ref_mean) if ref_mean else math.nan
        return Paired(n, mean, mean, mean, 1.0 if mean == 0.0 else sign_flip_p(n), ref_mean, level, rel, rel)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return Paired(n, mean, mean - half, mean + half, p, ref_mean, level, *fieller(a, r, level))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given; NaN (not tested) stays NaN
    and does not count in the family's size.

    The smallest of m p-values is multiplied by m, the next by m - 1, and so on, each kept at
    least as large as the one before it and capped at 1; rejecting where the adjusted value is
    below ``alpha`` controls the family-wise error rate at ``alpha``.
    """
    tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(tested)
    order = sorted(tested, key=lambda i: p_values[i])
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def spent_alpha(alpha: float, fraction: float) -> float:
    """The alpha spent by information fraction ``fraction`` (0 to 1) under the Lan-DeMets (1983)
    O'Brien-Fleming-type spending function, ``2 - 2 Phi(z_{1 - alpha/2} / sqrt(t))``: very little early,
    all of ``alpha`` at ``t = 1``."""
    if fraction <= 0:
        return 0.0
    if fraction >= 1:
        return alpha
    return float(2.0 - 2.0 * stats.norm.cdf(stats.norm.ppf(1.0 - alpha / 2.0) / math.sqrt(fraction)))


def verdict(difference: Paired, p_adjusted: float, alpha: float, minimize: bool) -> str:
    """``better``, ``worse`` or ``no detectable difference`` for the arm against the reference."""
    if not p_adjusted < alpha or difference.mean == 0.0:  # NaN (not tested) is never below alpha
        return NO_DIFFERENCE
    return BETTER if (difference.mean < 0) == minimize else WORSE


@dataclass(frozen=True)
class VarianceComponents:
    """Standard deviations of paired differences grouped by replicate: ``seed`` within a replicate,
    ``replicate`` of the replicates' own true means (0 where the estimate is negative), and the
    share of the variance of one seed's difference that is replicate variance."""

    seed: float
    replicate: float

    @property
    def replicate_share(self) -> float:
        """``replicate^2 / (replicate^2 + seed^2)``; NaN where both are 0 or unknown."""
        total = self.replicate**2 + self.seed**2
        return self.replicate**2 / total if total > 0 else math.nan


def variance_components(groups: Sequence[Sequence[float]]) -> VarianceComponents:
    """The one-way random-effects ANOVA estimates (method of moments, unbalanced groups with Searle's
    ``n0``): ``seed^2`` is the within-group mean square, ``replicate^2`` is ``(MSB - MSW) / n0``, cut at 0.
    Needs two groups of which one has two values; NaN otherwise."""
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g)]
    sizes = np.array([a.size for a in arrays])
    total = int(sizes.sum())
    if len(arrays) < 2 or total <= len(arrays):
        return VarianceComponents(math.nan, math.nan)
    grand = float(np.concatenate(arrays).mean())
    between = sum(a.size * (a.mean() - grand) ** 2 for a in arrays) / (len(arrays) - 1)
    within = sum(((a - a.mean()) ** 2).sum() for a in arrays) / (total - len(arrays))
    n0 = (total - float((sizes**2).sum()) / total) / (len(arrays) - 1)
    return VarianceComponents(math.sqrt(within), math.sqrt(max(0.0, (between - within) / n0)))
