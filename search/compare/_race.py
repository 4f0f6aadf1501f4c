"""Racing: confirmation in rounds of seeds, and an arm already clearly worse than the leader dropped early.

Confirmation trains seed 1 of every arm in contention, then seed 2, and so on. After round ``n``
(every arm in contention has its first ``n`` seeds), for ``n`` from :data:`RACE_MIN_SEEDS` to
``K - 1``, the arm with the best mean objective over those seeds leads; every other arm in
contention, except the reference (never dropped: every verdict is against it), is compared with the
leader on the mean objective by a paired t-test over the ``n`` seeds. The p-values of one round are
Holm-corrected across those arms, and an arm is dropped where its corrected p-value is below
``alpha / L`` and its mean is worse, ``L = K - RACE_MIN_SEEDS`` being the number of rounds that can
drop. Bonferroni over the rounds and Holm within one keep the chance of dropping any arm that is
not worse below ``alpha`` over the whole race: at least as strict as the verdict's own family-wise
rate. A dropped arm keeps the seeds it had, is judged on them (pairs with the reference on the
seeds both have) and is reported "worse" than the leader, with the seeds it had.

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


def race_rounds(k: int) -> int:
    """How many rounds of a K-seed confirmation can drop an arm."""
    return max(0, k - RACE_MIN_SEEDS)


def race(confirmed: Sequence[ConfirmedArm], seeds: Sequence[int], reference: str, alpha: float, minimize: bool,
         rounds: int | None = None) -> tuple[Dropped, ...]:
    """Replay the race on the confirmed scores over the first ``rounds`` seeds (all by default): the arms dropped.

    Only tuned arms race (the single-task pseudo-arm is a reference, confirmed in full). A round
    in which an arm in contention lacks a seed (its training failed) compares on the seeds present.
    """
    looks = race_rounds(len(seeds))
    rounds = len(seeds) if rounds is None else rounds
    by_arm = {c.arm: c for c in confirmed if c.trial is not None}
    contenders = list(by_arm)
    dropped: list[Dropped] = []
    for n in range(RACE_MIN_SEEDS, min(rounds, len(seeds) - 1) + 1):
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
            if worse and p < alpha / looks:
                dropped.append(Dropped(arm, leader, n, test, p, alpha / looks))
                contenders.remove(arm)
    return tuple(dropped)
