"""Memory over a long sweep: resident memory after every trial of one in-process ``run_sweep``.

A tiny space (400 synthetic rows, 2 epochs, widths of 4 to 8 units) keeps each trial short, so
the sweep shows what the harness itself keeps per trial: Keras graphs, MLflow and Optuna state,
figures. Trial times are recorded too: memory that the garbage collector must walk slows trials.
RSS (``VmRSS`` of ``/proc/self/status``) is read by the ``printer`` hook, which
``run_sweep`` calls once per finished trial. Growth is measured from trial 10 on, after the
first trials' one-time allocations (TensorFlow kernels, first traces, MLflow's store).
``--batch B`` tunes in batches of B trials trained as padded stacks (``[study] batch``); its
figures go to ``memory-batch<B>.*``.
"""

from __future__ import annotations

import common
import matplotlib.pyplot as plt
import numpy as np

from search.engines import run_sweep
from search.space import parse_space

GOAL_MB = 100.0
BASELINE_TRIAL = 10

TINY_SPACE = """
[study]
name = "memory"
sampler = "{sampler}"
seed = 0
batch = {batch}

[data]
source = "synthetic"

[data.options]
n_samples = 400
n_features = 8
n_tasks = 2

[training]
epochs = 2
patience = 2

[search]
shared_depth = {{ low = 0, high = 2 }}
shared_width = {{ low = 4, high = 8 }}
tower_depth = {{ low = 0, high = 1 }}
tower_width = {{ low = 4, high = 8 }}
tie_outputs = [false, true]
activation = ["relu", "gelu"]
loss_weight = {{ low = 0.5, high = 2.0 }}
learning_rate = {{ low = 1e-3, high = 1e-2, log = true }}
batch_size = [32, 64]
"""


def main() -> None:
    """Run the sweep, print the table, write the figures."""
    cli = common.parser(__doc__.splitlines()[0])
    cli.add_argument("--trials", type=int, help="trials in the sweep (default 200; quick 20)")
    cli.add_argument("--sampler", default="tpe", choices=("tpe", "random"), help="the study's sampler (default tpe)")
    cli.add_argument("--batch", type=int, default=1, help="[study] batch: trials trained as padded stacks (default 1)")
    args = cli.parse_args()
    n = args.trials or (20 if args.quick else 200)
    if n <= BASELINE_TRIAL:
        raise SystemExit(f"--trials must exceed {BASELINE_TRIAL}: growth is measured from trial {BASELINE_TRIAL} on")
    space = parse_space(TINY_SPACE.format(sampler=args.sampler, batch=args.batch), "<memory>")

    print(f"memory: {n} trials of a tiny space in one process ({args.sampler} sampler, batch {args.batch})")
    before = common.rss_mb()
    monitor = common.SweepMonitor()
    with common.temp_stores() as stores:
        run_sweep(space, trials=n, printer=monitor, **stores)
    marks = monitor.trials()
    rss = [m.rss_mb for m in marks]
    seconds = monitor.trial_seconds()
    early, late = np.mean(seconds[:BASELINE_TRIAL]), np.mean(seconds[-BASELINE_TRIAL:])
    at_baseline, last = rss[BASELINE_TRIAL - 1], rss[-1]
    growth = last - at_baseline
    later = np.arange(BASELINE_TRIAL, len(rss) + 1)
    slope = float(np.polyfit(later, rss[BASELINE_TRIAL - 1:], 1)[0]) * 100
    figures = {
        "rss_before_mb": before,
        "rss_after_trial_mb": rss,
        "rss_at_trial_10_mb": at_baseline,
        "rss_last_mb": last,
        "growth_mb": growth,
        "slope_mb_per_100_trials": slope,
        "peak_mb": max(rss),
        "trial_s": seconds,
        "mean_trial_s_first_10": float(early),
        "mean_trial_s_last_10": float(late),
        "sweep_s": marks[-1].seconds,
        "goal_growth_mb": GOAL_MB,
    }
    common.print_table("resident memory", ("figure", "value"), [
        ("RSS before the sweep, MB", before),
        (f"RSS after trial {BASELINE_TRIAL}, MB", at_baseline),
        (f"RSS after trial {len(rss)}, MB", last),
        ("peak, MB", max(rss)),
        (f"growth {BASELINE_TRIAL} -> {len(rss)}, MB (goal < {GOAL_MB:g})", growth),
        ("trend from trial 10, MB per 100 trials", slope),
        (f"mean trial time, first {BASELINE_TRIAL}, s", float(early)),
        (f"mean trial time, last {BASELINE_TRIAL}, s", float(late)),
        ("sweep wall time, s", marks[-1].seconds),
        ("goal met", growth < GOAL_MB),
    ])

    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.plot(range(1, len(rss) + 1), rss, marker="." if len(rss) <= 50 else None)
    ax.axvline(BASELINE_TRIAL, color="grey", linestyle=":", label=f"trial {BASELINE_TRIAL}")
    ax.axhline(at_baseline + GOAL_MB, color="red", linestyle="--", linewidth=0.8, label=f"trial {BASELINE_TRIAL} + {GOAL_MB:g} MB")
    ax.set_xlabel("trials finished")
    ax.set_ylabel("RSS, MB")
    ax.set_title(f"RSS over {len(rss)} trials: {growth:+.1f} MB after trial {BASELINE_TRIAL}", fontsize=10)
    ax.legend(fontsize=8)
    name = "memory" if args.batch == 1 else f"memory-batch{args.batch}"
    common.save_results(name, args.quick, {"trials": n, "sampler": args.sampler, "batch": args.batch, "space": TINY_SPACE.strip()},
                        figures, fig)


if __name__ == "__main__":
    main()
