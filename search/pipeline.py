"""The run pipeline that ``python -m search run`` and :func:`search.run` share: open (or resume) a sweep, tune it,
confirm and judge a comparison (or close a sweep that compares nothing), write the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from search.compare import Verdict, conclude
from search.engines import OpenSweep, SweepResult, finish_sweep, open_sweep, tune_sweep
from search.report import run_report
from search.space import Space
from search.stores import default_storage, default_tracking_uri

REPORTS = Path("reports")


@dataclass(frozen=True)
class Outcome:
    """A finished run: the sweep, a comparison's verdict or a plain sweep's result, and the report written."""

    sweep: OpenSweep
    verdict: Verdict | None  # a comparison's answer
    result: SweepResult | None  # a sweep that compares nothing: its study and best trial
    report: Path | None  # ``report.md``, where one was written


def run_pipeline(space: Space, study: str | None = None, storage: str | None = None, tracking_uri: str | None = None,
                 trials: int | None = None, timeout: float | None = None, *, frame: pd.DataFrame | None = None,
                 reports: Path | None = REPORTS, tune: Callable[[OpenSweep], None] | None = None,
                 printer: Callable[[str], None] = print) -> Outcome:
    """Run (or resume) a sweep of ``space`` from start to report.

    ``frame`` is a table used in place of the file ``[data] source`` names. ``tune`` tunes the open sweep
    (default: :func:`search.engines.tune_sweep` with ``timeout``; the CLI's ``--jobs`` passes its own). A
    comparison is then confirmed, judged and recorded (:func:`search.compare.conclude`); a sweep that compares
    nothing is closed (:func:`search.engines.finish_sweep`). The report goes to ``reports/<study>/`` (none where
    ``reports`` is None).
    """
    storage, tracking_uri = storage or default_storage(), tracking_uri or default_tracking_uri()
    sweep = open_sweep(space, study, storage, tracking_uri, trials, frame=frame)
    if tune is None:
        tune_sweep(sweep, timeout, printer)
    else:
        tune(sweep)
    verdict = conclude(sweep, printer) if sweep.compares else None
    result = finish_sweep(sweep, printer) if verdict is None else None
    name = sweep.study.study_name
    report = run_report(name, storage, tracking_uri, reports / name, printer, frame=frame) if reports is not None else None
    return Outcome(sweep, verdict, result, report)
