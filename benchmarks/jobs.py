"""Parallel trials: two threads in one process or two processes, against one trial at a time.

N configurations are drawn from ``spaces/benchmark.toml`` (seeded random sampler) and each is built,
compiled and fitted for ``epochs`` epochs (patience = epochs) with plain Keras on the sweep's data,
three ways: (a) one after another in this process; (b) by two threads of this process, each taking
the next configuration when it is free, TensorFlow sized as ``run --jobs 2`` sizes a process that
runs alone (intra-op threads = cores); (c) by two worker processes, each with ``cores / 2``
intra-op threads and one inter-op thread (as ``run --jobs 2`` starts them), fed the configurations
through a queue. Keras' ``clear_session`` is global to a process, so no arm calls it (threads could
not); every arm pays the same warm-up first, untimed. Reported: wall time per arm and its speed-up
over (a). ``run --jobs N`` uses whichever of (b) and (c) is faster: processes, on this machine.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import common
import matplotlib.pyplot as plt
from overhead import draw_configurations, replay

from mtl.data import Splits
from search.cluster import threads_per_job
from search.trial import prepare_data

WORKERS = 2


def fit(configuration: dict[str, Any], number: int, epochs: int) -> float:
    """Build, compile and fit one configuration with plain Keras; its seconds."""
    import keras

    from mtl.models import build_model

    space = common.with_training(common.default_space(), epochs=epochs, patience=epochs)
    splits = default_splits()
    sampled = replay(space, splits, configuration)
    tasks = splits.tasks
    started = time.perf_counter()
    x = splits.train.x
    model = build_model(sampled.model, tasks, x.mean(axis=0), x.var(axis=0), seed=space.study.seed + number)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=sampled.learning_rate), loss={t.name: t.loss for t in tasks},
                  loss_weights=sampled.loss_weights, metrics={t.name: t.metrics() for t in tasks})
    model.fit(x, {t.name: splits.train.y[t.name] for t in tasks},
              validation_data=(splits.val.x, {t.name: splits.val.y[t.name] for t in tasks}),
              batch_size=sampled.batch_size, validation_batch_size=len(splits.val), epochs=epochs, verbose=0)
    return time.perf_counter() - started


@cache
def default_splits() -> Splits:
    """The default space's splits (its seed fixes them), made once per process."""
    return prepare_data(common.default_space())


def _worker(jobs: multiprocessing.Queue, done: multiprocessing.Queue, epochs: int, warm_up: dict[str, Any]) -> None:
    """A worker process: TensorFlow sized for two processes, a warm-up fit, then configurations until told to stop."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads_per_job(WORKERS))
    tf.config.threading.set_inter_op_parallelism_threads(1)
    fit(warm_up, 0, 1)
    done.put(None)  # ready
    while (job := jobs.get()) is not None:
        number, configuration = job
        done.put(fit(configuration, number, epochs))


def in_processes(configurations: list[dict[str, Any]], epochs: int) -> float:
    """Seconds for two worker processes to fit every configuration (timed once both are warm)."""
    context = multiprocessing.get_context("spawn")
    jobs, done = context.Queue(), context.Queue()
    workers = [context.Process(target=_worker, args=(jobs, done, epochs, configurations[0])) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    for _ in workers:
        done.get()
    started = time.perf_counter()
    for job in enumerate(configurations):
        jobs.put(job)
    for _ in configurations:
        done.get()
    seconds = time.perf_counter() - started
    for _ in workers:
        jobs.put(None)
    for worker in workers:
        worker.join()
    return seconds


def main() -> None:
    """Run the three arms, print the table, write the figures."""
    cli = common.parser(__doc__.splitlines()[0])
    cli.add_argument("--trials", type=int, help="configurations (default 8; quick 4)")
    cli.add_argument("--epochs", type=int, help="epochs per configuration (default 25; quick 3)")
    args = cli.parse_args()
    n, epochs = args.trials or (4 if args.quick else 8), args.epochs or (3 if args.quick else 25)
    space = common.with_study(common.default_space(), sampler="random")
    configurations = draw_configurations(space, default_splits(), n)
    print(f"jobs: {n} configurations of {common.DEFAULT_SPACE.name}, {epochs} epochs each, {os.cpu_count()} cores", flush=True)
    processes = in_processes(configurations, epochs)
    print(f"  two processes: {processes:.2f} s", flush=True)
    fit(configurations[0], 0, 1)  # warm-up of this process
    started = time.perf_counter()
    for number, configuration in enumerate(configurations):
        fit(configuration, number, epochs)
    sequential = time.perf_counter() - started
    print(f"  one at a time: {sequential:.2f} s", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda job: fit(job[1], job[0], epochs), enumerate(configurations)))
    threads = time.perf_counter() - started
    print(f"  two threads: {threads:.2f} s", flush=True)

    arms = {"one at a time": sequential, "two threads, one process": threads, "two processes": processes}
    figures = {"seconds": arms, "speed_up": {arm: sequential / seconds for arm, seconds in arms.items()},
               "faster_parallel_mode": "processes" if processes < threads else "threads"}
    common.print_table("arms", ("arm", "seconds", "speed-up"), [(arm, s, sequential / s) for arm, s in arms.items()])
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    ax.barh(list(arms), [sequential / s for s in arms.values()], color=["grey", "tab:orange", "tab:blue"])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("speed-up over one trial at a time")
    ax.set_title(f"{n} trials x {epochs} epochs, {os.cpu_count()} cores", fontsize=10)
    settings = {"space": str(common.DEFAULT_SPACE.relative_to(common.REPO)), "trials": n, "epochs": epochs, "workers": WORKERS,
                "cores": os.cpu_count()}
    common.save_results("jobs", args.quick, settings, figures, fig)


if __name__ == "__main__":
    main()
