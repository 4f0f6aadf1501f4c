"""Helpers shared by the benchmark scripts: spaces, throwaway stores, a timing printer, RSS, tables, results.

Importing this module silences TensorFlow's native start-up chatter and selects matplotlib's Agg
backend, so import it before anything that imports Keras.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from search.quiet import import_quietly

import_quietly()

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from search.engines import run_sweep  # noqa: E402
from search.space import Space, load_space, parse_space  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPACE = REPO / "spaces" / "benchmark.toml"
RESULTS = Path(__file__).resolve().parent / "results"
TRIAL_LINE = re.compile(r"\] trial\s+(\d+) (\w+)")  # a per-trial progress line of ``run_sweep``

FIXED_SPACE = """
[study]
name = "{name}"
sampler = "random"
seed = 0

[data]
source = "synthetic"

[data.options]
n_samples = {n_samples}
n_features = 16
n_tasks = 2

[training]
epochs = {epochs}
patience = {epochs}

[search]
strategy = "hard"
shared_depth = 1
shared_width = 32
tower_depth = 1
tower_width = 16
learning_rate = 1e-3
batch_size = 128
"""


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--quick`` flag every benchmark takes."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--quick", action="store_true", help="tiny scale: check the script end to end in about a minute")
    return result


def default_space() -> Space:
    """``spaces/benchmark.toml``."""
    return load_space(DEFAULT_SPACE)


def with_study(space: Space, **changes: Any) -> Space:
    """``space`` with some ``[study]`` settings replaced (e.g. ``sampler``, ``pruner``, ``pruner_options``)."""
    return replace(space, study=replace(space.study, **changes))


def with_training(space: Space, **changes: Any) -> Space:
    """``space`` with some ``[training]`` settings replaced (e.g. ``epochs``)."""
    return replace(space, training=replace(space.training, **changes))


def fixed_space(n_samples: int, epochs: int, name: str = "fixed") -> Space:
    """One fixed small configuration (hard sharing, 1x32 trunk, 1x16 towers) on ``n_samples`` synthetic rows.

    Patience equals ``epochs``, so every trial trains exactly ``epochs`` epochs.
    """
    return parse_space(FIXED_SPACE.format(name=name, n_samples=n_samples, epochs=epochs), f"<{name}>")


@contextmanager
def temp_stores() -> Iterator[dict[str, str]]:
    """Fresh SQLite Optuna and MLflow stores (artifacts beside them) in a directory removed afterwards.

    Yields the keyword arguments ``storage`` and ``tracking_uri`` of :func:`search.engines.run_sweep`.
    """
    with tempfile.TemporaryDirectory(prefix="mtl-bench-") as folder:
        yield {"storage": f"sqlite:///{folder}/optuna.db", "tracking_uri": f"sqlite:///{folder}/mlflow.db"}


def silent(line: str) -> None:
    """A ``run_sweep`` printer that prints nothing."""


def warm_up() -> None:
    """Pay the process's one-time costs (TensorFlow start-up, first traces, MLflow, matplotlib) before timing.

    Runs a one-trial, one-epoch sweep of a tiny fixed space on throwaway stores.
    """
    with temp_stores() as stores:
        run_sweep(fixed_space(400, epochs=1, name="warm-up"), trials=1, printer=silent, **stores)


def rss_mb() -> float:
    """Resident memory of this process in MiB (``VmRSS`` of ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


@dataclass(frozen=True)
class Mark:
    """One line ``run_sweep`` printed: when (seconds since the monitor started), the RSS then, and the trial it reports."""

    seconds: float
    rss_mb: float
    trial: int | None
    state: str | None


@dataclass
class SweepMonitor:
    """A ``run_sweep`` printer that timestamps every line and reads the RSS when it is printed.

    ``run_sweep`` prints one line once the study and the MLflow parent run are open, then one line
    per finished trial (after the trial is told to Optuna), so the marks bracket every trial.
    """

    echo: bool = False
    started: float = field(default_factory=time.perf_counter)
    marks: list[Mark] = field(default_factory=list)
    ended: float | None = None

    def __call__(self, line: str) -> None:
        """Record the line (and print it when ``echo``)."""
        found = TRIAL_LINE.search(line)
        trial, state = (int(found.group(1)), found.group(2)) if found else (None, None)
        self.marks.append(Mark(time.perf_counter() - self.started, rss_mb(), trial, state))
        if self.echo:
            print(f"    {line}", flush=True)

    def end(self) -> None:
        """Note that ``run_sweep`` has returned."""
        self.ended = time.perf_counter() - self.started

    @property
    def ready(self) -> float:
        """Seconds from the monitor's start until the sweep was ready to run its first trial."""
        return self.marks[0].seconds

    @property
    def tear_down(self) -> float:
        """Seconds from the last line until :meth:`end`: closing the sweep (parent run tags, metrics, status)."""
        if self.ended is None:
            raise RuntimeError("end() was not called")
        return self.ended - self.marks[-1].seconds

    def trials(self) -> list[Mark]:
        """The marks of finished trials, in order."""
        return [m for m in self.marks if m.trial is not None]

    def trial_seconds(self) -> list[float]:
        """Each finished trial's wall time: from the previous mark (the ready line or the previous trial)."""
        times = [m.seconds for m in self.marks if m.trial is not None or m is self.marks[0]]
        return [b - a for a, b in zip(times, times[1:])]


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print ``rows`` under ``headers`` as a plain-text table: text left-aligned, numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    left = [all(isinstance(row[i], str) for row in rows) for i in range(len(headers))]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print("  ".join(c.ljust(w) if flush_left else c.rjust(w) for c, w, flush_left in zip(row, widths, left)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.4g}"
    return str(value)


def save_results(name: str, quick: bool, settings: dict[str, Any], figures: dict[str, Any], figure: Figure) -> Path:
    """Write ``results/<name>[-quick].json`` (settings and figures) and the PNG beside it; return the JSON path."""
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / (f"{name}-quick" if quick else name)
    document = {"benchmark": name, "quick": quick, "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "settings": settings, "figures": figures}
    stem.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")
    figure.savefig(stem.with_suffix(".png"), dpi=120, bbox_inches="tight")
    plt.close(figure)
    print(f"\nwrote {stem.with_suffix('.json').relative_to(REPO)} and {stem.with_suffix('.png').relative_to(REPO)}")
    return stem.with_suffix(".json")
