"""``python -m search``: the command line. Bad input ends with one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from search.quiet import import_quietly

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130
DEFAULT_SPACE = "spaces/default.toml"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m search", description="Search how much multi-task Keras networks should share.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run or resume a sweep of a space file",
                              description="Run a sweep: sample architectures with Optuna, train them jointly, log to MLflow. "
                                          "Running the same --study again resumes it.")
    run.add_argument("--space", default=DEFAULT_SPACE, help=f"space file (default: {DEFAULT_SPACE})")
    run.add_argument("--study", help="study name (default: [study] name in the space file); also the MLflow experiment")
    run.add_argument("--trials", type=int, help="total trials the study should count (complete + pruned), across resumes")
    run.add_argument("--timeout", type=float, help="stop starting new trials after this many seconds")
    run.add_argument("--storage", default=os.environ.get("MTL_STORAGE"),
                     help="Optuna storage URL (env MTL_STORAGE; default: sqlite:///mlruns/optuna.db)")
    run.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                     help="MLflow tracking URI (env MLFLOW_TRACKING_URI; default: sqlite:///mlruns/mlflow.db)")
    run.add_argument("--seed", type=int, help="seed for data split, sampling and weight initialisation (default: the space's)")
    return parser


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
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn user errors into one line and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _positive(parser, "trials", getattr(args, "trials", None))
    _positive(parser, "timeout", getattr(args, "timeout", None))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import_quietly()
    from mtl.errors import MtlError

    try:
        return {"run": cmd_run}[args.command](args)
    except MtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: the running trial is marked failed; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
