"""Write the report: ``report.md``, a self-contained ``report.html`` and the PNGs, optionally logged to MLflow.

Artifacts (in ``out_dir``, and under ``report/`` in the study's MLflow parent run): ``report.md``,
``report.html``, and those of ``optimization_history.png``, ``task_metrics.png``,
``param_importances.png``, ``parallel_coordinate.png`` that the trials allow, and ``task_affinity.png``
where the study has a task-affinity run.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from search.report._data import Report
from search.report._plots import EFFECTS, close, interactive_figures, report_figures
from search.report._tables import Table, report_tables
from search.tracking import Tracker

REPORT_MD, REPORT_HTML, ARTIFACT_DIR = "report.md", "report.html", "report"
PLOTLY_JS = "plotly.min.js"  # what plotly writes beside its pages with include_plotlyjs="directory"
STYLE = ("body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin-bottom:1.5em}"
         "th,td{border:1px solid #ccc;padding:.25em .6em;font-size:90%;text-align:left}th{background:#f2f2f2}"
         "img{max-width:100%;display:block;margin-bottom:1.5em}")


def _answer(report: Report) -> list[str]:
    """The verdict's sentences (empty outside comparisons)."""
    return report.verdict.sentences() if report.verdict else []


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
        lines += [f"![effects]({EFFECTS})", ""] if EFFECTS in images else []
    lines += [*_intro(report), ""]
    for table in tables:
        lines += [f"## {table.title}", "", "| " + " | ".join(table.header) + " |",
                  "|" + "|".join("---" for _ in table.header) + "|",
                  *("| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows), ""]
    if [name for name in images if name != EFFECTS]:
        lines += ["## Plots", "", *(f"![{Path(name).stem.replace('_', ' ')}]({name})\n" for name in images if name != EFFECTS)]
    if pages:
        lines += ["Interactive versions: " + ", ".join(f"[{Path(name).stem.replace('_', ' ')}]({name})" for name in pages), ""]
    return "\n".join(lines)


def _html(report: Report, tables: list[Table], images: dict[str, bytes], pages: list[str]) -> str:
    title = f"Strategy comparison: study {report.study_name}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if _answer(report):
        parts.append("<h2>The answer</h2><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in _answer(report)) + "</ul>")
        if EFFECTS in images:
            parts.append(f"<img alt='effects' src='data:image/png;base64,{base64.b64encode(images[EFFECTS]).decode()}'>")
    parts += [f"<p>{html.escape(line)}</p>" for line in _intro(report)]
    for table in tables:
        parts.append(f"<h2>{html.escape(table.title)}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in table.header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows]
        parts.append("</table>")
    if [name for name in images if name != EFFECTS]:
        parts.append("<h2>Plots</h2>")
        parts += [f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
                  for name, data in images.items() if name != EFFECTS]
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
            tracker.client.log_artifact(parent_run_id, str(path), ARTIFACT_DIR)
    return paths
