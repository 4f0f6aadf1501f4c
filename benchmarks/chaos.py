"""Chaos: workers of one study killed, pre-empted and cut off from the storage at random; is every trial
still counted exactly once?

Set-up: ``--workers`` (3) ``python -m search worker`` processes share a study of ``--trials`` (40)
trials on the machine's PostgreSQL (127.0.0.1:5432, user postgres, throwaway databases). The Optuna
storage is reached through a TCP proxy this script controls (``faults.Link``; the test extra's psycopg
must be installed); the MLflow tracking store is a second database, reached directly.
Heartbeats every ``--heartbeat`` s, stale after ``--grace`` s; a trial (``--epochs`` epochs of
``--rows`` synthetic rows) lasts longer than the grace period.

While trials remain, one event after another, ``--gap`` seconds apart at random, in a seeded random
order: ``--kills`` times SIGKILL a worker that runs a trial and start a replacement; ``--terms``
times SIGTERM one and start a replacement; ``--short-cuts`` times cut the proxy for half the grace
period; once cut it for ``--long-cut`` grace periods (longer than the grace period).

At the end (every worker exited) it prints, and writes to ``benchmarks/results/chaos.{json,png}``:
trials counted (complete + pruned) vs the budget; trials lost (left RUNNING/WAITING, or a trial
failed as stale whose retry lineage has no complete/pruned trial); trials doubled (a retry lineage
with two counted trials, or a trial failed as stale whose worker was never killed, i.e. alive);
MLflow runs left RUNNING; the parent run's state; worker exit codes and tracebacks in their logs.
Goal: exactly the budget, 0 lost, 0 doubled, 0 RUNNING, parent FINISHED.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import optuna
from faults import Link, postgres_databases
from mlflow.tracking import MlflowClient

RESULTS = Path(__file__).resolve().parent / "results"
STUDY = "chaos"
SPACE = """
[study]
name = "chaos"
sampler = "random"
seed = 5

[data]
source = "synthetic"

[data.options]
n_samples = {rows}
n_features = 6
n_tasks = 2

[training]
epochs = {epochs}
patience = {epochs}

