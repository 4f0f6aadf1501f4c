"""``python -m search``: the command line. Bad input ends with one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, cast

from search.quiet import import_quietly

if TYPE_CHECKING:
    from search.engines import OpenSweep
    from search.space import Space

    _Commands = argparse._SubParsersAction[argparse.ArgumentParser]  # what add_subparsers returns

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130
DEFAULT_SPACE = "default"  # a built-in space (search/space/builtin/default.toml; spaces/ in the repository)
REPORTS = "reports"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m search", description="Search how much multi-task Keras networks should share.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_run, _add_baselines, _add_affinity, _add_report, _add_confirm, _add_repeat, _add_create, _add_worker,
                _add_deploy, _add_predict, _add_ui, _add_docs):
        add(commands)
    return parser


def _add_run(commands: _Commands) -> None:
    """``run``: run or resume a sweep."""
    run = commands.add_parser("run", help="run or resume a sweep of a space file",
                              description="Run a sweep: sample architectures with Optuna, train them jointly, log to MLflow. "
                                          "Running the same --study again resumes it. Ends with the strategy report.")
    _add_space(run)
    run.add_argument("--timeout", type=float, help="stop starting new trials after this many seconds")
    run.add_argument("--no-report", action="store_true", help="skip the strategy report at the end")
    run.add_argument("--engine", choices=("optuna", "keras-tuner"), default="optuna",
                     help="search engine (default: optuna); keras-tuner keeps its project in mlruns/keras_tuner/<study>")
    run.add_argument("--oracle", choices=("random", "bayesian", "hyperband"), default="bayesian",
                     help="keras-tuner oracle (default: bayesian); only with --engine keras-tuner")
    run.add_argument("--jobs", type=int, default=1, help="processes tuning at once, sharing the study; a comparison with at "
                     "least JOBS arms gives each process its own arms (default: 1)")
    run.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)  # set by --jobs for its child processes


def _add_baselines(commands: _Commands) -> None:
    """``baselines``: single-task baselines."""
    baselines = commands.add_parser("baselines", help="train one single-task network per task and log each to MLflow",
                                    description="Train, per task, a network over that task alone (the space's trunk, tower "
                                                "and head; [baselines] settings, else the space's fixed values, else the "
                                                "defaults), log each as an MLflow run of the study's experiment and print "
                                                "'<task> <run id>' lines: the ids [init] can warm-start from, and the "
                                                "report's single-task reference.")
    _add_experiment_run(baselines)


def _add_affinity(commands: _Commands) -> None:
    """``affinity``: task affinity."""
    affinity = commands.add_parser("affinity", help="measure which tasks help each other (TAG) and propose task groupings",
                                   description="Train one hard-shared model on the space's data, measuring every few steps how "
                                               "a step on each task's loss moves every other task's loss (task affinity, "
                                               "Fifty et al. 2021); log the matrix, its heatmap and the best partition per "
                                               "number of groups as an MLflow run (kind=affinity) of the study's experiment.")
    _add_experiment_run(affinity)


def _add_report(commands: _Commands) -> None:
    """``report``: the report."""
    report = commands.add_parser("report", help="compare the strategies of a study (HTML, Markdown, plots)",
                                 description="Report one row per strategy and weighting: best trial, per-task metrics, "
                                             "trial counts, time, the repeats MLflow holds; a comparison's verdict on the "
                                             "confirmations MLflow holds. Reads only: it trains nothing.")
    report.add_argument("--study", required=True, help="study name")
    _add_stores(report)
    report.add_argument("--out", help=f"output folder (default: {REPORTS}/<study>)")


def _add_confirm(commands: _Commands) -> None:
    """``confirm``: a comparison's confirmations."""
    confirm = commands.add_parser("confirm", help="train a comparison's missing confirmations, judge and record the verdict",
                                  description="Confirm every arm's best configuration with the [compare] seeds MLflow does "
                                              "not hold yet (for example after cluster workers tuned the arms), then judge "
                                              "and record the verdict, as `run` does at a comparison's end.")
    confirm.add_argument("--study", required=True, help="study name")
    _add_stores(confirm)


def _add_repeat(commands: _Commands) -> None:
    """``repeat``: repeats."""
    repeat = commands.add_parser("repeat", help="retrain each group's best configuration with further seeds",
                                 description="Retrain each strategy and weighting group's best configuration with K seeds "
                                             "(study seed + 10000 + i; those MLflow holds are not trained again), as child "
                                             "runs of the sweep's parent run; `report` draws them. For sweeps that compare "
                                             "nothing: a comparison's confirmation seeds are its repeats.")
    repeat.add_argument("--study", required=True, help="study name")
    _add_stores(repeat)
    repeat.add_argument("--repeats", type=int, default=3, help="seeds per group (default: 3)")


