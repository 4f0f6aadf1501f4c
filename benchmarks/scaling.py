"""Scaling: time per trial as the data grows, and the harness's cost per trial as the study's history grows.

Part 1 sweeps one fixed small configuration (hard sharing, 1x32 trunk, 1x16 towers, batch 128,
2 epochs) through ``run_sweep`` on 1x, 10x and 100x the rows (1,000 / 10,000 / 100,000) and reports
the median trial time.

Part 2 trains nothing: it drives the harness's bookkeeping directly for many trials on fresh SQLite
stores, as ``run_sweep`` does per trial: Optuna ``ask``, the space's sampling, a ``report`` and
``should_prune`` per epoch (the space's median pruner), user attributes and ``tell``; the sweep's
per-trial callbacks (budget, progress line, failure guard); and MLflow's child run with the
parameters, per-epoch and final metrics named as a real trial's, and its end. The cost per trial
must stay flat as the history grows: each bucket's cost is compared with a fresh study's, measured
alongside. The sampler is random by default so that the figure is the stores', not TPE's
(``--sampler tpe`` adds TPE's own cost, which grows with the history by design).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import common
import matplotlib.pyplot as plt
import numpy as np
from optuna.study import MaxTrialsCallback

from mtl.tasks import Task
from search.cluster import COUNTED
from search.engines import FailureGuard, Progress, open_study, run_sweep
from search.space import Space, optuna_suggest, sample
from search.tracking import PARENT_ATTR, RUN_ID_ATTR, Tracker
from search.trial import fixed_params, prepare_data

FLAT_RATIO = 1.25  # the last bucket may cost at most this times a fresh study's trials to call the cost flat
PARTS = ("optuna", "callbacks", "mlflow")


def time_per_trial(sizes: list[int], trials: int) -> list[dict[str, Any]]:
    """Median seconds per trial of the fixed configuration at each data size, through ``run_sweep``."""
    rows = []
    for n_samples in sizes:
        monitor = common.SweepMonitor()
        with common.temp_stores() as stores:
            run_sweep(common.fixed_space(n_samples, epochs=2, name=f"rows-{n_samples}"), trials=trials, printer=monitor, **stores)
        seconds = monitor.trial_seconds()
        rows.append({"n_samples": n_samples, "trial_s": seconds, "median_trial_s": statistics.median(seconds)})
        print(f"  {n_samples:>7} rows: {', '.join(f'{s:.2f}' for s in seconds)} s per trial", flush=True)
    return rows


class PartClock:
    """Accumulates wall time per named part of a trial."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PARTS, 0.0)

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Time the block and add it to ``name``."""
        started = time.perf_counter()
        yield
        self.seconds[name] += time.perf_counter() - started


def fake_metrics(tasks: tuple[Task, ...], rng: np.random.Generator) -> tuple[dict[str, float], dict[str, float]]:
    """One epoch's and the final metrics of a trial, under the names the harness logs."""
    epoch = {"epoch/val/objective": rng.random()}
    final = {"objective": rng.random(), "best_epoch": 0.0}
    for task in tasks:
        metrics = ("loss", *task.metric_names)
        epoch.update({f"epoch/{split}/{task.name}/{m}": rng.random() for split in ("train", "val") for m in metrics})
        epoch[f"epoch/weight/{task.name}"] = 1.0
        final.update({f"{split}/{task.name}/{m}": rng.random() for split in ("val", "test") for m in (*metrics, "normalized_loss")})
    return epoch, final


