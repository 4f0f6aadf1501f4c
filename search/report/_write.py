"""Write the report: ``report.md``, a self-contained ``report.html`` and the PNGs, optionally logged to MLflow.

Artifacts (in ``out_dir``, and under ``report/`` in the study's MLflow parent run): ``report.md``,
``report.html``, and those of ``optimization_history.png``, ``task_metrics.png``,
``param_importances.png``, ``parallel_coordinate.png`` that the trials allow, ``task_affinity.png``
where the study has a task-affinity run, and a comparison's ``effects.png`` and ``budget_curves.png``
(shown beside each other under the verdict, with a sentence on whether the arms' order depends on the budget).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from mtl.budget import order_at, order_holds_from
from search.report._data import Report
from search.report._plots import ANSWER, close, interactive_figures, report_figures
from search.report._tables import Table, report_tables
from search.tracking import Tracker

REPORT_MD, REPORT_HTML, ARTIFACT_DIR = "report.md", "report.html", "report"
PLOTLY_JS = "plotly.min.js"  # what plotly writes beside its pages with include_plotlyjs="directory"
STYLE = ("body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin-bottom:1.5em}"
         "th,td{border:1px solid #ccc;padding:.25em .6em;font-size:90%;text-align:left}th{background:#f2f2f2}"
         "img{max-width:100%;display:block;margin-bottom:1.5em}")


def _answer(report: Report) -> list[str]:
    """The verdict's sentences, then the budget's (empty outside comparisons)."""
    budget = budget_sentence(report)
    return [*report.verdict.sentences(), *([budget] if budget else [])] if report.verdict else []


def budget_sentence(report: Report) -> str | None:
    """Whether the arms' order by expected best validation objective (the budget curves) changes with the budget:
    where another arm would lead at fewer trials, and from which n the order holds (None with fewer than two arms)."""
    curves = {arm: c for arm, c in (report.budgets or {}).items() if c.trials}
    if len(curves) < 2:
        return None
    minimize = report.direction == "minimize"
    last, k = min(c.trials for c in curves.values()), order_holds_from(curves, minimize)
    leader = order_at(curves, last, minimize)[0]
    holds = (f"by expected best validation objective of n tuning trials, the arms' order holds from n = {k} "
             f"trial{'s' if k > 1 else ''} per arm on (of {last})")
    other = next(((n, order_at(curves, n, minimize)[0]) for n in range(k - 1, 0, -1)
                  if order_at(curves, n, minimize)[0] != leader), None)
    if other is None:
        return f"budget: {holds}" + (f"; {leader} leads at every n" if k > 1 else "")
    n, first = other
    return f"budget: at {n} trial{'s' if n > 1 else ''} per arm {first} would lead, {leader} at {last}; {holds}"


def _intro(report: Report) -> list[str]:
    groups = "arms, each tuned in its own study on the same budget" if report.compares else "(strategy, weighting) groups"
    return [
        f"{len(report.trials)} finished trials in {len(report.rows)} {groups}; "
        f"tasks: {', '.join(report.tasks) or 'none'}; objective to {report.direction}.",
        "A group's best trial is its best COMPLETE trial: pruned trials carry a partial value and are not compared.",
        *(["Each arm's best configuration is retrained with the confirmation seeds (the same for every arm) and "
           "scored on the test split, which tuning never saw; arms are ranked by that, not by a tuning trial."]
          if report.compares else
          ["Repeats retrain each best configuration with further seeds (the same for every group); "
           "statistics are the mean ± sample standard deviation over the repeats that completed."]),
    ]


def _markdown(report: Report, tables: list[Table], images: list[str], pages: list[str]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"# Strategy comparison: study `{report.study_name}`", ""]
    if _answer(report):
        lines += ["## The answer", "", *(f"- {line}" for line in _answer(report)), ""]
        lines += [" ".join(f"![{Path(name).stem.replace('_', ' ')}]({name})" for name in ANSWER if name in images), ""]
    lines += [*_intro(report), ""]
    for table in tables:
        lines += [f"## {table.title}", "", "| " + " | ".join(table.header) + " |",
                  "|" + "|".join("---" for _ in table.header) + "|",
                  *("| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows), ""]
    if [name for name in images if name not in ANSWER]:
        lines += ["## Plots", "", *(f"![{Path(name).stem.replace('_', ' ')}]({name})\n" for name in images if name not in ANSWER)]
    if pages:
        lines += ["Interactive versions: " + ", ".join(f"[{Path(name).stem.replace('_', ' ')}]({name})" for name in pages), ""]
    return "\n".join(lines)


def _html(report: Report, tables: list[Table], images: dict[str, bytes], pages: list[str]) -> str:
    title = f"Strategy comparison: study {report.study_name}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if _answer(report):
        parts.append("<h2>The answer</h2><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in _answer(report)) + "</ul>")
        beside = "".join(f"<img alt='{html.escape(name)}' style='max-width:49%' src='data:image/png;base64,"
                         f"{base64.b64encode(images[name]).decode()}'>" for name in ANSWER if name in images)
        parts.append(f"<div style='display:flex;gap:1em;align-items:flex-start'>{beside}</div>" if beside else "")
    parts += [f"<p>{html.escape(line)}</p>" for line in _intro(report)]
    for table in tables:
        parts.append(f"<h2>{html.escape(table.title)}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in table.header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows]
        parts.append("</table>")
    if [name for name in images if name not in ANSWER]:
        parts.append("<h2>Plots</h2>")
        parts += [f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
                  for name, data in images.items() if name not in ANSWER]
    if pages:
        links = ", ".join(f"<a href='{html.escape(name)}'>{html.escape(Path(name).stem.replace('_', ' '))}</a>" for name in pages)
        parts.append(f"<p>Interactive versions: {links}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    report: Report, out_dir: str | Path, tracker: Tracker | None = None, parent_run_id: str | None = None
) -> list[Path]:
    """Write the report files into ``out_dir`` and return their paths (``report.md`` first).

    With ``tracker`` and ``parent_run_id`` every file is also logged under ``report/`` in that run.
    """
    if (tracker is None) != (parent_run_id is None):
        raise ValueError("give both tracker and parent_run_id, or neither")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = report_figures(report)
    try:
        for name, fig in figures.items():
            fig.savefig(out_dir / name, dpi=110)
    finally:
        for fig in figures.values():
            close(fig)
    pngs = [out_dir / name for name in figures]
    pages = []
    for name, figure in interactive_figures(report).items():  # plotly.js is written once, beside them
        figure.write_html(out_dir / name, include_plotlyjs="directory")
        pages.append(out_dir / name)
    tables = report_tables(report)
    markdown, page = out_dir / REPORT_MD, out_dir / REPORT_HTML
    markdown.write_text(_markdown(report, tables, [p.name for p in pngs], [p.name for p in pages]), encoding="utf-8")
    page.write_text(_html(report, tables, {p.name: p.read_bytes() for p in pngs}, [p.name for p in pages]), encoding="utf-8")
    paths = [markdown, page, *pngs, *pages, *([out_dir / PLOTLY_JS] if pages else [])]
    if tracker is not None and parent_run_id is not None:
        for path in paths:
            tracker.log_artifact(parent_run_id, str(path), ARTIFACT_DIR)
    return paths