def _add_create(commands: _Commands) -> None:
    """``create``: a study for workers."""
    create = commands.add_parser("create", help="create a study from a space file for workers to share",
                                 description="Create the study (storing its space and budget) and its MLflow parent run, "
                                             "so workers need only the study name and the URLs.")
    _add_space(create)


def _add_worker(commands: _Commands) -> None:
    """``worker``: a worker."""
    worker = commands.add_parser("worker", help="join a study and run trials until its budget is reached",
                                 description="Run trials of an existing study (made by `create` or `run`) until the study "
                                             "counts its budget, however many workers share it. SIGTERM ends the current "
                                             "trial cleanly (recorded failed, replaced later) and exits 0.")
    worker.add_argument("--study", required=True, help="study name")
    _add_stores(worker)
    worker.add_argument("--trials", type=int, help="override the study's total budget")
    worker.add_argument("--timeout", type=float, help="stop starting new trials after this many seconds")
    worker.add_argument("--worker", type=int, help="worker index for the sampler seed (default: "
                        "JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID + 1, else the process id)")


def _add_deploy(commands: _Commands) -> None:
    """``deploy``: scheduler templates."""
    deploy = commands.add_parser("deploy", help="print a scheduler template that runs workers of a study",
                                 description="Render a Kubernetes Indexed Job or CronJob, a Slurm job array or a cron line "
                                             "running `python -m search worker --study NAME`; URLs come from MTL_STORAGE and "
                                             "MLFLOW_TRACKING_URI in the workers' environment.")
    deploy.add_argument("kind", choices=("k8s-job", "k8s-cronjob", "slurm", "cron"))
    deploy.add_argument("--study", required=True, help="study name (made with `create`)")
    deploy.add_argument("--workers", type=int, default=4, help="parallel workers (default: 4)")
    deploy.add_argument("--image", default="mtl-search:latest", help="container image (Kubernetes)")
    deploy.add_argument("--schedule", default="0 2 * * *", help="cron schedule (CronJob, cron; default: nightly 02:00)")
    deploy.add_argument("--secret", default="mtl-search-stores", help="Kubernetes Secret holding MTL_STORAGE and MLFLOW_TRACKING_URI")


def _add_predict(commands: _Commands) -> None:
    """``predict``: predictions."""
    predict = commands.add_parser("predict", help="apply a trial's logged model to a table",
                                  description="Load the MLflow Model a trial logged (or any models:/ URI, such as "
                                              "models:/<study>@champion) and write its predictions for the rows of a "
                                              "CSV/Parquet/NPZ table: one column per task (value, probability or class).")
    which = predict.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", help="the trial's MLflow run id")
    which.add_argument("--model", help="a models:/ URI: models:/<study>@champion, models:/<name>/<version>, models:/<model id>")
    predict.add_argument("--input", required=True, help="table with the model's feature columns")
    predict.add_argument("--output", required=True, help="CSV file to write")
    predict.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                         help="MLflow tracking URI (env MLFLOW_TRACKING_URI; default: sqlite:///mlruns/mlflow.db)")


def _add_ui(commands: _Commands) -> None:
    """``ui``: the UIs."""
    ui = commands.add_parser("ui", help="start the MLflow UI on the project's store (and optuna-dashboard)",
                             description="Serve the MLflow UI for the tracking store, and with --dashboard optuna-dashboard "
                                         "for the Optuna storage; prints the addresses; Ctrl-C stops both.")
    _add_stores(ui)
    ui.add_argument("--port", type=int, default=5000, help="MLflow UI port (default: 5000)")
    ui.add_argument("--dashboard", action="store_true", help="also start optuna-dashboard on the Optuna storage")
    ui.add_argument("--dashboard-port", type=int, help="optuna-dashboard port (default: --port + 1)")
    ui.add_argument("--study", help="print the pages of this study only (default: every study in the store)")


def _add_docs(commands: _Commands) -> None:
    """``docs``: the documentation site."""
    docs = commands.add_parser("docs", help="serve the documentation site locally (mkdocs serve; a source checkout)",
                               description="Serve docs/ (mkdocs.yml at the checkout's root) on 127.0.0.1, rebuilding on every "
                                           "edit; needs the test extra (pip install -e \".[test]\"). Ctrl-C stops it.")
    docs.add_argument("--port", type=int, default=8000, help="port (default: 8000)")


