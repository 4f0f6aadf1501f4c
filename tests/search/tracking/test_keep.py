"""[tracking] log_models, decided run by run: tuning trials keep a model while they lead, retrainings as the setting says."""

from __future__ import annotations

import pytest

from search.tracking import ModelKeeping


def keeping(policy: str) -> tuple[ModelKeeping, dict[str, str | None]]:
    """A keeper following one tuning loop whose best so far is ``leader["run"]``, with runs of every kind started."""
    leader: dict[str, str | None] = {"run": None}
    keep = ModelKeeping(policy)
    keep.follow(lambda: leader["run"])
    for run, kind in (("t1", "trial"), ("t2", "trial"), ("c1", "confirmation"), ("r1", "repeat"), ("b1", "baseline")):
        keep.started(run, kind)
    keep.started("plain", None)
    return keep, leader


@pytest.mark.parametrize("policy, retrainings", [("all", True), ("confirmations", True), ("best", False)])
def test_each_setting_keeps_what_it_says(policy: str, retrainings: bool) -> None:
    keep, leader = keeping(policy)
    leader["run"] = "t2"  # t1 led, then t2 beat it before t1's artifacts were written
    assert keep.keeps("t1") is (policy == "all")
    assert keep.keeps("t2") is True  # the loop's best always keeps its model
    assert keep.keeps("c1") is retrainings and keep.keeps("r1") is retrainings
    assert keep.keeps("b1") is True and keep.keeps("plain") is True  # baselines, and runs of no kind, always


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="log_models 'some'"):
        ModelKeeping("some")
