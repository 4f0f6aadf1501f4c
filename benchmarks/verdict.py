"""Time to a verdict: confirmation one seed at a time, fused, and fused with racing.

Run by hand: ``python benchmarks/verdict.py [--quick] [--cases default,aa,planted]``.

Each case is a comparison, tuned once; its arms' best configurations are then confirmed three
ways, each under a parent run of its own in the same stores, so the three confirm the same tuned
configurations with the same seeds:

- **sequential**: ``fuse = false, racing = false``, every seed of every arm trained alone with Keras' own
  ``fit`` (``MTL_STACK=0``: not as a stack of one, which the harness does otherwise);
- **fused**: ``fuse = true, racing = false``, each arm's seeds trained side by side as one model;
- **fused + racing**: ``fuse = true, racing = true`` (the default), rounds of 3 fused seeds and an
  arm clearly worse than the leader dropped after a round.

Time to verdict = the tuning time (shared) + that way's confirmation and judgement; where the space
stacks tuning trials (``[study] batch``, the default space's ``"startup"``), the sequential way's
tuning is a second tuning of the same case one trial at a time (``batch = 1``, each trial a Keras ``fit``),
and the figures say whether it found the same best trials. Cases:
``default`` (``spaces/default.toml`` as it is), ``aa`` (two identical ``hard`` arms on the default
data: no effect) and ``planted`` (a ``hard`` arm against one that cannot learn: a large effect),
as in ``benchmarks/calibration.py``. Prints the times, their ratio to sequential, and whether
the verdicts agree (every arm x reference x target word; a raced arm's targets are judged on the
seeds it had). Writes ``benchmarks/results/verdict.json`` and ``verdict.png``. Goal: time to
verdict at most 0.5 of sequential, with the same verdicts.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import matplotlib.pyplot as plt
from common import REPO, parser, print_table, save_results, silent, temp_stores, warm_up

from search.compare import Verdict, conclude
from search.engines import OpenSweep, best_trial, open_sweep, tune_sweep
from search.space import Space

WAYS = {"sequential": {"fuse": False, "racing": False}, "fused": {"fuse": True, "racing": False},
        "fused + racing": {"fuse": True, "racing": True}}
STUCK = {"strategy": "hard", "shared_depth": 1, "shared_width": 1, "tower_depth": 0, "learning_rate": 1e-6}


@contextmanager
def keras_fit(on: bool) -> Iterator[None]:
    """While the block runs, every model trains alone with Keras' own ``fit`` where ``on`` (``MTL_STACK=0``)."""
    if not on:
        yield
        return
    os.environ["MTL_STACK"] = "0"
    try:
        yield
    finally:
        del os.environ["MTL_STACK"]


def case_space(case: str, quick: bool) -> Space:
    """The comparison of ``case``, from ``spaces/default.toml``."""
    doc: dict[str, Any] = tomllib.loads((REPO / "spaces" / "default.toml").read_text())
    doc["study"]["name"] = f"verdict-{case}"
    if case == "aa":
        doc["study"]["trials"] = 4
        doc["compare"] = {**doc["compare"], "reference": "hard", "arms": {"hard": {"strategy": "hard"}, "hard-again": {"strategy": "hard"}}}
    elif case == "planted":
        doc["study"]["trials"] = 4
        doc["compare"] = {**doc["compare"], "reference": "stuck", "arms": {"learns": {"strategy": "hard"}, "stuck": STUCK}}
    if quick:
        doc["study"]["trials"] = 2
        doc["training"] = {"epochs": 5, "patience": 5}
        doc["compare"]["seeds"] = 4
    return Space.from_dict(doc, f"<verdict {case}>")


def confirm_way(sweep: OpenSweep, way: str) -> tuple[float, Verdict]:
    """Confirm and judge ``sweep``'s tuned arms the ``way`` says, under a parent run of its own: (seconds, verdict)."""
    compare = sweep.space.compare
    assert compare is not None
    space = replace(sweep.space, compare=replace(compare, **WAYS[way]))
    parent = sweep.tracker.open_parent(None, f"confirm {way}", {}, {"kind": "benchmark", "way": way})
    started = time.perf_counter()
    with keras_fit(way == "sequential"):
        verdict = conclude(replace(sweep, space=space, parent_run_id=parent), printer=silent, finish=False)
    return time.perf_counter() - started, verdict


def words(verdict: Verdict) -> dict[tuple[str, str, str], str]:
    """Every comparison's word, by (arm, reference, target)."""
    return {(c.arm, c.reference, c.target): c.word for c in verdict.comparisons}