def _add_space(command: argparse.ArgumentParser) -> None:
    _add_space_option(command)
    command.add_argument("--study", help="study name (default: [study] name in the space file); also the MLflow experiment")
    command.add_argument("--trials", type=int, help="total trials the study should count (complete + pruned), across "
                         "resumes and workers (default: the space's)")
    command.add_argument("--seed", type=int, help="seed for data split, sampling and weight initialisation (default: the space's)")
    _add_stores(command)


def _add_experiment_run(command: argparse.ArgumentParser) -> None:
    """The flags of a command that logs runs of a space to the study's MLflow experiment, without a study."""
    _add_space_option(command)
    command.add_argument("--study", help="study name, i.e. the MLflow experiment (default: [study] name in the space file)")
    command.add_argument("--seed", type=int, help="seed for the data split and weight initialisation (default: the space's)")
    command.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                         help="MLflow tracking URI (env MLFLOW_TRACKING_URI; default: sqlite:///mlruns/mlflow.db)")


def _add_space_option(command: argparse.ArgumentParser) -> None:
    """``--space``: a built-in space's name or a space file's path."""
    command.add_argument("--space", default=DEFAULT_SPACE, help=f"a built-in space ({', '.join(builtin_space_names())}) "
                         f"or a space file's path (default: {DEFAULT_SPACE})")


def builtin_space_names() -> list[str]:
    """The built-in spaces' names, read from the package data (``search/space/builtin/``) without importing TensorFlow."""
    folder = files("search") / "space" / "builtin"
    return sorted(f.name.removesuffix(".toml") for f in folder.iterdir() if f.name.endswith(".toml"))


def _add_stores(command: argparse.ArgumentParser) -> None:
    command.add_argument("--storage", default=os.environ.get("MTL_STORAGE"),
                         help="Optuna storage URL (env MTL_STORAGE; default: sqlite:///mlruns/optuna.db)")
    command.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                         help="MLflow tracking URI (env MLFLOW_TRACKING_URI; default: sqlite:///mlruns/mlflow.db)")