class Bookkeeper:
    """One study on its own fresh stores, driven through the harness's per-trial bookkeeping without training.

    A context manager: the stores are created on entry and removed on exit.
    """

    def __init__(self, space: Space, tasks: tuple[Task, ...], epochs: int, rng: np.random.Generator) -> None:
        self.space, self.tasks, self.epochs, self.rng = space, tasks, epochs, rng
        self.number = 0
        self._stores = common.temp_stores()

    def __enter__(self) -> Bookkeeper:
        stores = self._stores.__enter__()
        name = self.space.study.name
        self.study = open_study(self.space, name, stores["storage"])
        self.tracker = Tracker(stores["tracking_uri"], name)
        self.parent = self.tracker.open_parent(None, f"sweep-{name}", {}, {"study": name})
        self.study.set_user_attr(PARENT_ATTR, self.parent)
        never = 10**9  # the budget callback must not stop a study that is not optimizing
        self.callbacks = [MaxTrialsCallback(never, states=COUNTED), Progress(never, common.silent), FailureGuard(5, common.silent)]
        return self

    def __exit__(self, *exc: object) -> None:
        self._stores.__exit__(*exc)

    def trial(self) -> dict[str, float]:
        """Run the next trial's bookkeeping, in ``run_sweep``'s order; seconds per part."""
        space, tasks, study, tracker = self.space, self.tasks, self.study, self.tracker
        clock = PartClock()
        epoch_values, final = fake_metrics(tasks, self.rng)
        with clock.part("optuna"):
            trial = study.ask()
            sampled = sample(space, tasks, optuna_suggest(trial))
        with clock.part("mlflow"):
            tags = {"study": space.study.name, "engine": "optuna", "trial_number": str(self.number), "state": "RUNNING"}
            run_id = tracker.start_trial(self.parent, f"trial-{self.number:03d}", {**sampled.params, **fixed_params(space)}, tags)
        with clock.part("optuna"):
            trial.set_user_attr(RUN_ID_ATTR, run_id)
        for epoch in range(self.epochs):
            with clock.part("mlflow"):
                tracker.log_metrics(run_id, epoch_values, step=epoch)
            with clock.part("optuna"):
                trial.report(epoch_values["epoch/val/objective"], epoch)
                trial.should_prune()
        with clock.part("mlflow"):
            tracker.log_metrics(run_id, final)
            tracker.end(run_id, "FINISHED", "COMPLETE")
        with clock.part("optuna"):
            trial.set_user_attr("val", {t.name: {"loss": final[f"val/{t.name}/loss"]} for t in tasks})
            trial.set_user_attr("test", {t.name: {"loss": final[f"test/{t.name}/loss"]} for t in tasks})
            frozen = study.tell(trial, final["objective"])
        with clock.part("callbacks"):
            for callback in self.callbacks:
                callback(study, frozen)
        self.number += 1
        return clock.seconds


def bookkeeping(space: Space, history: int, bucket: int, epochs: int) -> list[dict[str, Any]]:
    """Median ms per trial, per bucket of ``bucket`` trials, of a study growing to ``history`` trials.

    Each trial of the growing study is paired with one of a fresh study (new stores every bucket,
    so its history stays under ``bucket`` trials), in alternating order: load from elsewhere on
    the machine slows both alike, and the ratio of the two isolates the cost of history.
    Medians, so that short bursts of load move them less than means.
    """
    tasks = prepare_data(space).tasks
    rng = np.random.default_rng(space.study.seed)
    rows = []
    with Bookkeeper(space, tasks, epochs, rng) as growing:
        for start in range(0, history - bucket + 1, bucket):
            grown: list[dict[str, float]] = []
            fresh_totals: list[float] = []
            with Bookkeeper(space, tasks, epochs, rng) as fresh:
                for number in range(start, start + bucket):
                    if number % 2:
                        fresh_totals.append(sum(fresh.trial().values()))
                        grown.append(growing.trial())
                    else:
                        grown.append(growing.trial())
                        fresh_totals.append(sum(fresh.trial().values()))
            parts = {f"{p}_ms": 1000 * statistics.median(t[p] for t in grown) for p in PARTS}
            total, control = 1000 * statistics.median(sum(t.values()) for t in grown), 1000 * statistics.median(fresh_totals)
            rows.append({"trials": f"{start + 1}-{start + bucket}", **parts, "total_ms": total, "fresh_ms": control,
                         "over_fresh": total / control})
            print(f"    trials {rows[-1]['trials']}: {total:.0f} ms per trial (fresh study: {control:.0f} ms)", flush=True)
    return rows


