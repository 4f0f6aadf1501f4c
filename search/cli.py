"""``python -m search``: the command line. Bad input ends with one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from search.quiet import import_quietly

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130
DEFAULT_SPACE = "spaces/default.toml"
REPORTS = "reports"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m search", description="Search how much multi-task Keras networks should share.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run or resume a sweep of a space file",
                              description="Run a sweep: sample architectures with Optuna, train them jointly, log to MLflow. "
                                          "Running the same --study again resumes it. Ends with the strategy report.")
    run.add_argument("--space", default=DEFAULT_SPACE, help=f"space file (default: {DEFAULT_SPACE})")
    run.add_argument("--study", help="study name (default: [study] name in the space file); also the MLflow experiment")
    run.add_argument("--trials", type=int, help="total trials the study should count (complete + pruned), across resumes")
    run.add_argument("--timeout", type=float, help="stop starting new trials after this many seconds")
    _add_stores(run)
    run.add_argument("--seed", type=int, help="seed for data split, sampling and weight initialisation (default: the space's)")
    run.add_argument("--no-report", action="store_true", help="skip the strategy report at the end")
    report = commands.add_parser("report", help="compare the strategies of a study (HTML, Markdown, plots)",
                                 description="Report one row per strategy and weighting: best trial, per-task metrics, "
                                             "trial counts, time; optionally retrain each best configuration with more seeds.")
    report.add_argument("--study", required=True, help="study name")
    _add_stores(report)
    report.add_argument("--repeats", type=int, default=0, help="retrain each group's best configuration with K further seeds")
    report.add_argument("--out", help=f"output folder (default: {REPORTS}/<study>)")
    ui = commands.add_parser("ui", help="start the MLflow UI on the project's store (and optuna-dashboard)",
                             description="Serve the MLflow UI for the tracking store, and with --dashboard optuna-dashboard "
                                         "for the Optuna storage; prints the addresses; Ctrl-C stops both.")
    _add_stores(ui)
    ui.add_argument("--port", type=int, default=5000, help="MLflow UI port (default: 5000)")
    ui.add_argument("--dashboard", action="store_true", help="also start optuna-dashboard on the Optuna storage")
    ui.add_argument("--dashboard-port", type=int, help="optuna-dashboard port (default: --port + 1)")
    return parser


def _add_stores(command: argparse.ArgumentParser) -> None:
    command.add_argument("--storage", default=os.environ.get("MTL_STORAGE"),
                         help="Optuna storage URL (env MTL_STORAGE; default: sqlite:///mlruns/optuna.db)")
    command.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                         help="MLflow tracking URI (env MLFLOW_TRACKING_URI; default: sqlite:///mlruns/mlflow.db)")


def _positive(parser: argparse.ArgumentParser, name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        parser.error(f"--{name} must be positive, got {value}")


def cmd_run(args: argparse.Namespace) -> int:
    """Run or resume a sweep and print its summary."""
    from search.space import load_space
    from search.summary import format_summary
    from search.sweep import run_sweep

    space = load_space(args.space)
    if args.seed is not None:
        space = space.with_seed(args.seed)
    result = run_sweep(space, args.study, args.storage, args.tracking_uri, args.trials, args.timeout)
    print(format_summary(result.study, result.best))
    if not args.no_report:
        args.study, args.repeats, args.out = result.study.study_name, 0, None
        return cmd_report(args)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write (and log to the sweep's parent run) the strategy report of a study."""
    from search.report import run_report
    from search.study import default_storage, default_tracking_uri

    out = Path(args.out or Path(REPORTS) / args.study)
    path = run_report(args.study, args.storage or default_storage(), args.tracking_uri or default_tracking_uri(), out, args.repeats)
    print(f"report: {path} (and {path.with_suffix('.html').name}); logged to the sweep's parent run under report/")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Serve the MLflow UI (and optuna-dashboard) until interrupted."""
    from search.study import default_storage, default_tracking_uri
    from search.ui import serve

    storage = (args.storage or default_storage()) if args.dashboard else None
    return serve(args.tracking_uri or default_tracking_uri(), args.port, storage, args.dashboard_port)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn user errors into one line and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress lines reach logs and pipes as they happen
    _positive(parser, "trials", getattr(args, "trials", None))
    _positive(parser, "timeout", getattr(args, "timeout", None))
    if getattr(args, "repeats", 0) < 0:
        parser.error(f"--repeats must be >= 0, got {args.repeats}")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import_quietly()
    from mtl.errors import MtlError

    try:
        return {"run": cmd_run, "report": cmd_report, "ui": cmd_ui}[args.command](args)
    except MtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: the running trial is marked failed; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