def _positive(parser: argparse.ArgumentParser, name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        parser.error(f"--{name} must be positive, got {value}")


def cmd_run(args: argparse.Namespace) -> int:
    """Run or resume a sweep (a comparison: tune every arm, confirm, judge) and print its summary or verdict."""
    from search.cluster import set_thread_budget
    from search.engines import open_sweep, tune_sweep
    from search.pipeline import run_pipeline
    from search.report import format_comparison, format_summary
    from search.space import load_space

    space = load_space(args.space)
    if args.seed is not None:
        space = space.with_seed(args.seed)
    if args.engine == "keras-tuner":
        return _run_keras_tuner(space, args)
    if args.worker:  # a child of --jobs: the parent process confirms, judges and closes the sweep
        sweep = open_sweep(space, args.study, args.storage, args.tracking_uri, args.trials, args.worker, jobs=args.jobs)
        tune_sweep(sweep, args.timeout, worker=args.worker, jobs=args.jobs)
        _confirm_own_arms(sweep, args.worker, args.jobs)
        return 0
    if args.jobs > 1:
        set_thread_budget(args.jobs)  # before TensorFlow starts its thread pools
    outcome = run_pipeline(space, args.study, args.storage, args.tracking_uri, args.trials, args.timeout,
                           reports=None if args.no_report else Path(REPORTS),
                           tune=(lambda sweep: _run_jobs(sweep, args)) if args.jobs > 1 else None)
    if outcome.result is not None:
        print(format_summary(outcome.result.study, outcome.result.best))
    if outcome.report is not None:
        print(_report_line(outcome.report))
    if outcome.verdict is not None:
        print(format_comparison(outcome.sweep.arms, outcome.verdict))  # the answer comes last, where the eye lands
    return 0


def _run_keras_tuner(space: Space, args: argparse.Namespace) -> int:
    """The keras-tuner engine: same space, builder, objective and MLflow layout; its own summary line."""
    from search.engines import run_tuner_sweep
    from search.errors import SpaceError

    if args.jobs > 1 or args.storage:
        raise SpaceError(args.space, "", "--jobs and --storage apply to the optuna engine only")
    result = run_tuner_sweep(space, args.study, args.tracking_uri, args.trials, args.oracle, timeout=args.timeout)
    if result.best is None:
        print("no trial completed")
    else:
        print(f"best trial {result.best.trial_id}: objective {result.best.score:.4f}  (MLflow run {result.best_run_id})")
        print("  " + "  ".join(f"{k}={v}" for k, v in result.best.hyperparameters.values.items()))
    return 0


def _run_jobs(sweep: OpenSweep, args: argparse.Namespace) -> None:
    """Start ``--jobs - 1`` worker processes on the open sweep, tune as worker 0 here, wait for all (and
    tune what a failed worker left of its arms' budgets, where the arms were split)."""
    from search.cluster import start_workers, wait_for
    from search.engines import budget_complete, splits_arms, tune_sweep

    run_args = ["--space", args.space, "--study", sweep.study.study_name, "--storage", sweep.storage,
                "--tracking-uri", sweep.tracking_uri, "--trials", str(sweep.budget), "--seed", str(sweep.space.study.seed),
                "--jobs", str(args.jobs)]
    if args.timeout:
        run_args += ["--timeout", str(args.timeout)]
    workers = start_workers(args.jobs, run_args)
    try:
        tune_sweep(sweep, args.timeout, jobs=args.jobs)
        _confirm_own_arms(sweep, 0, args.jobs)
    except KeyboardInterrupt:
        wait_for(workers, interrupted=True)
        raise
    codes = wait_for(workers)
    if any(codes):
        print(f"warning: worker exit codes {codes}", file=sys.stderr)
        if splits_arms(sweep.space, args.jobs) and not budget_complete(sweep):  # a worker's arms are short: finish them here
            print("tuning the arms a stopped worker left short of their budget")
            tune_sweep(sweep, args.timeout)


def _confirm_own_arms(sweep: OpenSweep, worker: int, jobs: int) -> None:
    """Where ``jobs`` processes split a comparison's arms, confirm this one's arms up to the race's first
    look while the others still tune (the race and the rest come after, in the parent process)."""
    from search.compare import confirm_before_race
    from search.engines import own_arms, splits_arms

    if splits_arms(sweep.space, jobs):
        confirm_before_race(sweep, own_arms(sweep, worker, jobs))


def cmd_baselines(args: argparse.Namespace) -> int:
    """Train and log one single-task baseline per task; print '<task> <run id>' lines."""
    from search.space import load_space
    from search.stores import default_tracking_uri
    from search.trial import run_baselines

    space = load_space(args.space)
    if args.seed is not None:
        space = space.with_seed(args.seed)
    run_baselines(space, args.tracking_uri or default_tracking_uri(), args.study)
    return 0


def cmd_affinity(args: argparse.Namespace) -> int:
    """Run and log the task-affinity pass of a space; print the matrix and the candidate partitions."""
    from search.api import task_affinity

    result = task_affinity(args.space, args.study, seed=args.seed, tracking_uri=args.tracking_uri)
    print(f"MLflow run {result.run_id} (experiment {result.experiment!r})")
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    """Create a study and its parent run; print the worker command line."""
    from search.engines import open_sweep
    from search.space import load_space
    from search.stores import redact
    from search.tracking import BUDGET_ATTR

    space = load_space(args.space)
    if args.seed is not None:
        space = space.with_seed(args.seed)
    sweep = open_sweep(space, args.study, args.storage, args.tracking_uri, args.trials)
    sweep.study.set_user_attr(BUDGET_ATTR, sweep.budget)
    print(f"study {sweep.study.study_name!r} ready ({sweep.budget} trials); start workers with:\n"
          f"  python -m search worker --study {sweep.study.study_name} --storage '{redact(sweep.storage)}' "
          f"--tracking-uri '{redact(sweep.tracking_uri)}'")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """Print one rendered scheduler template."""
    from search.cluster import Deployment, render

    print(render(args.kind, Deployment(args.study, args.workers, args.image, args.schedule, args.secret)), end="")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Write a trial model's predictions for a table."""
    from mtl.errors import MtlError
    from search.stores import default_tracking_uri
    from search.tracking import predict

    if args.model is not None and not args.model.startswith("models:/"):
        raise MtlError(f"--model {args.model!r}: expected a models:/ URI (for example models:/<study>@champion)")
    path = predict(args.model or args.run_id, args.tracking_uri or default_tracking_uri(), args.input, args.output)
    print(f"predictions: {path}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Join a stored study and run trials until its budget is reached."""
    from search.cluster import worker_index
    from search.engines import load_existing_study, run_sweep, stored_space
    from search.errors import StorageError
    from search.stores import default_storage, default_tracking_uri
    from search.tracking import BUDGET_ATTR, PARENT_ATTR, Tracker

    storage, tracking_uri = args.storage or default_storage(), args.tracking_uri or default_tracking_uri()
    study = load_existing_study(args.study, storage, tracking_uri)
    if PARENT_ATTR not in study.user_attrs:
        raise StorageError(f"study {args.study!r} was not created by mtl-search (no parent run); use `create`")
    space = stored_space(study, Tracker(tracking_uri, args.study), study.user_attrs[PARENT_ATTR])
    budget = args.trials or study.user_attrs.get(BUDGET_ATTR)
    run_sweep(space, args.study, storage, tracking_uri, budget, args.timeout, worker=worker_index(args.worker))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write (and log to the sweep's parent run) the strategy report of a study."""
    from search.report import run_report
    from search.stores import default_storage, default_tracking_uri

    out = Path(args.out or Path(REPORTS) / args.study)
    path = run_report(args.study, args.storage or default_storage(), args.tracking_uri or default_tracking_uri(), out)
    print(_report_line(path))
    return 0


def _report_line(path: Path) -> str:
    """The line saying where the report went."""
    return f"report: {path} (and {path.with_suffix('.html').name}); logged to the sweep's parent run under report/"


def cmd_confirm(args: argparse.Namespace) -> int:
    """Train a comparison's missing confirmations, judge and record the verdict; print it."""
    from dataclasses import replace

    from search.compare import conclude
    from search.engines import load_sweep
    from search.errors import SpaceError
    from search.report import format_comparison
    from search.stores import default_storage, default_tracking_uri
    from search.trial import resolve_init

    tracking_uri = args.tracking_uri or default_tracking_uri()
    sweep = load_sweep(args.study, args.storage or default_storage(), tracking_uri)
    if not sweep.compares:
        raise SpaceError(sweep.space.path, "compare", "confirm is for comparisons; this study compares nothing")
    verdict = conclude(replace(sweep, sources=resolve_init(sweep.space, sweep.splits, tracking_uri)), finish=False)
    print(format_comparison(sweep.arms, verdict))
    return 0


def cmd_repeat(args: argparse.Namespace) -> int:
    """Retrain each group's best configuration of a study with further seeds (those not in MLflow yet)."""
    from search.repeats import run_repeats
    from search.stores import default_storage, default_tracking_uri

    run_repeats(args.study, args.storage or default_storage(), args.tracking_uri or default_tracking_uri(), args.repeats)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Serve the MLflow UI (and optuna-dashboard) until interrupted."""
    from search.stores import default_storage, default_tracking_uri
    from search.ui import serve

    storage = (args.storage or default_storage()) if args.dashboard else None
    return serve(args.tracking_uri or default_tracking_uri(), args.port, storage, args.dashboard_port, study=args.study)


def cmd_docs(args: argparse.Namespace) -> int:
    """Serve the documentation site with ``mkdocs serve`` until interrupted."""
    import importlib.util
    import subprocess

    from mtl.errors import MtlError

    config = Path(__file__).resolve().parents[1] / "mkdocs.yml"
    if not config.is_file():
        raise MtlError(f"no mkdocs.yml at {config.parent}: the documentation lives in the source checkout (docs/)")
    if importlib.util.find_spec("mkdocs") is None:
        raise MtlError('MkDocs is not installed: pip install -e ".[test]"')
    print(f"documentation: http://127.0.0.1:{args.port}/ (Ctrl-C stops it)")
    try:
        return subprocess.call([sys.executable, "-m", "mkdocs", "serve", "-f", str(config), "-a", f"127.0.0.1:{args.port}"])
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn user errors into one line and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    cast(io.TextIOWrapper, sys.stdout).reconfigure(line_buffering=True)  # progress lines reach logs and pipes as they happen
    _positive(parser, "trials", getattr(args, "trials", None))
    _positive(parser, "timeout", getattr(args, "timeout", None))
    _positive(parser, "jobs", getattr(args, "jobs", None))
    _positive(parser, "workers", getattr(args, "workers", None))
    if getattr(args, "repeats", 0) < 0:
        parser.error(f"--repeats must be >= 0, got {args.repeats}")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr to our one-line messages
    import_quietly()
    from mtl.errors import MtlError
    from search.signals import Preempted, exit_cleanly_on_sigterm, interruption_behind

    exit_cleanly_on_sigterm()
    command = {"run": cmd_run, "affinity": cmd_affinity, "baselines": cmd_baselines, "create": cmd_create, "worker": cmd_worker,
               "deploy": cmd_deploy, "predict": cmd_predict, "report": cmd_report, "confirm": cmd_confirm,
               "repeat": cmd_repeat, "ui": cmd_ui,
               "docs": cmd_docs}[args.command]
    try:
        try:
            return command(args)
        except Exception as exc:  # a Ctrl-C or SIGTERM that native code turned into another error is still one
            stop = interruption_behind(exc)
            if stop is exc:
                raise
            raise stop from exc
    except MtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Preempted:
        print("pre-empted (SIGTERM): the running trial is marked failed and will be replaced", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        print("interrupted: the running trial is marked failed; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