def tune(space: Space, stores: dict[str, str], lone: bool = False) -> tuple[OpenSweep, float, dict[str, dict[str, Any] | None]]:
    """Tune ``space`` into ``stores`` (every trial a Keras ``fit`` where ``lone``): the sweep, the seconds it took, and
    each arm's best trial's parameters."""
    sweep = open_sweep(space, **stores)
    started = time.perf_counter()
    with keras_fit(lone):
        tune_sweep(sweep, printer=silent)
    seconds = time.perf_counter() - started
    return sweep, seconds, {str(arm.name): getattr(best_trial(arm.study), "params", None) for arm in sweep.arms}


def run_case(case: str, quick: bool) -> dict[str, Any]:
    """Tune ``case`` once (and, where its space stacks tuning trials, once more one by one: the sequential
    baseline's tuning), confirm it the three ways; its figures."""
    space = case_space(case, quick)
    with temp_stores() as stores:
        sweep, tuning, best = tune(space, stores)
        results = {way: confirm_way(sweep, way) for way in WAYS}
    one_by_one, same_best = tuning, True
    if space.study.batch != 1:
        with temp_stores() as stores:
            _, one_by_one, alone_best = tune(replace(space, study=replace(space.study, batch=1)), stores, lone=True)
        same_best = alone_best == best
    base = words(results["sequential"][1])
    sequential = one_by_one + results["sequential"][0]
    figures: dict[str, Any] = {"tuning_s": round(tuning, 1), "batch": space.study.batch,
                               "tuning_one_by_one_s": round(one_by_one, 1), "same_best_trials_one_by_one": same_best}
    for way, (seconds, verdict) in results.items():
        mine = words(verdict)
        tuned = one_by_one if way == "sequential" else tuning
        figures[way] = {
            "tuning_s": round(tuned, 1),
            "confirm_s": round(seconds, 1),
            "to_verdict_s": round(tuned + seconds, 1),
            "ratio_to_sequential": round((tuned + seconds) / sequential, 3),
            "agrees": mine == base,
            "objective_agrees": {k: v for k, v in mine.items() if k[2] == "objective"}
                                == {k: v for k, v in base.items() if k[2] == "objective"},
            "disagreements": [f"{a} vs {r} on {t}: {mine.get((a, r, t))} (sequential: {w})"
                              for (a, r, t), w in base.items() if mine.get((a, r, t)) != w],
            "dropped": [f"{d.arm} after {d.seeds} seeds" for d in verdict.dropped],
            "best": verdict.best,
            "sentences": verdict.sentences()[:6],
        }
    return figures


def main() -> None:
    """Run the cases, print the table, save the figures and a bar chart of the times."""
    cli = parser("Time to a verdict: sequential, fused, and fused-with-racing confirmation.")
    cli.add_argument("--cases", default="default,aa,planted", help="comma-separated: default, aa, planted")
    args = cli.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    warm_up()
    figures = {}
    for case in cases:
        print(f"{case}: tuning, then confirming three ways ...", flush=True)
        figures[case] = run_case(case, args.quick)
    rows = [(case, way, f[way]["tuning_s"], f[way]["confirm_s"], f[way]["to_verdict_s"], f[way]["ratio_to_sequential"],
             f[way]["agrees"], f[way]["objective_agrees"], ", ".join(f[way]["dropped"]) or "-")
            for case, f in figures.items() for way in WAYS]
    print_table("time to verdict (s)", ["case", "way", "tuning", "confirm", "to verdict", "x sequential", "same verdicts",
                                         "same on objective", "dropped"], rows)
    for case, f in figures.items():
        for way in WAYS:
            for line in f[way]["disagreements"]:
                print(f"  {case}, {way}: {line}")
    figure, axes = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(WAYS)
    for index, way in enumerate(WAYS):
        xs = [c + (index - 1) * width for c in range(len(cases))]
        axes.bar(xs, [figures[c][way]["tuning_s"] for c in cases], width, color="#cccccc", label="tuning" if index == 0 else None)
        axes.bar(xs, [figures[c][way]["confirm_s"] for c in cases], width, bottom=[figures[c][way]["tuning_s"] for c in cases],
                 label=f"confirmation, {way}")
    axes.set_xticks(range(len(cases)), cases)
    axes.set_ylabel("seconds from start to verdict")
    axes.set_title("Time to a verdict (2-core CPU)")
    axes.legend(fontsize=8)
    save_results("verdict", args.quick, {"cases": cases, "ways": WAYS}, figures, figure)


if __name__ == "__main__":
    main()
