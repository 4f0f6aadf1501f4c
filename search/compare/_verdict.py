"""Verdicts: every arm against the reference, per task and on the mean objective, from paired confirmation seeds.

For each arm other than the reference and each target (every task's objective metric on the test
split, and ``objective``, their mean) the seeds both arms completed are paired: the mean
difference (arm - reference), its 95% t interval, and a paired t-test's p-value. The p-values of
the whole family (arms x targets) are corrected with Holm's method; a target is ``better`` or
``worse`` where the corrected p-value is below ``alpha``, else ``no detectable difference``.
Arms are ranked by their mean confirmed test objective, never by a single tuning trial.

Where the study's single-task baselines were confirmed (the pseudo-arm ``single-task``), they are
a second reference: every arm, the reference included, is also compared with them, in the same
Holm family.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from mtl.stats import BETTER, NO_DIFFERENCE, Paired, holm, paired, verdict
from search.compare._race import Dropped
from search.compare._scores import OBJECTIVE, ConfirmedArm


@dataclass(frozen=True)
class Comparison:
    """One arm against a reference on one target: the paired difference, Holm's p-value and the word."""

    arm: str
    reference: str
    target: str  # a task name, or "objective"
    difference: Paired
    p_holm: float
    word: str

    def improvement(self, minimize: bool) -> tuple[float, float, float]:
        """How much better the arm is, in % of the reference's mean, with the interval (negative: worse)."""
        sign = -1.0 if minimize else 1.0
        d = self.difference
        ends = sorted((sign * d.relative(d.low), sign * d.relative(d.high)))
        return sign * d.relative(d.mean), ends[0], ends[1]


@dataclass(frozen=True)
class ArmStanding:
    """An arm's confirmed test objective: mean and standard deviation over its ``n`` seeds."""

    arm: str
    trial: int | None
    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class Verdict:
    """The answer of a comparison: standings (best first) and every arm-vs-reference comparison."""

    reference: str
    alpha: float
    minimize: bool
    seeds: int
    standings: tuple[ArmStanding, ...]
    comparisons: tuple[Comparison, ...]
    dropped: tuple[Dropped, ...] = ()  # arms the race stopped before their last seed

    @property
    def best(self) -> str | None:
        """The tuned arm with the best mean confirmed test objective (None if no arm was confirmed)."""
        return next((s.arm for s in self.standings if s.n and s.trial is not None), None)

    @property
    def references(self) -> tuple[str, ...]:
        """The reference, then any other reference the arms were compared with (the single-task baselines)."""
        return tuple(dict.fromkeys((self.reference, *(c.reference for c in self.comparisons))))

    def sentences(self) -> list[str]:
        """The verdict in plain sentences: differences found, then what shows none, then the ranking."""
        lines = []
        for reference in self.references:
            against = [c for c in self.comparisons if c.reference == reference]
            found = []
            for c in against:
                if c.word == NO_DIFFERENCE:
                    continue
                better, low, high = c.improvement(self.minimize)
                amount, low, high = (better, low, high) if c.word == BETTER else (-better, -high, -low)
                found.append(f"{c.target}: {c.arm} is {c.word} than {reference} by {amount:.0f}% "
                             f"(95% CI {low:.0f} to {high:.0f}%, Holm p = {c.p_holm:.2g})")
            quiet = sorted({c.arm for c in against} - {c.arm for c in against if c.word != NO_DIFFERENCE})
            if not found:
                found.append(f"no arm differs from {reference} by more than seed noise "
                             f"({self.seeds} seeds on the test split, Holm-corrected, alpha {self.alpha:g})")
            elif quiet:
                found.append(f"no detectable difference from {reference}: {', '.join(quiet)}")
            lines += found
        for d in self.dropped:
            worse = d.difference.relative(d.difference.mean) * (1.0 if self.minimize else -1.0)
            lines.append(f"{d.arm} was dropped after {d.seeds} seeds: worse than {d.leader} by {worse:.0f}% on the mean "
                         f"objective (Holm p = {d.p_holm:.2g} < {d.threshold:.2g}, the race's level); its verdicts above "
                         f"use those {d.seeds} seeds")
        unconfirmed = [s.arm for s in self.standings if s.n == 0]
        if unconfirmed:
            lines.append(f"not compared (no confirmed seed): {', '.join(unconfirmed)}")
        ranked = [s for s in self.standings if s.n]
        if ranked:
            lines.append("ranking by mean test objective: " + ", ".join(
                f"{s.arm} {s.mean:.4f}" + ("" if math.isnan(s.std) else f" ± {s.std:.4f}") for s in ranked))
        return lines

    def table(self) -> list[dict[str, Any]]:
        """One row per comparison, as MLflow's table and the report show it."""
        rows = []
        for c in self.comparisons:
            better, low, high = c.improvement(self.minimize)
            d = asdict(c.difference)
            rows.append({"arm": c.arm, "reference": c.reference, "target": c.target, "n": d["n"],
                         "mean_difference": d["mean"], "ci_low": d["low"], "ci_high": d["high"], "p": d["p"],
                         "p_holm": c.p_holm, "verdict": c.word, "improvement_pct": better,
                         "improvement_ci_low_pct": low, "improvement_ci_high_pct": high})
        return rows


def judge(confirmed: tuple[ConfirmedArm, ...], reference: str, targets: tuple[str, ...], alpha: float,
          minimize: bool, seeds: int, also: tuple[str, ...] = ()) -> Verdict:
    """Compare every confirmed arm with ``reference`` on ``targets`` (task names, then ``objective``).

    Each name in ``also`` is a further reference: every other arm, ``reference`` included, is
    compared with it too (pairs already compared are not repeated); one Holm family holds all.
    """
    by_arm = {c.arm: c for c in confirmed}
    standings = []
    for c in confirmed:
        values = [s[OBJECTIVE] for s in c.scores.values()]
        standings.append(ArmStanding(c.arm, c.trial, statistics.fmean(values) if values else math.nan,
                                     statistics.stdev(values) if len(values) > 1 else math.nan, len(values)))
    standings.sort(key=lambda s: (s.n == 0, s.mean if minimize else -s.mean, s.arm))
    raw: list[tuple[str, str, str, Paired]] = []
    references = (reference, *also)
    for index, ref_name in enumerate(references):
        ref = by_arm.get(ref_name)
        if ref is None:
            continue
        skip = {ref_name, *references[1:index]} if index else {ref_name, *also}  # each pair once
        for c in confirmed:
            if c.arm in skip:
                continue
            common = sorted(set(c.scores) & set(ref.scores))
            for target in (*targets, OBJECTIVE):
                raw.append((c.arm, ref_name, target,
                            paired([c.scores[s][target] for s in common], [ref.scores[s][target] for s in common])))
    adjusted = holm([d.p for *_, d in raw])
    comparisons = tuple(Comparison(arm, ref_name, target, d, p, verdict(d, p, alpha, minimize))
                        for (arm, ref_name, target, d), p in zip(raw, adjusted, strict=True))
    return Verdict(reference, alpha, minimize, seeds, tuple(standings), comparisons)
