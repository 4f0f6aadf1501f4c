"""Verdicts: every arm against the reference, per task and on the mean objective, from paired confirmation seeds.

For each arm other than the reference and each target (every task's objective metric on the test
split, and ``objective``, their mean) the seeds both arms attempted are paired, a failed seed
scored as :func:`~search.compare._scores.paired_values` says (the pair's worst value): the mean
difference (arm - reference), its 95% t interval, the relative difference's Fieller interval, and
a paired t-test's p-value. Comparisons with fewer than two pairs are not tested. The p-values of
the family (arms x targets) are corrected with Holm's method at the verdict's level (``alpha``
less what the race spent, :func:`~search.compare._race.look_levels`); a target is ``better`` or
``worse`` where the corrected p-value is below that level, else ``no detectable difference``.
Arms are ranked by their mean confirmed test objective over the seeds every ranked arm attempted
(failures scored as the worst value any arm reached on that seed's set), never by a single tuning
trial.

Where the study's single-task baselines were confirmed (the pseudo-arm ``single-task``), they are
a second reference: every arm, the reference included, is also compared with them, in a second
Holm family of its own, so they do not dilute the primary verdicts.

The scope of a verdict is these tuned configurations (each arm's one best trial) on this test
split: its intervals cover seed noise, not which trial won the tuning or which rows are the test.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, replace
from typing import Any

from mtl.stats import BETTER, NO_DIFFERENCE, Paired, VarianceComponents, holm, paired, variance_components, verdict
from search.compare._race import Dropped, look_levels, race
from search.compare._scores import OBJECTIVE, ConfirmedArm, paired_values


@dataclass(frozen=True)
class Comparison:
    """One arm against a reference on one target: the paired difference, Holm's p-value and the word."""

    arm: str
    reference: str
    target: str  # a task name, or "objective"
    difference: Paired
    p_holm: float  # NaN: not tested (fewer than two pairs)
    word: str
    arm_failed: int = 0  # failed seeds among the pairs, scored as the pair's worst value
    reference_failed: int = 0
    per_replicate: tuple[Paired, ...] = ()  # with replicates: each replicate's own seed-level comparison
    components: VarianceComponents | None = None  # with replicates: seed and replicate standard deviations

    def pairs_said(self) -> str:
        """``n = 10`` (seeds; with replicates ``n = 3 replicates``) and, where seeds failed, how many on each side."""
        failed = f"; failed seeds: {self.arm} {self.arm_failed}, {self.reference} {self.reference_failed}" \
            if self.arm_failed or self.reference_failed else ""
        return f"n = {self.difference.n}{' replicates' if self.per_replicate else ''}{failed}"

    def improvement(self, minimize: bool) -> tuple[float, float, float]:
        """How much better the arm is, in % of the reference's mean, with its Fieller interval (negative: worse)."""
        sign = -1.0 if minimize else 1.0
        d = self.difference
        ends = sorted((sign * d.relative_low, sign * d.relative_high))
        return sign * d.relative(d.mean), ends[0], ends[1]


