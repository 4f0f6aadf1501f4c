"""Budget curves against a direct computation: the best of every n-tuple of the observed values, exhaustively."""

from __future__ import annotations

import itertools
import statistics

import pytest

from mtl.budget import BudgetCurve, expected_best, order_at, order_holds_from

VALUES = [0.31, 0.27, 0.35, 0.27, 0.40]  # a tie included


def direct(values: list[float], n: int, minimize: bool) -> tuple[float, float]:
    """Mean and (population) standard deviation of the best of each of the N^n equally likely draws with replacement."""
    pick = min if minimize else max
    bests = [pick(draw) for draw in itertools.product(values, repeat=n)]
    return statistics.fmean(bests), statistics.pstdev(bests)


@pytest.mark.parametrize("minimize", [True, False])
def test_expected_best_is_the_mean_and_spread_of_the_best_over_every_n_tuple(minimize: bool) -> None:
    curve = expected_best(VALUES, minimize)
    assert curve.trials == len(VALUES)
    for n in range(1, len(VALUES) + 1):
        mean, std = direct(VALUES, n, minimize)
        assert curve.mean[n - 1] == pytest.approx(mean, abs=1e-12) and curve.std[n - 1] == pytest.approx(std, abs=1e-12)
    assert curve.mean[0] == pytest.approx(statistics.fmean(VALUES))  # one draw: the mean trial
    steps = [b - a for a, b in zip(curve.mean, curve.mean[1:])]
    assert all(s <= 1e-15 for s in steps) if minimize else all(s >= -1e-15 for s in steps)  # more trials never hurt


def test_degenerate_inputs() -> None:
    assert expected_best([]) == BudgetCurve((), ())
    assert expected_best([0.5]) == BudgetCurve((0.5,), (0.0,))
    with pytest.raises(ValueError, match="finite"):
        expected_best([0.1, float("nan")])


def test_the_order_and_the_budget_it_holds_from() -> None:
    steady = expected_best([0.30, 0.30, 0.30, 0.30])  # the same every trial
    lucky = expected_best([0.50, 0.50, 0.50, 0.10])  # worse on average, one great trial
    curves = {"steady": steady, "lucky": lucky}
    assert order_at(curves, 1) == ("steady", "lucky") and order_at(curves, 4) == ("lucky", "steady")
    k = order_holds_from(curves)
    assert 1 < k <= 4 and all(order_at(curves, n) == ("lucky", "steady") for n in range(k, 5))
    assert order_at(curves, k - 1) == ("steady", "lucky")
    assert order_holds_from({"a": expected_best([0.1, 0.2]), "b": expected_best([0.3, 0.4])}) == 1
    assert order_holds_from({"a": expected_best([0.1]), "b": BudgetCurve((), ())}) == 0
