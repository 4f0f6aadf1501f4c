"""A comparison from start to verdict: tune every arm, confirm each best with K seeds, judge, record."""

from __future__ import annotations

from collections.abc import Callable

from search.compare._confirm import SINGLE_TASK, confirm, confirmation_seeds, fused
from search.compare._race import race_looks
from search.compare._record import record_verdict
from search.compare._scores import ConfirmedArm
from search.compare._verdict import Verdict, decide, decide_designs
from search.engines import OpenSweep, crown_champion, finish_sweep
from search.trial import lean_process

Printer = Callable[[str], None]


def verdict_of(sweep: OpenSweep, confirmed: tuple[ConfirmedArm, ...]) -> Verdict:
    """The verdict of a comparison sweep on its ``confirmed`` results (:func:`~search.compare._verdict.decide`), with
    the space's reference and alpha, its race's looks, and the single-task baselines as a second reference where
    they were confirmed; with replicates, the design-level verdict (:func:`~search.compare._verdict.decide_designs`)."""
    compare = sweep.space.compare
    if compare is None:
        raise ValueError(f"space {sweep.space.path} compares nothing")
    minimize = sweep.space.objective.direction == "minimize"
    targets = tuple(t.name for t in sweep.splits.tasks)
    if compare.replicates > 1:
        return decide_designs(confirmed, compare.seeds, compare.reference, targets, compare.alpha, minimize)
    also = (SINGLE_TASK,) if any(c.arm == SINGLE_TASK for c in confirmed) else ()
    seeds = confirmation_seeds(sweep.space)
    looks = race_looks(len(seeds), fused(sweep.space)) if compare.racing else ()
    return decide(confirmed, seeds, compare.reference, targets, compare.alpha, minimize, looks, also)


def conclude(sweep: OpenSweep, printer: Printer = print, finish: bool = True) -> Verdict:
    """Confirm every arm's best configuration (resuming what MLflow already holds), judge and record the verdict.

    The best arm's best model becomes the registry champion where it improves on it. With ``finish``
    the parent run is then closed (FINISHED); an interruption ends it KILLED and
    an error FAILED, as during tuning.
    """
    space = sweep.space
    if space.compare is None:
        raise ValueError(f"space {space.path} compares nothing")
    try:
        with lean_process():
            confirmed = confirm(sweep, printer)
    except KeyboardInterrupt:
        sweep.tracker.end(sweep.parent_run_id, "KILLED", "INTERRUPTED")
        raise
    except BaseException as exc:
        sweep.tracker.end(sweep.parent_run_id, "FAILED", "FAIL", repr(exc))
        raise
    verdict = verdict_of(sweep, confirmed)
    record_verdict(sweep.tracker, sweep.parent_run_id, verdict)
    if finish:
        finish_sweep(sweep, printer, verdict=verdict)
    else:  # a report's confirmation: a line only where the champion moved (the sweep's end said where it stood)
        crown_champion(sweep, printer, say_kept=False, verdict=verdict)
    return verdict
