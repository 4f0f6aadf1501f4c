"""What confirmation yields: per arm and seed, the test score of every task and their mean, and the seeds that failed.

A failed seed (its training failed, or a score is missing or not finite) is part of the result: it
is never dropped from a comparison. Where one arm of a pair failed on a seed, that seed's value is
the worst finite value either arm of the pair reached on the target (:func:`paired_values`), so a
design cannot win by losing the seeds it fails on; where both failed, the seed is a tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

OBJECTIVE = "objective"  # the target name of the mean over tasks


@dataclass(frozen=True)
class ConfirmedArm:
    """One arm's confirmation: the tuning trial confirmed, per seed its test scores, and its failed seeds.

    ``scores`` maps seed -> target -> value, where the targets are the task names (each task's
    objective metric on the test split) and ``objective`` (their mean); a seed whose retraining
    failed, or gave a missing or non-finite score, is in ``failed`` instead.
    """

    arm: str
    trial: int | None  # None: the arm has no complete tuning trial
    scores: dict[int, dict[str, float]]
    run_ids: dict[int, str]
    failed: frozenset[int] = field(default_factory=frozenset)
    replicate: int = 0  # the comparison's replicate whose tuning and split these are

    @property
    def attempted(self) -> set[int]:
        """The seeds confirmed, successfully or not."""
        return set(self.scores) | set(self.failed)

    def upto(self, seeds: Sequence[int]) -> ConfirmedArm:
        """This arm with only the seeds in ``seeds``."""
        keep = set(seeds)
        return ConfirmedArm(self.arm, self.trial, {s: v for s, v in self.scores.items() if s in keep},
                            {s: v for s, v in self.run_ids.items() if s in keep}, frozenset(self.failed & keep), self.replicate)


@dataclass(frozen=True)
class PairedValues:
    """Two arms' values on one target over the seeds both attempted, failures scored (:func:`paired_values`)."""

    arm: list[float]
    reference: list[float]
    arm_failed: int
    reference_failed: int


def paired_values(arm: ConfirmedArm, reference: ConfirmedArm, target: str, minimize: bool,
                  seeds: Sequence[int] | None = None) -> PairedValues:
    """``arm``'s and ``reference``'s values on ``target`` over the seeds both attempted (within ``seeds``
    where given, in seed order), a failed seed scored as the worst finite value of the pair on ``target``
    (both failed: a tie at that value). Without any score, no pairs."""
    common = sorted(arm.attempted & reference.attempted & (set(seeds) if seeds is not None else arm.attempted))
    scored = [c.scores[s][target] for c in (arm, reference) for s in common if s in c.scores]
    if not scored:
        return PairedValues([], [], 0, 0)
    worst = max(scored) if minimize else min(scored)

    def values(c: ConfirmedArm) -> list[float]:
        return [c.scores[s][target] if s in c.scores else worst for s in common]

    return PairedValues(values(arm), values(reference), sum(s in arm.failed for s in common), sum(s in reference.failed for s in common))
