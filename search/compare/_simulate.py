"""Simulated confirmations: scores with known truth, to measure the shipped race and verdict's error rates and power.

Each seed's scores share a seed effect across arms (as a shared test split gives), each arm adds
its own noise of the same size, and a planted effect shifts some arms' task scores by a known
number of seed-noise standard deviations. :func:`any_claim` is the event whose probability under
the global null the sequential design keeps at most ``alpha``: any arm dropped, or any verdict
other than "no detectable difference".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mtl.stats import NO_DIFFERENCE
from search.compare._scores import OBJECTIVE, ConfirmedArm
from search.compare._verdict import Verdict


def simulated_arms(rng: np.random.Generator, count: int, seeds: Sequence[int], tasks: Sequence[str],
                   shift: Mapping[int, float] | None = None) -> tuple[ConfirmedArm, ...]:
    """``count`` arms named ``arm0``, ``arm1``, ... scored on ``seeds``: 5 + seed effect + own noise (both standard
    normal) + ``shift[a]`` on every task of arm ``a``; ``objective`` is the tasks' mean."""
    seed_effect = rng.normal(0.0, 1.0, (len(seeds), len(tasks)))
    arms = []
    for a in range(count):
        values = 5.0 + seed_effect + rng.normal(0.0, 1.0, seed_effect.shape) + (shift or {}).get(a, 0.0)
        scores = {s: {t: float(v) for t, v in zip(tasks, row)} | {OBJECTIVE: float(row.mean())} for s, row in zip(seeds, values)}
        arms.append(ConfirmedArm(f"arm{a}", a, scores, {}))
    return tuple(arms)


def any_claim(verdict: Verdict) -> bool:
    """Whether ``verdict`` claims anything: an arm dropped, or a comparison other than no detectable difference."""
    return bool(verdict.dropped) or any(c.word != NO_DIFFERENCE for c in verdict.comparisons)