[search]
shared_depth = {{ low = 0, high = 2 }}
shared_width = {{ low = 4, high = 16 }}
tower_depth = {{ low = 0, high = 1 }}
tower_width = 8
loss_weight = {{ low = 0.5, high = 2.0 }}
learning_rate = 0.01
batch_size = 16
"""


def parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Kill, pre-empt and cut off the workers of one study at random; count what survives.")
    parser.add_argument("--trials", type=int, default=40, help="the study's budget (default 40)")
    parser.add_argument("--workers", type=int, default=3, help="workers at any time (default 3)")
    parser.add_argument("--epochs", type=int, default=40, help="epochs per trial (default 40)")
    parser.add_argument("--rows", type=int, default=1500, help="synthetic rows (default 1500)")
    parser.add_argument("--heartbeat", type=int, default=1, help="heartbeat interval, s (default 1)")
    parser.add_argument("--grace", type=int, default=5, help="grace period, s (default 5)")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs, each with a replacement (default 2)")
    parser.add_argument("--terms", type=int, default=1, help="SIGTERMs, each with a replacement (default 1)")
    parser.add_argument("--short-cuts", type=int, default=3, help="proxy cuts of half the grace period (default 3)")
    parser.add_argument("--long-cut", type=float, default=3.0, help="one cut of this many grace periods (default 3; 0: none)")
    parser.add_argument("--gap", type=float, nargs=2, default=(8.0, 20.0), metavar=("MIN", "MAX"),
                        help="seconds between events, drawn uniformly (default 8 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the event order and times (default 0)")
    parser.add_argument("--quick", action="store_true", help="a tiny run to check the script (12 trials, 20 epochs)")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.epochs, args.kills, args.short_cuts = 12, 20, 1, 1
    for name in ("trials", "workers", "epochs", "rows", "heartbeat", "grace"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.long_cut and args.long_cut <= 1:
        parser.error("--long-cut must be 0 or more than 1 grace period")
    return args


@dataclass
class Cluster:
    """The workers of the study, their logs, and what was done to them."""

    storage: str  # through the proxy
    tracking: str
    folder: Path
    env: dict[str, str]
    workers: dict[int, subprocess.Popen] = field(default_factory=dict)
    killed: set[int] = field(default_factory=set)  # pids of SIGKILLed workers
    events: list[tuple[float, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def start(self) -> int:
        """Start one more worker; its index."""
        index = max(self.workers, default=0) + 1
        log = open(self.folder / f"worker-{index}.log", "w")
        self.workers[index] = subprocess.Popen(
            [sys.executable, "-m", "search", "worker", "--study", STUDY, "--storage", self.storage,
             "--tracking-uri", self.tracking, "--worker", str(index)],
            cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT, text=True)
        return index

    def live(self) -> list[int]:
        """Indices of workers still running."""
        return [i for i, p in self.workers.items() if p.poll() is None]

    def note(self, what: str) -> None:
        """Record and print an event."""
        at = time.monotonic() - self.started
        self.events.append((at, what))
        print(f"{at:7.1f} s  {what}", flush=True)


def running_pids(storage: str) -> set[int]:
    """Process ids of workers that hold a RUNNING trial with an MLflow run."""
    study = optuna.load_study(study_name=STUDY, storage=storage)
    return {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
            if "worker" in t.user_attrs and "mlflow_run_id" in t.user_attrs}


def counted(storage: str) -> int:
    """Complete and pruned trials of the study."""
    study = optuna.load_study(study_name=STUDY, storage=storage)
    return len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)))


def do(event: str, cluster: Cluster, link: Link, direct: str, args: argparse.Namespace, rng: random.Random) -> None:
    """Carry out one event."""
    if event in ("kill", "term"):
        busy = running_pids(direct)
        candidates = [i for i in cluster.live() if cluster.workers[i].pid in busy] or cluster.live()
        if not candidates:
            return
        index = rng.choice(candidates)
        process = cluster.workers[index]
        held = "a trial" if process.pid in busy else "no trial"
        if event == "kill":
            process.kill()
            cluster.killed.add(process.pid)
        else:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=300)
        replacement = cluster.start()
        cluster.note(f"{'SIGKILL' if event == 'kill' else 'SIGTERM'} worker {index} (pid {process.pid}, holding {held}, "
                     f"exit {process.returncode}); worker {replacement} started")
    else:
        seconds = args.grace * (0.5 if event == "short cut" else args.long_cut)
        link.cut()
        cluster.note(f"proxy cut for {seconds:.1f} s")
        time.sleep(seconds)
        link.restore()
        cluster.note("proxy restored")


def tally(direct: str, tracking: str, cluster: Cluster, budget: int) -> dict:
    """The figures of the run (see the module docstring)."""
    trials = optuna.load_study(study_name=STUDY, storage=direct).trials
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name(STUDY)
    runs = client.search_runs([experiment.experiment_id], max_results=5000)
    by_run = {r.info.run_id: r for r in runs}
    good = ("COMPLETE", "PRUNED")

    def failed_as_stale(trial: optuna.trial.FrozenTrial) -> bool:
        run = by_run.get(trial.user_attrs.get("mlflow_run_id", ""))
        retried = any(t.system_attrs.get("retry_history", [None])[-1] == trial.number for t in trials)
        return trial.state.name == "FAIL" and (retried or (run is not None and "no heartbeat" in run.data.tags.get("error", "")))

    lineages: dict[int, list[optuna.trial.FrozenTrial]] = defaultdict(list)
    for trial in trials:
        lineages[trial.system_attrs.get("failed_trial", trial.number)].append(trial)
    stale = [t for t in trials if failed_as_stale(t)]
    stale_alive = [t for t in stale if int(t.user_attrs.get("worker", "x:0").rsplit(":", 1)[1]) not in cluster.killed]
    left = [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    unfinished_lineages = [root for root, members in lineages.items()
                           if any(failed_as_stale(m) for m in members) and not any(m.state.name in good for m in members)]
    doubled_lineages = [root for root, members in lineages.items() if sum(m.state.name in good for m in members) > 1]
    parent = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    durations = sorted((t.datetime_complete - t.datetime_start).total_seconds() for t in trials
                       if t.state.name == "COMPLETE" and t.datetime_complete and t.datetime_start)
    logs = {p.name: p.read_text() for p in sorted(cluster.folder.glob("worker-*.log"))}
    return {
        "budget": budget,
        "counted": sum(t.state.name in good for t in trials),
        "trials": len(trials),
        "lost": len(left) + len(unfinished_lineages),
        "lost_detail": {"left_running_or_waiting": [t.number for t in left], "stale_lineages_unfinished": unfinished_lineages},
        "doubled": len(doubled_lineages) + len(stale_alive),
        "doubled_detail": {"lineages_counted_twice": doubled_lineages, "live_trials_failed_as_stale": [t.number for t in stale_alive]},
        "failed_as_stale": [t.number for t in stale],
        "preempted": sum(by_run.get(t.user_attrs.get("mlflow_run_id", "")) is not None
                         and by_run[t.user_attrs["mlflow_run_id"]].info.status == "KILLED" for t in trials),
        "budget_taken_failures": sum("already taken" in t.user_attrs.get("fail_reason", "") for t in trials),
        "mlflow_running": sum(r.info.status == "RUNNING" for r in runs),
        "parent_state": parent[0].info.status if parent else "missing",
        "median_trial_s": durations[len(durations) // 2] if durations else None,
        "worker_exit_codes": {i: p.returncode for i, p in cluster.workers.items()},
        "tracebacks": sorted(name for name, text in logs.items() if "Traceback" in text),
        "taken_over_lines": sum(text.count("was failed as stale by another worker") for text in logs.values()),
        "trial_spans": [(t.number, t.state.name, t.datetime_start.isoformat() if t.datetime_start else None,
                         t.datetime_complete.isoformat() if t.datetime_complete else None, t.user_attrs.get("worker"))
                        for t in trials],
    }


def draw(result: dict, events: list[tuple[float, str]], started_at: datetime, path: Path) -> None:
    """One bar per trial (start to end, by state) and a line per event."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"COMPLETE": "tab:green", "PRUNED": "tab:olive", "FAIL": "tab:red", "RUNNING": "tab:gray", "WAITING": "tab:gray"}
    figure, axes = plt.subplots(figsize=(10, 6))
    for number, state, start, end, _ in result["trial_spans"]:
        if start and end:
            left = (datetime.fromisoformat(start) - started_at).total_seconds()
            axes.barh(number, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), left=left,
                      color=colors.get(state, "black"), height=0.8)
    for at, what in events:
        axes.axvline(at, color="tab:blue" if "proxy" in what else "black", linewidth=0.8, linestyle=":")
    axes.set_xlabel("seconds since the workers started (dotted: events; blue: proxy)")
    axes.set_ylabel("trial number")
    axes.set_title(f"chaos: {result['counted']}/{result['budget']} counted, {result['lost']} lost, "
                   f"{result['doubled']} doubled, {result['mlflow_running']} MLflow runs RUNNING")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> int:
    """Run the chaos benchmark and print its figures."""
    args = parse_args()
    rng = random.Random(args.seed)
    databases = postgres_databases(("optuna", "mlflow"))
    direct, tracking = next(databases)
    link = Link(5432)
    folder = Path(tempfile.mkdtemp(prefix="mtl-chaos-"))
    space = folder / "chaos.toml"
    space.write_text(SPACE.format(rows=args.rows, epochs=args.epochs))
    env = {**os.environ, "MTL_HEARTBEAT_SECONDS": str(args.heartbeat), "MTL_GRACE_SECONDS": str(args.grace),
           "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        subprocess.run([sys.executable, "-m", "search", "create", "--space", str(space), "--trials", str(args.trials),
                        "--storage", direct, "--tracking-uri", tracking], cwd=folder, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        cluster = Cluster(link.url(direct), tracking, folder, env)
        started_at = datetime.now()
        for _ in range(args.workers):
            cluster.start()
        cluster.note(f"{args.workers} workers started (logs in {folder})")
        plan = ["kill"] * args.kills + ["term"] * args.terms + ["short cut"] * args.short_cuts + (["long cut"] if args.long_cut else [])
        rng.shuffle(plan)
        for event in plan:
            time.sleep(rng.uniform(*args.gap))
            if counted(direct) >= args.trials * 0.9 or not cluster.live():
                cluster.note(f"budget nearly done: {event} and later events skipped")
                break
            do(event, cluster, link, direct, args, rng)
        for process in cluster.workers.values():
            process.wait(timeout=1800)
        cluster.note("every worker exited")
        result = tally(direct, tracking, cluster, args.trials)
    finally:
        link.cut()
        next(databases, None)  # drops the databases
    result["settings"] = {k: v for k, v in vars(args).items()}
    result["events"] = cluster.events
    result["seconds"] = round(time.monotonic() - cluster.started, 1)
    name = "chaos-quick" if args.quick else "chaos"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    draw(result, cluster.events, started_at, RESULTS / f"{name}.png")
    met = (result["counted"] == args.trials and not result["lost"] and not result["doubled"]
           and not result["mlflow_running"] and result["parent_state"] == "FINISHED")
    print(f"\ntrials counted       {result['counted']} / {args.trials} budget ({result['trials']} trials in all)")
    print(f"trials lost          {result['lost']}  {result['lost_detail']}")
    print(f"trials doubled       {result['doubled']}  {result['doubled_detail']}")
    print(f"failed as stale      {result['failed_as_stale']} (SIGKILLed pids {sorted(cluster.killed)})")
    print(f"pre-empted (KILLED)  {result['preempted']}; failed at start, budget taken: {result['budget_taken_failures']}")
    print(f"MLflow runs RUNNING  {result['mlflow_running']}")
    print(f"parent run           {result['parent_state']}")
    print(f"workers              exit codes {result['worker_exit_codes']}; tracebacks in {result['tracebacks'] or 'none'}; "
          f"'taken over' lines {result['taken_over_lines']}")
    print(f"median trial         {result['median_trial_s']} s (grace {args.grace} s); whole run {result['seconds']} s")
    print(f"goal (budget / 0 lost / 0 doubled / 0 RUNNING / parent FINISHED): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
