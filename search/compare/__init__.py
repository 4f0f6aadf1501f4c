"""Comparisons of designs: arms tuned on equal budgets, confirmed with paired seeds on the test split, judged per task."""

from __future__ import annotations

from mtl.stats import BETTER, NO_DIFFERENCE, WORSE
from search.compare._confirm import (
    SINGLE_TASK,
    confirm,
    confirm_before_race,
    confirmation_seeds,
    read_confirmations,
)
from search.compare._race import RACE_MIN_SEEDS, Dropped, confirmation_rounds, look_levels, race, race_looks
from search.compare._record import VERDICT_TABLE, read_verdict_table, record_verdict
from search.compare._run import conclude, verdict_of
from search.compare._scores import OBJECTIVE, ConfirmedArm
from search.compare._simulate import any_claim, simulated_arms
from search.compare._verdict import ArmStanding, Comparison, Verdict, decide, judge
from search.tracking import CONFIRM_KIND  # the confirmations' run kind (its home is the schema); kept here for readers

__all__ = [
    "ArmStanding",
    "BETTER",
    "CONFIRM_KIND",
    "Comparison",
    "ConfirmedArm",
    "Dropped",
    "NO_DIFFERENCE",
    "OBJECTIVE",
    "RACE_MIN_SEEDS",
    "SINGLE_TASK",
    "VERDICT_TABLE",
    "any_claim",
    "Verdict",
    "WORSE",
    "conclude",
    "confirm",
    "confirm_before_race",
    "confirmation_rounds",
    "confirmation_seeds",
    "decide",
    "judge",
    "look_levels",
    "race",
    "race_looks",
    "read_confirmations",
    "read_verdict_table",
    "record_verdict",
    "simulated_arms",
    "verdict_of",
]
