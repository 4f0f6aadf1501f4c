"""Paired comparisons of two designs measured on the same seeds: mean difference, interval, p-value, Holm.

Plain numerics (NumPy and SciPy), so a notebook can use them on its own. A comparison pairs arm
``a`` with the reference on each seed (the same seed, and split, for both), so seed-to-seed
variation common to both cancels. The test is the paired t-test; its interval is the matching
t interval of the mean difference. Holm's step-down correction keeps the family-wise error rate
of several comparisons at ``alpha``.
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
    ``level``, the two-sided ``p`` value, and the reference's mean (for relative differences)."""

    n: int
    mean: float
    low: float
    high: float
    p: float
    reference_mean: float
    level: float = 0.95

    def relative(self, value: float) -> float:
        """``value`` (a difference) as a percentage of the reference's mean; NaN where that is 0."""
        return 100.0 * value / abs(self.reference_mean) if self.reference_mean else math.nan


def paired(arm: Sequence[float], reference: Sequence[float], level: float = 0.95) -> Paired:
    """Compare ``arm`` with ``reference`` value by value (the same seeds in the same order).

    Differences within :data:`FLOAT_NOISE` of the values count as 0. With fewer than two pairs
    there is no interval (NaN) and ``p`` is 1. Identical pairs (zero spread) give a zero-width
    interval at the mean difference, with ``p`` 1 when that is 0 and 0 otherwise.
    """
    a, r = np.asarray(arm, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != r.shape:
        raise ValueError(f"paired values need equal lengths, got {a.size} and {r.size}")
    d = a - r
    d[np.abs(d) <= FLOAT_NOISE * np.maximum(np.abs(a), np.abs(r))] = 0.0  # the same computation up to rounding
    n = int(d.size)
    ref_mean = float(r.mean()) if n else math.nan
    if n == 0:
        return Paired(0, math.nan, math.nan, math.nan, 1.0, ref_mean, level)
    mean = float(d.mean())
    if n < 2:
        return Paired(n, mean, math.nan, math.nan, 1.0, ref_mean, level)
    se = float(d.std(ddof=1)) / math.sqrt(n)
    if se == 0.0:
        return Paired(n, mean, mean, mean, 1.0 if mean == 0.0 else 0.0, ref_mean, level)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return Paired(n, mean, mean - half, mean + half, p, ref_mean, level)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given.

    The smallest of m p-values is multiplied by m, the next by m - 1, and so on, each kept at
    least as large as the one before it and capped at 1; rejecting where the adjusted value is
    below ``alpha`` controls the family-wise error rate at ``alpha``.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def verdict(difference: Paired, p_adjusted: float, alpha: float, minimize: bool) -> str:
    """``better``, ``worse`` or ``no detectable difference`` for the arm against the reference."""
    if not p_adjusted < alpha or difference.mean == 0.0:
        return NO_DIFFERENCE
    return BETTER if (difference.mean < 0) == minimize else WORSE
