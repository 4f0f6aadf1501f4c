"""Harness overhead: the same trials through ``run_sweep`` and through a bare Keras loop, in one process.

N configurations are drawn from ``spaces/benchmark.toml`` with a seeded random sampler; patience is
set to the epoch count, so every trial trains exactly ``epochs`` epochs on both paths. (a) The
harness trains them in one ``run_sweep`` on fresh SQLite Optuna and MLflow stores, the
configurations enqueued in order (pruner none): what a sweep of N trials costs, from the call to
its return (data, stores, study, parent run, every trial with its tracking and artifacts, closing
the sweep). (b) A bare loop trains the same models: ``build_model`` + ``compile`` + ``fit`` with the
same epochs, batch size, learning rate, loss weights and seed (space seed + trial number), no
early stopping and the same one-batch validation each epoch. (c) The library alone trains them:
``mtl.training.train`` with the same settings, no tracking and no storage, inside the harness's
``lean_process`` (the same garbage-collection and graph-optimiser settings as a sweep). a/b is the goal (what a
sweep costs over the Keras loop a user would write); a/c isolates the tracking and storage cost,
since (c) trains exactly as the harness does (same input pipeline, same final evaluation).

(d) The MLflow Model a trial logs (``search.tracking.log_model``: the pyfunc with the Keras
file, signature, keras flavor and pinned requirements, as a READY Logged Model linked to its run)
is timed alone, on each configuration's trained model, ``--log-repeats`` times, beside (e) the raw
files the harness logged before it (``model.keras`` and ``signature.json`` as run artifacts): the
goal is at most 0.15 s a trial for (d); d - e is what MLflow-native models cost. ``--logging-only``
measures d and e alone (``results/overhead_logging.json``).

Order: b, c, a, c, b: each baseline runs once before and once after the harness, and its time per
configuration is the mean of its two passes, so drift over the run (warm caches, a busy machine)
does not favour either path. An untimed warm-up sweep pays the process's one-time costs first.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import keras
import matplotlib.pyplot as plt
import numpy as np
import optuna

from mtl.data import Splits
from mtl.models import build_model
from mtl.training import TrainConfig, train
from search.engines import open_study, run_sweep
from search.space import Sampled, Space, optuna_suggest, sample
from search.tracking import Tracker, log_model, model_signature
from search.trial import lean_process, prepare_data

GOAL_RATIO = 1.05
GOAL_LOGGING_S = 0.15
STUDY = "overhead"


def draw_configurations(space: Space, splits: Splits, n: int) -> list[dict[str, Any]]:
    """``n`` parameter sets drawn from ``space`` by a random sampler seeded with the space's seed."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=space.study.seed))
    drawn = []
    for _ in range(n):
        trial = study.ask()
        sample(space, splits.tasks, optuna_suggest(trial))
        drawn.append(dict(trial.params))
    return drawn


def replay(space: Space, splits: Splits, params: dict[str, Any]) -> Sampled:
    """The trial values ``params`` stand for, through the harness's own sampling code."""
    return sample(space, splits.tasks, optuna_suggest(optuna.trial.FixedTrial(params)))


def bare_fit(space: Space, splits: Splits, sampled: Sampled, number: int, epochs: int) -> float:
    """Seconds to build, compile and fit trial ``number``'s model with plain Keras for ``epochs`` epochs."""
    tasks = splits.tasks
    targets = {t.name: splits.train.y[t.name] for t in tasks}
    val_targets = {t.name: splits.val.y[t.name] for t in tasks}
    started = time.perf_counter()
    keras.backend.clear_session()
    x = splits.train.x
    model = build_model(sampled.model, tasks, x.mean(axis=0), x.var(axis=0), seed=space.study.seed + number)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=sampled.learning_rate),
        loss={t.name: t.loss for t in tasks},
        loss_weights=sampled.loss_weights,
        metrics={t.name: t.metrics() for t in tasks},
    )
    model.fit(x, targets, validation_data=(splits.val.x, val_targets), batch_size=sampled.batch_size,
              validation_batch_size=len(splits.val), epochs=epochs, shuffle=True, verbose=0)
    return time.perf_counter() - started


def library_fit(space: Space, splits: Splits, sampled: Sampled, number: int, epochs: int) -> float:
    """Seconds for ``mtl.training.train`` to train trial ``number``'s model for ``epochs`` epochs, untracked
    (inside :func:`search.trial.lean_process`, as ``run_sweep`` trains)."""
    config = TrainConfig(learning_rate=sampled.learning_rate, batch_size=sampled.batch_size, epochs=epochs, patience=epochs,
                         loss_weights=sampled.loss_weights, weighting=sampled.weighting, seed=space.study.seed + number)
    with lean_process():  # as the harness trains
        started = time.perf_counter()
        train(sampled.model, splits, config, space.objective)
        return time.perf_counter() - started


