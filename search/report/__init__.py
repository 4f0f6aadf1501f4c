"""The strategy-comparison report of a study: data, tables, plots, the stored repeats, the end-of-sweep summary.

The report only reads: it draws what the study, its comparison and MLflow hold, and trains nothing."""

from __future__ import annotations

from search.report._build import build_report, run_report
from search.report._data import STATES, GroupRow, Report
from search.report._repeats import REPEAT_OFFSET, read_repeats, repeat_seed, stored_repeats
from search.report._summary import format_comparison, format_summary
from search.report._write import write_report

__all__ = ["REPEAT_OFFSET", "STATES", "GroupRow", "Report", "build_report", "format_comparison", "format_summary", "read_repeats",
           "repeat_seed", "run_report", "stored_repeats", "write_report"]
