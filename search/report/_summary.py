"""The plain-text summaries printed at the end of a sweep: trial counts and the best trial, or a comparison's verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial

from search.compare import Verdict
from search.engines import ArmStudy, best_trial, mean_objective


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def state_counts(study: optuna.Study) -> dict[str, int]:
    """Number of trials in each state, e.g. ``{"COMPLETE": 20, "FAIL": 1}``."""
    return dict(Counter(t.state.name for t in study.get_trials(deepcopy=False)))


def format_summary(study: optuna.Study, best: FrozenTrial | None) -> str:
    """Counts by state, then the best trial's parameters and per-task validation and test metrics."""
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(state_counts(study).items()))
    lines = [f"study {study.study_name!r}: {counts or 'no trials'}"]
    if best is None:
        lines.append("no trial completed")
        return "\n".join(lines)
    if len(study.directions) > 1:
        front = sorted(study.best_trials, key=lambda t: t.number)
        lines.append(f"Pareto front ({len(front)} trials, one objective per task):")
        lines.append(_table(["trial", "strategy", *[f"objective {i + 1}" for i in range(len(study.directions))]],
                            [[str(t.number), str(t.params.get("strategy", "-")), *(f"{v:.4f}" for v in t.values)] for t in front]))
    mean = best.user_attrs.get("objective", best.values[0])
    lines.append(f"best trial {best.number}: objective {mean:.4f}  (MLflow run {best.user_attrs.get('mlflow_run_id', '?')})")
    lines.append("  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items()))
    val, test = best.user_attrs.get("val", {}), best.user_attrs.get("test", {})
    metrics = sorted({m for per_task in val.values() for m in per_task}, key=lambda m: (m != "normalized_loss", m))
    rows = [[task, split, *(f"{values[task][m]:.4f}" if m in values[task] else "" for m in metrics)]
            for task in val for split, values in (("val", val), ("test", test))]
    lines.append(_table(["task", "split", *metrics], rows))
    return "\n".join(lines)


def format_comparison(arms: Sequence[ArmStudy], verdict: Verdict) -> str:
    """A comparison's summary: each arm's tuning (trials by state, best validation objective), then the verdict."""
    rows = []
    for arm in arms:
        counts = state_counts(arm.study)
        best = best_trial(arm.study)
        rows.append([arm.label, *(str(counts.get(s, 0)) for s in ("COMPLETE", "PRUNED", "FAIL")),
                     f"{mean_objective(best):.4f} (trial {best.number})" if best else "-"])
    lines = [_table(["arm", "complete", "pruned", "failed", "best val objective"], rows), "",
             f"verdict (up to {verdict.seeds} confirmation seeds per arm, paired, on the test split; reference {verdict.reference}):",
             *(f"  {line}" for line in verdict.sentences())]
    return "\n".join(lines)