@dataclass(frozen=True)
class ArmStanding:
    """An arm's confirmed test objective: mean and standard deviation over the ``n`` seeds every ranked arm
    attempted, ``failed`` of them failed (scored as the worst value there)."""

    arm: str
    trial: int | None
    mean: float
    std: float
    n: int
    failed: int = 0


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
    level: float = math.nan  # the final look's level: alpha less what the race spent (alpha without racing)
    replicates: int = 1  # from 2 on, every comparison is design-level: the replicate is the unit

    @property
    def best(self) -> str | None:
        """The tuned arm with the best mean confirmed test objective (None if no arm was confirmed)."""
        return next((s.arm for s in self.standings if s.n and s.trial is not None), None)

    @property
    def references(self) -> tuple[str, ...]:
        """The reference, then any other reference the arms were compared with (the single-task baselines)."""
        return tuple(dict.fromkeys((self.reference, *(c.reference for c in self.comparisons))))

    def sentences(self) -> list[str]:
        """The verdict in plain sentences: differences found, then what shows none, then the ranking and the scope."""
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
                             f"(95% CI {low:.0f} to {high:.0f}%, Holm p = {c.p_holm:.2g}, {c.pairs_said()})")
            tested = [c for c in against if c.difference.tested]
            quiet = sorted({c.arm for c in tested} - {c.arm for c in against if c.word != NO_DIFFERENCE})
            if not found and tested:
                counts = sorted({c.difference.n for c in tested})
                unit = "replicates" if self.replicates > 1 else "paired seeds on the test split"
                noise = "seed, tuning and split noise" if self.replicates > 1 else "seed noise"
                found.append(f"no arm differs from {reference} by more than {noise} ({_span(counts)} {unit}, "
                             f"Holm-corrected at {self.level:.2g})")
            elif quiet:
                found.append(f"no detectable difference from {reference}: {', '.join(quiet)}")
            untested = sorted({c.arm for c in against if not c.difference.tested})
            if untested:
                found.append(f"not tested against {reference} (fewer than 2 paired seeds): {', '.join(untested)}")
            lines += found
        for d in self.dropped:
            worse = d.difference.relative(d.difference.mean) * (1.0 if self.minimize else -1.0)
            lines.append(f"{d.arm} was dropped after {d.seeds} seeds: worse than {d.leader} by {worse:.0f}% on the mean "
                         f"objective (Holm p = {d.p_holm:.2g} < {d.threshold:.2g}, the race's level at that look); its verdicts "
                         f"above use those {d.seeds} seeds")
        failures = [f"{s.arm} {s.failed} of {s.n}" for s in self.standings if s.failed]
        if failures:
            lines.append("failed seeds (scored as the worst value on that seed): " + ", ".join(failures))
        unconfirmed = [s.arm for s in self.standings if s.n == 0]
        if unconfirmed:
            lines.append(f"not compared (no confirmed seed): {', '.join(unconfirmed)}")
        ranked = [s for s in self.standings if s.n]
        if ranked:
            over = f"{ranked[0].n} replicate(s), mean ± sd of the replicates' means" if self.replicates > 1 \
                else f"{ranked[0].n} seed(s) every arm has"
            lines.append(f"ranking by mean test objective over the {over}: " + ", ".join(
                f"{s.arm} {s.mean:.4f}" + ("" if math.isnan(s.std) else f" ± {s.std:.4f}") for s in ranked))
            lines += self._components() + [self.scope()]
        return lines

    def scope(self) -> str:
        """What the verdict is a claim about."""
        if self.replicates > 1:
            return (f"scope: the designs, over {self.replicates} replicates (each re-cuts the rows and re-tunes every arm; "
                    "the replicate is the unit): the intervals cover seed, tuning and split noise")
        return ("scope: these tuned configurations (each arm's best trial) on this test split; the intervals cover seed "
                "noise, not tuning or split noise (replicates = 2 or more makes it a claim about the designs)")

    def _components(self) -> list[str]:
        """With replicates: each arm's seed and replicate standard deviations on the mean objective."""
        parts = [f"{c.arm} seed sd {c.components.seed:.4f}, replicate sd {c.components.replicate:.4f} "
                 f"({100 * c.components.replicate_share:.0f}% of a seed's variance)"
                 for c in self.comparisons if c.target == OBJECTIVE and c.components is not None
                 and not math.isnan(c.components.seed)]
        return [f"difference from {self.reference} on the mean objective, spread: " + "; ".join(parts)] if parts else []

    def table(self) -> list[dict[str, Any]]:
        """One row per comparison, as MLflow's table and the report show it."""
        rows = []
        for c in self.comparisons:
            better, low, high = c.improvement(self.minimize)
            d = asdict(c.difference)
            rows.append({"arm": c.arm, "reference": c.reference, "target": c.target, "n": d["n"],
                         "failed_arm": c.arm_failed, "failed_reference": c.reference_failed,
                         "mean_difference": d["mean"], "ci_low": d["low"], "ci_high": d["high"], "p": d["p"],
                         "p_holm": c.p_holm, "level": self.level, "verdict": c.word, "improvement_pct": better,
                         "improvement_ci_low_pct": low, "improvement_ci_high_pct": high, "replicate": "all"}
                        | ({"seed_sd": c.components.seed, "replicate_sd": c.components.replicate} if c.components else {}))
            for r, own in enumerate(c.per_replicate):  # each replicate's seed-level estimate, for the record
                rows.append({"arm": c.arm, "reference": c.reference, "target": c.target, "n": own.n, "mean_difference": own.mean,
                             "ci_low": own.low, "ci_high": own.high, "p": own.p, "verdict": "", "replicate": str(r)})
        return rows


def _span(counts: list[int]) -> str:
    """``5`` or ``5-10``: the range of pair counts."""
    return str(counts[0]) if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"


def standings_of(confirmed: tuple[ConfirmedArm, ...], minimize: bool) -> tuple[ArmStanding, ...]:
    """Every arm's standing over the seeds every arm with a seed attempted (failures as the worst value there), best first."""
    ranked = [c for c in confirmed if c.attempted]
    common = sorted(set.intersection(*(c.attempted for c in ranked))) if ranked else []
    scored = [c.scores[s][OBJECTIVE] for c in ranked for s in common if s in c.scores]
    worst = (max(scored) if minimize else min(scored)) if scored else math.nan
    standings = []
    for c in confirmed:
        values = [c.scores[s][OBJECTIVE] if s in c.scores else worst for s in common] if c in ranked else []
        standings.append(ArmStanding(c.arm, c.trial, statistics.fmean(values) if values else math.nan,
                                     statistics.stdev(values) if len(values) > 1 else math.nan, len(values),
                                     sum(s in c.failed for s in common) if c in ranked else 0))
    standings.sort(key=lambda s: (s.n == 0, s.mean if minimize else -s.mean, s.arm))
    return tuple(standings)


