"""How certain the affinity matrix is, and the candidates it supports.

The pass measures the lookahead affinity on many training steps; its matrix is their median
(:mod:`mtl.affinity.lookahead`). The uncertainty is a nonparametric bootstrap over those measured
steps (Efron and Tibshirani, "An Introduction to the Bootstrap", 1993): ``draws`` resamples of the
steps with replacement, each giving a median matrix. The spread of a cell is the standard deviation
of its bootstrap medians; the spread of a partition's score is that of the score over the resamples.

**Candidates are ranked by their support**: the share of resamples in which a candidate scores highest
among the candidates (ties broken by the score), so a partition whose score rests on a few lucky
batches ranks below one that most resamples support. (A lower bound, score - 1.645 spread, was tried
and dropped: it favours splitting a task off a planted cluster, since fewer pairs make a smaller spread.)

**Can the groups be told apart?** The best partition with between 2 and T - 1 groups is chosen on
each resample's median (in bag) and judged on the steps that resample left out (out of bag, about
37% of them; Breiman, "Out-of-bag estimation", 1996): its within-group affinity (the mean of the
pairs in the same group) minus its across-group affinity (the mean of the other pairs). Judging on
steps the choice never saw removes the choice's optimism: on a matrix of pure noise the chosen
partition's in-bag contrast is positive, its out-of-bag one is not. The groups are told apart when
at least ``level`` (95%) of the out-of-bag contrasts are positive; otherwise the pass offers only the
all-singletons and the one-group partitions (``independent``, then ``hard``: without evidence of groups,
no sharing first; a matrix of all-positive affinity gives ``hard`` the higher score, and on planted
clusters with a narrow trunk that is the worst partition of all). The steps of one training
are not independent draws (they share the training's trajectory), so the spread is that of the
batches within one training, not across trainings with other seeds.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtl.affinity.partitions import EXHAUSTIVE_UP_TO, _ordered, _set_partitions, candidate_partitions
from mtl.partition import Partition

DRAWS = 200
LEVEL = 0.95
CANNOT_TELL = "the affinity pass cannot tell these tasks' groups apart on this data"


@dataclass(frozen=True)
class Proposal:
    """What the pass offers: ``candidates`` ranked best first with their ``scores``, score ``spreads`` and
    ``support`` (the share of resamples where each scores highest of them); ``separable``: whether the groups were told apart (else only the
    one-group and all-singletons partitions are offered); ``separation``: the median out-of-bag
    within-minus-across contrast, ``separated``: the share of positive ones; ``spread``: each cell's
    bootstrap standard deviation."""

    candidates: tuple[Partition, ...]
    scores: tuple[float, ...]
    spreads: tuple[float, ...]
    support: tuple[float, ...]
    separable: bool
    separation: float
    separated: float
    spread: np.ndarray


def bootstrap_medians(samples: np.ndarray, draws: int = DRAWS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Median matrices of ``draws`` resamples of ``samples`` (steps x T x T, NaN where unmeasured): in bag and
    out of bag (the steps a resample did not draw; NaN where it drew them all), each draws x T x T."""
    steps = samples.shape[0]
    picks = np.random.default_rng(seed).integers(0, steps, size=(draws, steps))
    left_out = np.ones((draws, steps), dtype=bool)
    np.put_along_axis(left_out, picks, False, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN cell of one resample stays NaN
        inside = np.nanmedian(samples[picks], axis=1)
        outside = np.nanmedian(np.where(left_out[:, :, None, None], samples[None], np.nan), axis=1)
    return inside, outside


def matrix_spread(samples: np.ndarray, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """Each cell's bootstrap standard deviation of the median over the measured steps (T x T)."""
    if samples.shape[0] < 2:
        return np.full(samples.shape[1:], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanstd(bootstrap_medians(samples, draws, seed)[0], axis=0, ddof=1))


def _masks(partitions: Sequence[Partition], tasks: Sequence[str]) -> np.ndarray:
    """partitions x T x T: True where i != j share a group."""
    index = {t: i for i, t in enumerate(tasks)}
    same = np.zeros((len(partitions), len(tasks), len(tasks)), dtype=bool)
    for p, partition in enumerate(partitions):
        for group in partition:
            members = [index[t] for t in group]
            same[p][np.ix_(members, members)] = True
    same[:, np.arange(len(tasks)), np.arange(len(tasks))] = False
    return same


def scores(matrices: np.ndarray, partitions: Sequence[Partition], tasks: Sequence[str]) -> np.ndarray:
    """:func:`~mtl.affinity.partitions.partition_score` of every partition under every matrix (N x T x T): N x P."""
    same = _masks(partitions, tasks).astype(float)
    finite = np.isfinite(matrices)
    total = np.einsum("pij,nij->npj", same, np.where(finite, matrices, 0.0))
    count = np.einsum("pij,nij->npj", same, finite.astype(float))
    return np.asarray(np.where(count > 0, total / np.maximum(count, 1.0), 0.0).sum(axis=2))


def contrasts(matrices: np.ndarray, partitions: Sequence[Partition], tasks: Sequence[str]) -> np.ndarray:
    """Mean within-group minus mean across-group affinity (off the diagonal, finite cells) of each partition
    under each matrix: N x P."""
    same = _masks(partitions, tasks)
    across = ~same
    across[:, np.arange(len(tasks)), np.arange(len(tasks))] = False
    finite = np.isfinite(matrices)
    values = np.where(finite, matrices, 0.0)

    def mean(mask: np.ndarray) -> np.ndarray:
        total = np.einsum("pij,nij->np", mask.astype(float), values)
        count = np.einsum("pij,nij->np", mask.astype(float), finite.astype(float))
        return np.asarray(np.where(count > 0, total / np.maximum(count, 1.0), np.nan))

    return np.asarray(mean(same) - mean(across))


def propose(samples: np.ndarray, matrix: np.ndarray, tasks: Sequence[str], draws: int = DRAWS, seed: int = 0,
            level: float = LEVEL) -> Proposal:
    """The candidates of ``matrix`` (the median of ``samples``, steps x T x T) ranked by their support,
    or only the one-group and all-singletons partitions where the groups cannot be told apart."""
    found = candidate_partitions(matrix, tasks)
    if samples.shape[0] < 2:  # nothing to resample: no uncertainty, nothing told apart
        spread = np.full(matrix.shape, np.nan)
        ends = (found[0], found[-1])
        plain = scores(matrix[None], ends, tasks)[0]
        return Proposal(ends[::-1], tuple(map(float, plain[::-1])), (np.nan, np.nan), (np.nan, np.nan), False,
                        np.nan, 0.0, spread)
    inside, outside = bootstrap_medians(samples, draws, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanstd(inside, axis=0, ddof=1)
    middle = [p for p in (_all_partitions(tasks) if len(tasks) <= EXHAUSTIVE_UP_TO else found) if 1 < len(p) < len(tasks)]
    if middle:
        chosen = scores(inside, middle, tasks).argmax(axis=1)
        judged = contrasts(outside, middle, tasks)[np.arange(draws), chosen]
        judged = judged[np.isfinite(judged)]
        separated = float(np.mean(judged > 0)) if judged.size else 0.0
        separation = float(np.median(judged)) if judged.size else np.nan
        separable = separated >= level
    else:  # two tasks: hard and independent are every partition there is
        separated, separation, separable = 1.0, np.nan, True
    offered = found if separable else [found[-1], found[0]]
    point = scores(matrix[None], offered, tasks)[0]
    resampled = scores(inside, offered, tasks)
    spreads = resampled.std(axis=0, ddof=1)
    support = np.bincount(resampled.argmax(axis=1), minlength=len(offered)) / draws
    order = sorted(range(len(offered)), key=lambda k: (-support[k], -point[k])) if separable else [0, 1]
    return Proposal(tuple(offered[k] for k in order), tuple(float(point[k]) for k in order),
                    tuple(float(spreads[k]) for k in order), tuple(float(support[k]) for k in order),
                    separable, separation, separated, spread)


def _all_partitions(tasks: Sequence[str]) -> list[Partition]:
    """Every partition of ``tasks``, canonically ordered."""
    order = {t: i for i, t in enumerate(tasks)}
    return [_ordered(list(p), order) for p in _set_partitions(tuple(tasks))]
