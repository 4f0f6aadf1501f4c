"""Budget curves: the expected best of n trials drawn from N observed ones (Dodge et al. 2019, "Show Your Work").

Definition used here, as in the paper: n trials are drawn WITH replacement from the N observed
values, so every n-tuple of the observed trials is equally likely, and n may exceed N. With the
values sorted best last (ascending to maximise, descending to minimise), the best of the n draws is
the i-th of them with probability ``(i/N)^n - ((i-1)/N)^n``; the curve is its mean and standard
deviation, for n = 1..N (beyond N it only creeps towards the observed best). Ties need no care:
tied values carry the same value whichever index is drawn. At n = 1 the mean is the observed
values' mean; as n grows it tends to the observed best.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BudgetCurve:
    """The expected best value of n trials (``mean[n - 1]``) and its standard deviation (``std[n - 1]``), n = 1..N."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def trials(self) -> int:
        """N: the largest budget on the curve (the number of observed trials)."""
        return len(self.mean)


def expected_best(values: Sequence[float], minimize: bool = True) -> BudgetCurve:
    """The budget curve of the observed ``values`` (finite numbers) for n = 1..N, N their count:
    the expected minimum (``minimize``) or maximum of n draws with replacement, and its standard deviation."""
    observed = np.asarray(values, dtype=float)
    if observed.size == 0:
        return BudgetCurve((), ())
    if not np.all(np.isfinite(observed)):
        raise ValueError("budget curves take finite values only")
    ordered = np.sort(observed)[::-1] if minimize else np.sort(observed)  # best last
    count = observed.size
    below = np.arange(count + 1) / count  # P(one draw is among the first i sorted values), i = 0..N
    means, stds = [], []
    for n in range(1, count + 1):
        chance = np.diff(below**n)  # P(the best of n draws is the i-th sorted value)
        mean = float(chance @ ordered)
        spread = float(chance @ (ordered - mean) ** 2)
        means.append(mean)
        stds.append(math.sqrt(max(spread, 0.0)))
    return BudgetCurve(tuple(means), tuple(stds))


def order_at(curves: Mapping[str, BudgetCurve], n: int, minimize: bool = True) -> tuple[str, ...]:
    """The names of ``curves`` by their expected best at budget ``n``, best first (ties: by name)."""
    sign = 1.0 if minimize else -1.0
    return tuple(sorted(curves, key=lambda name: (sign * curves[name].mean[n - 1], name)))


def order_holds_from(curves: Mapping[str, BudgetCurve], minimize: bool = True) -> int:
    """The smallest budget k from which the order of ``curves`` at every n = k..N is their order at N, N being the
    shortest curve's length (0 when a curve is empty)."""
    last = min((c.trials for c in curves.values()), default=0)
    if last == 0:
        return 0
    final = order_at(curves, last, minimize)
    k = last
    while k > 1 and order_at(curves, k - 1, minimize) == final:
        k -= 1
    return k