def judge(confirmed: tuple[ConfirmedArm, ...], reference: str, targets: tuple[str, ...], alpha: float,
          minimize: bool, seeds: int, also: tuple[str, ...] = (), level: float | None = None) -> Verdict:
    """Compare every confirmed arm with ``reference`` on ``targets`` (task names, then ``objective``).

    Each name in ``also`` is a further reference: every other arm, ``reference`` included, is
    compared with it too (pairs already compared are not repeated), in a Holm family per reference.
    ``level`` is what the verdict's families may spend (``alpha`` by default; less after a race).
    """
    level = alpha if level is None else level
    by_arm = {c.arm: c for c in confirmed}
    comparisons: list[Comparison] = []
    references = (reference, *also)
    for index, ref_name in enumerate(references):
        ref = by_arm.get(ref_name)
        if ref is None:
            continue
        skip = {ref_name, *references[1:index]} if index else {ref_name, *also}  # each pair once
        family = []
        for c in confirmed:
            if c.arm in skip:
                continue
            for target in (*targets, OBJECTIVE):
                values = paired_values(c, ref, target, minimize)
                family.append((c.arm, target, values, paired(values.arm, values.reference)))
        adjusted = holm([d.p for *_, d in family])
        comparisons += [Comparison(arm, ref_name, target, d, p, verdict(d, p, level, minimize), v.arm_failed, v.reference_failed)
                        for (arm, target, v, d), p in zip(family, adjusted, strict=True)]
    return Verdict(reference, alpha, minimize, seeds, standings_of(confirmed, minimize), tuple(comparisons), level=level)


def decide(confirmed: tuple[ConfirmedArm, ...], seeds: tuple[int, ...], reference: str, targets: tuple[str, ...], alpha: float,
           minimize: bool, looks: tuple[int, ...], also: tuple[str, ...] = ()) -> Verdict:
    """The comparison's verdict as one sequential design: the race at ``looks`` (none: no racing), every dropped
    arm cut to the seeds it had when dropped, then :func:`judge` at the level the race left."""
    dropped = race(confirmed, seeds, reference, alpha, minimize, looks) if looks else ()
    cut = {d.arm: seeds[:d.seeds] for d in dropped}
    kept = tuple(c.upto(cut[c.arm]) if c.arm in cut else c for c in confirmed)
    _, level = look_levels(alpha, looks, len(seeds))
    return replace(judge(kept, reference, targets, alpha, minimize, len(seeds), also, level), dropped=dropped)


def decide_designs(confirmed: tuple[ConfirmedArm, ...], seeds: int, reference: str, targets: tuple[str, ...], alpha: float,
                   minimize: bool) -> Verdict:
    """The design-level verdict of a comparison with replicates (``confirmed`` holds every arm of every replicate):
    per arm and target, each replicate's paired difference over its seeds (failures scored as in :func:`judge`),
    then the paired t-test of the arm's and the reference's replicate means (the replicate is the unit, so the
    interval covers tuning and split noise too), Holm over the family at ``alpha``, and the seed and replicate
    variance components of the per-seed differences."""
    count = 1 + max(c.replicate for c in confirmed)
    by_key = {(c.arm, c.replicate): c for c in confirmed}
    arms = list(dict.fromkeys(c.arm for c in confirmed))
    family = []
    for arm in (a for a in arms if a != reference):
        for target in (*targets, OBJECTIVE):
            arm_means, ref_means, own, groups, failed = [], [], [], [], [0, 0]
            for r in range(count):
                mine, ref = by_key.get((arm, r)), by_key.get((reference, r))
                if mine is None or ref is None:
                    continue
                values = paired_values(mine, ref, target, minimize)
                own.append(paired(values.arm, values.reference))
                if values.arm:
                    arm_means.append(statistics.fmean(values.arm))
                    ref_means.append(statistics.fmean(values.reference))
                    groups.append([a - b for a, b in zip(values.arm, values.reference)])
                failed = [failed[0] + values.arm_failed, failed[1] + values.reference_failed]
            family.append((arm, target, paired(arm_means, ref_means), tuple(own), variance_components(groups), failed))
    adjusted = holm([d.p for _, _, d, *_ in family])
    comparisons = tuple(Comparison(arm, reference, target, d, p, verdict(d, p, alpha, minimize), failed[0], failed[1], own, parts)
                        for (arm, target, d, own, parts, failed), p in zip(family, adjusted, strict=True))
    standings = []
    for arm in arms:
        means = [s.mean for r in range(count) for s in standings_of(tuple(c for c in confirmed if c.replicate == r), minimize)
                 if s.arm == arm and s.n]
        trial = by_key[(arm, 0)].trial if (arm, 0) in by_key else None
        standings.append(ArmStanding(arm, trial, statistics.fmean(means) if means else math.nan,
                                     statistics.stdev(means) if len(means) > 1 else math.nan, len(means),
                                     sum(len(c.failed) for c in confirmed if c.arm == arm)))
    standings.sort(key=lambda s: (s.n == 0, s.mean if minimize else -s.mean, s.arm))
    return Verdict(reference, alpha, minimize, seeds, tuple(standings), comparisons, level=alpha, replicates=count)
