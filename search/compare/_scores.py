"""What confirmation yields: per arm and seed, the test score of every task and their mean."""

from __future__ import annotations

from dataclasses import dataclass

OBJECTIVE = "objective"  # the target name of the mean over tasks


@dataclass(frozen=True)
class ConfirmedArm:
    """One arm's confirmation: the tuning trial confirmed and, per seed, its test scores.

    ``scores`` maps seed -> target -> value, where the targets are the task names (each task's
    objective metric on the test split) and ``objective`` (their mean); seeds whose retraining
    failed are absent.
    """

    arm: str
    trial: int | None  # None: the arm has no complete tuning trial
    scores: dict[int, dict[str, float]]
    run_ids: dict[int, str]
