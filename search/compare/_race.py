"""Racing: confirmation in rounds of seeds, and an arm already clearly worse than another dropped early.

Confirmation goes in rounds across the arms (:func:`confirmation_rounds`): one seed a round
(seed 1 of every arm in contention, then seed 2, ...), or, fused, two rounds of half the seeds
(at least :data:`RACE_MIN_SEEDS`). The race looks after every round that ends at ``n`` seeds,
``RACE_MIN_SEEDS <= n <= K - 1`` (:func:`race_looks`), and the final verdict is the last look, at
``K``: together one group-sequential design whose ``alpha`` is spent across the looks by the
Lan-DeMets O'Brien-Fleming-type function (:func:`look_levels`): look ``j`` at ``n_j`` of ``K`` seeds
may spend ``spent(n_j / K) - spent(n_{j-1} / K)``, and the verdict what is left. Since the levels add
up to ``alpha``, the union bound keeps the chance of any false drop or any false verdict at most
``alpha``, however the looks' tests depend on each other (they share seeds).

At a look, every pair of arms in contention (the reference included) is compared on the mean
objective by a paired t-test over the first ``n`` seeds (failed seeds scored as
:func:`~search.compare._scores.paired_values` says), and the p-values of all pairs are
Holm-corrected together at the look's level: this is how choosing the leader from the same seeds
is paid for (an arm dropped is one significantly worse than another arm, whichever). An arm other
than the reference (never dropped: every verdict is against it) is dropped where it is
significantly worse than some arm; it is reported worse than the one it trails most. A
dropped arm keeps the seeds it had and is judged on them in the final verdict.

Prior art: F-race (Birattari et al., GECCO 2002) and iterated racing (López-Ibáñez et al., 2016),
which use Friedman's test across all candidates; with a handful of arms and paired seeds, all
pairwise paired t-tests under Holm are the same idea with the verdict's own statistics. The race is
a pure function of the scores, so it replays identically from what MLflow holds: a resumed
confirmation drops the same arms after the same rounds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from mtl.stats import Paired, holm, paired, spent_alpha
from search.compare._scores import OBJECTIVE, ConfirmedArm, paired_values

RACE_MIN_SEEDS = 3  # the first round that can drop an arm: a paired t-test needs a few pairs to mean anything


@dataclass(frozen=True)
class Dropped:
    """An arm dropped from the race: after ``seeds`` seeds it was worse than ``leader`` on the mean objective."""

    arm: str
    leader: str
    seeds: int
    difference: Paired  # arm - leader on the objective, over the first ``seeds`` seeds
    p_holm: float
    threshold: float  # the look's level (alpha spent at this look)


def confirmation_rounds(count: int, fuse: bool, racing: bool) -> list[range]:
    """The seed indices of each confirmation round: one seed a round unfused; fused, every seed at once
    without racing, and with racing two rounds of half the seeds (at least :data:`RACE_MIN_SEEDS`):
    each round is one fused training (one trace, more copies side by side) and the race looks once,
    halfway."""
    size = (max(RACE_MIN_SEEDS, -(-count // 2)) if racing else count) if fuse else 1
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def race_looks(count: int, fuse: bool) -> tuple[int, ...]:
    """The seed counts after which the race looks: the ends of the rounds from :data:`RACE_MIN_SEEDS` to ``count - 1``."""
    return tuple(r.stop for r in confirmation_rounds(count, fuse, racing=True) if RACE_MIN_SEEDS <= r.stop < count)


def look_levels(alpha: float, looks: Sequence[int], count: int) -> tuple[tuple[float, ...], float]:
    """The level of each race look at ``looks`` seeds of ``count``, and the final verdict's: the increments of
    :func:`~mtl.stats.spent_alpha` at the information fractions ``n / count`` (they add up to ``alpha``)."""
    spent = [spent_alpha(alpha, n / count) for n in looks]
    levels = tuple(b - a for a, b in zip([0.0, *spent], spent))
    return levels, alpha - (spent[-1] if spent else 0.0)


def race(confirmed: Sequence[ConfirmedArm], seeds: Sequence[int], reference: str, alpha: float, minimize: bool,
         looks: Sequence[int], upto: int | None = None) -> tuple[Dropped, ...]:
    """Replay the race on the confirmed scores at its ``looks`` (:func:`race_looks`) up to ``upto`` seeds
    (all by default): the arms dropped.

    Only tuned arms race (the single-task pseudo-arm is a reference, confirmed in full).
    """
    upto = len(seeds) if upto is None else upto
    by_arm = {c.arm: c for c in confirmed if c.trial is not None}
    contenders = list(by_arm)
    levels, _ = look_levels(alpha, looks, len(seeds))
    dropped: list[Dropped] = []
    for n, level in zip(looks, levels):
        if n > upto:
            break
        first = seeds[:n]
        pairs = []
        for a, b in itertools.combinations([a for a in contenders if by_arm[a].attempted & set(first)], 2):
            values = paired_values(by_arm[a], by_arm[b], OBJECTIVE, minimize, first)
            pairs.append((a, b, values, paired(values.arm, values.reference)))
        worse_than: dict[str, list[tuple[str, Paired, float]]] = {}
        for (a, b, values, test), p in zip(pairs, holm([t.p for *_, t in pairs]), strict=True):
            if not p < level or test.mean == 0.0:
                continue
            if (test.mean > 0) == minimize:  # a is the worse of the two
                worse_than.setdefault(a, []).append((b, test, p))
            else:
                worse_than.setdefault(b, []).append((a, paired(values.reference, values.arm), p))
        for arm, beaten_by in worse_than.items():
            if arm == reference:
                continue
            leader, difference, p = max(beaten_by, key=lambda row: abs(row[1].mean))  # the arm it trails most
            dropped.append(Dropped(arm, leader, n, difference, p, level))
            contenders.remove(arm)
    return tuple(dropped)
