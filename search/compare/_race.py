"""Racing: confirmation in rounds of seeds, and an arm already clearly worse than the leader dropped early.

Confirmation goes in rounds across the arms (:func:`confirmation_rounds`): one seed a round
(seed 1 of every arm in contention, then seed 2, ...), or, fused, two rounds of half the seeds
(at least :data:`RACE_MIN_SEEDS`). The race looks after every round that ends at ``n`` seeds, ``RACE_MIN_SEEDS <= n <= K - 1``
(:func:`race_looks`; ``L`` looks in all): the arm with the best mean objective over the first ``n``
seeds leads; every other arm in contention, except the reference (never dropped: every verdict
is against it), is compared with the leader on the mean objective by a paired t-test over those
seeds. The p-values of one look are Holm-corrected across those arms, and an arm is dropped where
its corrected p-value is below ``alpha / L`` and its mean is worse. Bonferroni over the looks and
Holm within one keep the chance of dropping any arm that is not worse below ``alpha`` over the
whole race: at least as strict as the verdict's own family-wise rate. A dropped arm keeps the
seeds it had, is judged on them (pairs with the reference on the seeds both have) and is
reported "worse" than the leader, with the seeds it had.

Prior art: F-race (Birattari et al., GECCO 2002) and iterated racing (López-Ibáñez et al., 2016),
which use Friedman's test across all candidates; with a handful of arms and paired seeds a
paired t-test against the leader is the same idea with the verdict's own statistics.

The race is a pure function of the scores, so it replays identically from what MLflow holds: a
resumed confirmation drops the same arms after the same rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from mtl.stats import Paired, holm, paired
from search.compare._scores import OBJECTIVE, ConfirmedArm

RACE_MIN_SEEDS = 3  # the first round that can drop an arm: a paired t-test needs a few pairs to mean anything


@dataclass(frozen=True)
class Dropped:
    """An arm dropped from the race: after ``seeds`` rounds it was worse than ``leader`` on the mean objective."""

    arm: str
    leader: str
    seeds: int
    difference: Paired  # arm - leader on the objective, over the first ``seeds`` seeds
    p_holm: float
    threshold: float  # alpha / (rounds that can drop)


def confirmation_rounds(count: int, fuse: bool, racing: bool) -> list[range]:
    """The seed indices of each confirmation round: one seed a round unfused; fused, every seed at once
    without racing, and with racing two rounds of half the seeds (at least :data:`RACE_MIN_SEEDS`):
    each round is one fused training (one trace, more copies side by side) and the race looks once,
    halfway, where a look per 3 seeds would cost a round each and split alpha among more looks."""
    size = (max(RACE_MIN_SEEDS, -(-count // 2)) if racing else count) if fuse else 1
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def race_looks(count: int, fuse: bool) -> tuple[int, ...]:
    """The seed counts after which the race looks: the ends of the rounds from :data:`RACE_MIN_SEEDS` to ``count - 1``."""
    return tuple(r.stop for r in confirmation_rounds(count, fuse, racing=True) if RACE_MIN_SEEDS <= r.stop < count)


def race(confirmed: Sequence[ConfirmedArm], seeds: Sequence[int], reference: str, alpha: float, minimize: bool,
         looks: Sequence[int], upto: int | None = None) -> tuple[Dropped, ...]:
    """Replay the race on the confirmed scores at its ``looks`` (:func:`race_looks`) up to ``upto`` seeds
    (all by default): the arms dropped.

    Only tuned arms race (the single-task pseudo-arm is a reference, confirmed in full). A look at
    which an arm in contention lacks a seed (its training failed) compares on the seeds present.
    """
    upto = len(seeds) if upto is None else upto
    by_arm = {c.arm: c for c in confirmed if c.trial is not None}
    contenders = list(by_arm)
    dropped: list[Dropped] = []
    for n in (n for n in looks if n <= upto):
        first = seeds[:n]
        means = {a: statistics.fmean(values) for a in contenders
                 if (values := [by_arm[a].scores[s][OBJECTIVE] for s in first if s in by_arm[a].scores])}
        if len(means) < 2:
            break
        leader = (min if minimize else max)(means, key=means.__getitem__)
        others = [a for a in contenders if a not in (leader, reference) and a in means]
        tests = []
        for arm in others:
            common = [s for s in first if s in by_arm[arm].scores and s in by_arm[leader].scores]
            tests.append(paired([by_arm[arm].scores[s][OBJECTIVE] for s in common],
                                [by_arm[leader].scores[s][OBJECTIVE] for s in common]))
        for arm, test, p in zip(others, tests, holm([t.p for t in tests]), strict=True):
            worse = test.mean > 0 if minimize else test.mean < 0
            if worse and p < alpha / len(looks):
                dropped.append(Dropped(arm, leader, n, test, p, alpha / len(looks)))
                contenders.remove(arm)
    return tuple(dropped)