def model_logging(space: Space, splits: Splits, sampled: list[Sampled], repeats: int) -> tuple[list[float], list[float]]:
    """Seconds to log each configuration's trained model (d) as the MLflow Model and (e) as the raw
    ``model.keras`` + ``signature.json`` run artifacts, ``repeats`` times each, alternating, into a fresh SQLite store."""
    d: list[float] = []
    e: list[float] = []
    columns = model_signature(splits.train)
    with common.temp_stores() as stores:
        tracker = Tracker(stores["tracking_uri"], "logging")
        for number, one in enumerate(sampled):
            config = TrainConfig(learning_rate=one.learning_rate, batch_size=one.batch_size, epochs=1, patience=1,
                                 loss_weights=one.loss_weights, weighting=one.weighting, seed=space.study.seed + number)
            model = train(one.model, splits, config, space.objective).model
            run_id = tracker.client.create_run(tracker.experiment_id).info.run_id
            for _ in range(repeats):
                started = time.perf_counter()
                log_model(tracker.client, tracker.experiment_id, run_id, model, columns)
                d.append(time.perf_counter() - started)
                started = time.perf_counter()
                with tempfile.TemporaryDirectory() as folder:
                    path = Path(folder) / "model.keras"
                    model.save(path)
                    tracker.client.log_artifact(run_id, str(path), "model")
                tracker.client.log_text(run_id, json.dumps(columns), "model/signature.json")
                e.append(time.perf_counter() - started)
    return d, e


def logging_figures(d: list[float], e: list[float]) -> dict[str, Any]:
    """Median and spread of (d) and (e), and whether (d) meets its goal."""
    return {"mlflow_model_s": d, "raw_files_s": e, "mlflow_model_median_s": statistics.median(d),
            "mlflow_model_p90_s": sorted(d)[int(0.9 * (len(d) - 1))], "raw_files_median_s": statistics.median(e),
            "mlflow_model_minus_raw_median_s": statistics.median(d) - statistics.median(e), "goal_logging_s": GOAL_LOGGING_S,
            "logging_goal_met": statistics.median(d) <= GOAL_LOGGING_S}


def logging_table(figures: dict[str, Any]) -> None:
    """Print the model-logging figures."""
    common.print_table("model logging per trial", ("figure", "value"), [
        ("(d) MLflow Model, median s", figures["mlflow_model_median_s"]),
        ("(d) MLflow Model, 90th percentile s", figures["mlflow_model_p90_s"]),
        ("(e) raw model.keras + signature.json, median s", figures["raw_files_median_s"]),
        ("d - e, median s", figures["mlflow_model_minus_raw_median_s"]),
        (f"goal met (d median <= {GOAL_LOGGING_S} s)", figures["logging_goal_met"]),
    ])


