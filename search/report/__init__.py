"""The strategy-comparison report of a study: data, tables, plots, repeats, the end-of-sweep summary."""

from __future__ import annotations

from search.report._build import build_report, run_report
from search.report._data import STATES
from search.report._repeats import repeat_best
from search.report._summary import format_comparison, format_summary
from search.report._write import write_report

__all__ = ["STATES", "build_report", "format_comparison", "format_summary", "repeat_best", "run_report", "write_report"]