def main() -> None:
    """Run both parts, print the tables, write the figures."""
    cli = common.parser(__doc__.splitlines()[0])
    cli.add_argument("--sizes", type=int, nargs="+", help="rows per data set (default 1000 10000 100000; quick 1000 3000)")
    cli.add_argument("--trials-per-size", type=int, help="trials per data size (default 3; quick 2)")
    cli.add_argument("--history", type=int, help="untrained trials in part 2 (default 300; quick 40)")
    cli.add_argument("--bucket", type=int, help="trials per reported bucket in part 2 (default 50; quick 20)")
    cli.add_argument("--epochs", type=int, default=10, help="epochs logged per untrained trial in part 2 (default 10)")
    cli.add_argument("--sampler", default="random", choices=("random", "tpe"), help="part 2's sampler (default random)")
    args = cli.parse_args()
    sizes = args.sizes or ([1000, 3000] if args.quick else [1000, 10000, 100000])
    per_size = args.trials_per_size or (2 if args.quick else 3)
    history = args.history or (40 if args.quick else 300)
    bucket = args.bucket or (20 if args.quick else 50)
    if history < bucket:
        raise SystemExit("--history must be at least --bucket")

    common.warm_up()
    print(f"scaling, part 1: {per_size} trials of a fixed configuration (2 epochs) per data size")
    by_size = time_per_trial(sizes, per_size)
    print(f"scaling, part 2: {history} untrained trials of {common.DEFAULT_SPACE.name} ({args.sampler} sampler), "
          f"{args.epochs} epochs logged each")
    space = common.with_study(common.default_space(), sampler=args.sampler)
    groups = bookkeeping(space, history, bucket, args.epochs)
    ratio, raw = groups[-1]["over_fresh"], groups[-1]["total_ms"] / groups[0]["total_ms"]

    smallest = by_size[0]
    common.print_table("part 1: time per trial as the data grows", ("rows", "x", "median trial s", "x time"), [
        (r["n_samples"], f"{r['n_samples'] / smallest['n_samples']:g}x", r["median_trial_s"],
         f"{r['median_trial_s'] / smallest['median_trial_s']:.2f}x") for r in by_size])
    common.print_table("part 2: harness bookkeeping per trial (no training), median ms",
                       ("trials", *PARTS, "total", "fresh study", "total / fresh"),
                       [(g["trials"], *(g[f"{p}_ms"] for p in PARTS), g["total_ms"], g["fresh_ms"], g["over_fresh"]) for g in groups])
    common.print_table("goal", ("figure", "value"), [
        ("last bucket / first bucket", raw),
        ("last bucket / fresh study alongside", ratio),
        (f"flat (last bucket / fresh <= {FLAT_RATIO})", ratio <= FLAT_RATIO),
    ])

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 3.8))
    rows = [r["n_samples"] for r in by_size]
    medians = [r["median_trial_s"] for r in by_size]
    left.loglog(rows, medians, marker="o", label="median trial")
    left.loglog(rows, [medians[0] * n / rows[0] for n in rows], linestyle=":", color="grey", label="proportional to rows")
    left.minorticks_off()
    left.set_xticks(rows, [f"{n:,}" for n in rows])
    left.set_yticks(medians, [f"{m:.2f}" for m in medians])
    left.set_xlabel("rows (synthetic)")
    left.set_ylabel("seconds per trial (2 epochs)")
    left.set_title("time per trial vs data size", fontsize=10)
    left.legend(fontsize=8)
    index = np.arange(len(groups))
    bottom = np.zeros(len(groups))
    for part in PARTS:
        values = np.array([g[f"{part}_ms"] for g in groups])
        right.bar(index, values, 0.6, bottom=bottom, label=part)
        bottom += values
    right.plot(index, [g["fresh_ms"] for g in groups], "ko--", label="fresh study, same time")
    right.set_ylim(0, 1.35 * max(bottom.max(), max(g["fresh_ms"] for g in groups)))
    right.set_xticks(index, [g["trials"] for g in groups], fontsize=8)
    right.set_xlabel("trials")
    right.set_ylabel("median ms per trial")
    right.set_title(f"bookkeeping per trial as the study grows (last bucket / fresh = {ratio:.2f})", fontsize=10)
    right.legend(fontsize=8, loc="upper center", ncols=2)
    figures = {"time_per_trial": by_size, "bookkeeping_buckets": groups, "last_over_first": raw,
               "last_over_fresh": ratio, "flat_ratio": FLAT_RATIO}
    settings = {"sizes": sizes, "trials_per_size": per_size, "history": history, "bucket": bucket, "epochs_logged": args.epochs,
                "sampler": args.sampler, "fixed_space": common.FIXED_SPACE.strip()}
    common.save_results("scaling", args.quick, settings, figures, fig)


if __name__ == "__main__":
    main()