def main() -> None:
    """Run the comparison, print the table, write the figures."""
    cli = common.parser(__doc__.splitlines()[0])
    cli.add_argument("--trials", type=int, help="configurations to compare (default 8; quick 2)")
    cli.add_argument("--epochs", type=int, help="epochs per trial (default: the space's; quick 5)")
    cli.add_argument("--log-repeats", type=int, default=5, help="times each trained model is logged in (d) and (e) (default 5)")
    cli.add_argument("--logging-only", action="store_true", help="measure the model logging (d, e) alone")
    args = cli.parse_args()
    n = args.trials or (2 if args.quick else 8)
    space = common.default_space()
    space = common.with_study(space, sampler="random", pruner="none", pruner_options={})
    epochs = args.epochs or (5 if args.quick else space.training.epochs)
    space = common.with_training(space, epochs=epochs, patience=epochs)
    splits = prepare_data(space)
    configurations = draw_configurations(space, splits, n)
    sampled = [replay(space, splits, params) for params in configurations]
    if any(s.weighting != "fixed" for s in sampled):
        raise SystemExit("the bare loop reproduces fixed loss weights only; the space samples another weighting")

    print(f"overhead: {n} configurations of {common.DEFAULT_SPACE.name}, {space.training.epochs} epochs each")
    common.warm_up()
    logged = logging_figures(*model_logging(space, splits, sampled, args.log_repeats))
    logging_table(logged)
    if args.logging_only:
        fig, ax = plt.subplots(figsize=(5.0, 3.4))
        ax.boxplot([logged["mlflow_model_s"], logged["raw_files_s"]], tick_labels=["(d) MLflow Model", "(e) raw files"])
        ax.axhline(GOAL_LOGGING_S, color="grey", linestyle="--", label=f"goal {GOAL_LOGGING_S} s")
        ax.set_ylabel("seconds per trial")
        ax.set_title(f"model logging, {n} models x {args.log_repeats}", fontsize=10)
        ax.legend()
        settings = {"space": str(common.DEFAULT_SPACE.relative_to(common.REPO)), "trials": n, "repeats": args.log_repeats}
        common.save_results("overhead_logging", args.quick, settings, logged, fig)
        return
    first = [bare_fit(space, splits, sampled[i], i, space.training.epochs) for i in range(n)]
    print(f"  bare pass 1: {sum(first):.2f} s", flush=True)
    library_first = [library_fit(space, splits, sampled[i], i, space.training.epochs) for i in range(n)]
    print(f"  library pass 1: {sum(library_first):.2f} s", flush=True)
    with common.temp_stores() as stores:
        study = open_study(space, STUDY, stores["storage"])
        for params in configurations:
            study.enqueue_trial(params)
        monitor = common.SweepMonitor()
        started = time.perf_counter()
        result = run_sweep(space, STUDY, trials=n, printer=monitor, **stores)
        total_a = time.perf_counter() - started
        monitor.end()
    for step, trial in enumerate(result.study.trials):
        if trial.state != optuna.trial.TrialState.COMPLETE or trial.params != configurations[step]:
            raise SystemExit(f"harness trial {step} did not complete as enqueued: {trial.state.name} {trial.params}")
    print(f"  harness: {total_a:.2f} s", flush=True)
    library_second = [library_fit(space, splits, sampled[i], i, space.training.epochs) for i in range(n)]
    print(f"  library pass 2: {sum(library_second):.2f} s", flush=True)
    second = [bare_fit(space, splits, sampled[i], i, space.training.epochs) for i in range(n)]
    print(f"  bare pass 2: {sum(second):.2f} s", flush=True)
    bare = [(a + b) / 2 for a, b in zip(first, second)]
    library = [(a + b) / 2 for a, b in zip(library_first, library_second)]
    total_c = sum(library)
    harness = monitor.trial_seconds()
    epochs = [space.training.epochs] * n
    set_up, tear_down = monitor.ready, monitor.tear_down
    total_b = sum(bare)
    figures = {
        "per_trial": [
            {"trial": i, "epochs": epochs[i], "harness_s": harness[i], "bare_s": bare[i], "bare_passes_s": [first[i], second[i]],
             "library_s": library[i], "library_passes_s": [library_first[i], library_second[i]], "params": configurations[i]}
            for i in range(n)
        ],
        "sweep_set_up_s": set_up,
        "sweep_tear_down_s": tear_down,
        "harness_total_s": total_a,
        "bare_total_s": total_b,
        "library_total_s": total_c,
        "ratio": total_a / total_b,
        "ratio_to_library": total_a / total_c,
        "tracking_per_trial_ms": (total_a - total_c) / n * 1000,
        "overhead_per_trial_ms": (total_a - total_b) / n * 1000,
        "overhead_per_trial_excluding_set_up_ms": (sum(harness) - total_b) / n * 1000,
        "harness_trials_per_hour": n / total_a * 3600,
        "goal_ratio": GOAL_RATIO,
        **logged,
    }
    common.print_table("per trial", ("trial", "epochs", "harness s", "bare s", "library s", "harness - bare s", "harness - library s"),
                       [(i, epochs[i], harness[i], bare[i], library[i], harness[i] - bare[i], harness[i] - library[i]) for i in range(n)])
    common.print_table("summary", ("figure", "value"), [
        ("harness total (a), s", total_a),
        ("  of which sweep set-up + tear-down (flushing artifacts), s", set_up + tear_down),
        ("bare Keras total (b), s", total_b),
        (f"ratio a/b (goal <= {GOAL_RATIO})", figures["ratio"]),
        ("fixed overhead per trial (a-b)/N, ms", figures["overhead_per_trial_ms"]),
        ("  excluding sweep set-up + tear-down, ms", figures["overhead_per_trial_excluding_set_up_ms"]),
        ("library alone total (c), s", total_c),
        ("ratio a/c: tracking and storage", figures["ratio_to_library"]),
        ("tracking and storage per trial (a-c)/N, ms", figures["tracking_per_trial_ms"]),
        ("trials per hour through the harness", figures["harness_trials_per_hour"]),
        ("goal met", figures["ratio"] <= GOAL_RATIO),
    ])

    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * n + 2), 3.6))
    index = np.arange(n)
    ax.bar(index - 0.27, harness, 0.27, label="(a) harness")
    ax.bar(index, bare, 0.27, label="(b) bare Keras")
    ax.bar(index + 0.27, library, 0.27, label="(c) mtl.training alone")
    ax.set_xticks(index, [f"{i}\n{epochs[i]} ep" for i in range(n)])
    ax.set_xlabel("trial (epochs trained)")
    ax.set_ylabel("seconds")
    ax.set_title(f"per-trial time; a/b = {figures['ratio']:.3f} (goal <= {GOAL_RATIO}), a/c = {figures['ratio_to_library']:.3f}",
                 fontsize=10)
    ax.legend()
    settings = {"space": str(common.DEFAULT_SPACE.relative_to(common.REPO)), "trials": n, "max_epochs": space.training.epochs,
                "sampler": "random", "seed": space.study.seed}
    common.save_results("overhead", args.quick, settings, figures, fig)


if __name__ == "__main__":
    main()
