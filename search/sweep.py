"""A sweep with the Optuna engine: data first, then the study and the MLflow parent run, then trials."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from mtl.data import Splits, load_dataset, split
from mtl.errors import ConfigError, TrialFailed
from search.background import BackgroundWriter
from search.budget import BudgetReached, StudyBudget, check_budget
from search.cluster import has_heartbeats, raise_if_preempted
from search.lean import lean_process
from search.objective import BestSoFar, TrialContext, run_trial
from search.pruning import PruneOnObjective
from search.reconnect import run_with_retries
from search.resilient import resilient_storage
from search.sampling import optuna_suggest
from search.space import Space
from search.study import PARENT_ATTR, counted_trials, default_storage, default_tracking_uri, local_artifact_root, open_study, redact
from search.tracking import Tracker
from search.warm import Sources, resolve_init

RUN_ID_ATTR = "mlflow_run_id"
WORKER_ATTR = "worker"  # host:pid of the process that ran the trial
FAIL_ATTR = "fail_reason"
MEAN_ATTR = "objective"
MAX_CONSECUTIVE_FAILURES = 5
CAUGHT = (TrialFailed, ConfigError)  # a trial failing this way is recorded FAIL and the sweep goes on


Printer = Callable[[str], None]


@dataclass(frozen=True)
class SweepResult:
    """The study after the sweep, its parent MLflow run, and its best trial (None if none completed)."""

    study: optuna.Study
    parent_run_id: str
    best: FrozenTrial | None

    @property
    def pareto(self) -> list[FrozenTrial]:
        """The non-dominated trials of a study with one objective per task (empty otherwise)."""
        return pareto_trials(self.study)


def prepare_data(space: Space) -> Splits:
    """Load and split the space's data with its seed, and check the space against the tasks."""
    options = dict(space.data.options)
    if not space.data.is_builtin:
        options = {"targets": space.data.tasks, "features": space.data.features, "split_column": space.data.split_column}
    data = load_dataset(space.data.source, options, seed=space.study.seed)
    space.check_tasks(data.tasks)
    return split(data, space.data.val_fraction, space.data.test_fraction, seed=space.study.seed, stratify=space.data.stratify)


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Optuna's Pareto-optimal trials of a multi-objective study, by number; empty for one objective."""
    return sorted(study.best_trials, key=lambda t: t.number) if len(study.directions) > 1 else []


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial, or None; with one objective per task, the Pareto trial of best mean objective."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    if len(study.directions) == 1:
        return study.best_trial
    pick = min if study.directions[0] == optuna.study.StudyDirection.MINIMIZE else max
    return pick(pareto_trials(study), key=lambda t: t.user_attrs[MEAN_ATTR])


def mean_objective(trial: FrozenTrial) -> float:
    """The mean objective over tasks of a complete trial (its value when there is one objective)."""
    return float(trial.user_attrs.get(MEAN_ATTR, trial.values[0]))


class Progress:
    """Prints one line per finished trial: its state and value, the best so far, and the budget used."""

    def __init__(self, budget: int, printer: Printer) -> None:
        self.budget, self.printer, self.started = budget, printer, time.monotonic()
        self.finished = 0  # trials this process finished

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback, run after each trial."""
        self.finished += 1
        if trial.state == TrialState.COMPLETE:
            what = "objective " + ", ".join(f"{v:.4f}" for v in trial.values)
        elif trial.state == TrialState.PRUNED:
            what = f"at epoch {max(trial.intermediate_values, default=0) + 1}"
        else:
            what = trial.user_attrs.get(FAIL_ATTR, "")[:100]
        best = best_trial(study)
        best_text = f"best {mean_objective(best):.4f} (trial {best.number})" if best else "no complete trial yet"
        if len(study.directions) > 1:
            best_text += f", Pareto front {len(pareto_trials(study))}"
        elapsed = time.monotonic() - self.started
        self.printer(f"[{counted_trials(study):>3}/{self.budget}] trial {trial.number:>3} {trial.state.name:<8} "
                     f"{what:<22} | {best_text} | {elapsed:6.1f} s")


class FailureGuard:
    """Stops the sweep after ``limit`` consecutive failed trials: the space itself is likely broken."""

    def __init__(self, limit: int, printer: Printer) -> None:
        self.limit, self.printer, self.streak = limit, printer, 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback, run after each trial."""
        self.streak = self.streak + 1 if trial.state == TrialState.FAIL else 0
        if self.streak >= self.limit:
            self.printer(f"stopping: {self.limit} trials in a row failed; check the space's ranges")
            study.stop()


@dataclass(frozen=True)
class OpenSweep:
    """A sweep ready to run: its data, study, tracker and MLflow parent run."""

    space: Space
    splits: Splits
    study: optuna.Study
    tracker: Tracker
    parent_run_id: str
    budget: int
    storage: str
    tracking_uri: str
    sources: Sources | None = None


def open_sweep(space: Space, study_name: str | None = None, storage: str | None = None,
               tracking_uri: str | None = None, trials: int | None = None, worker: int = 0) -> OpenSweep:
    """Load the data and any warm-start weights, then create or resume the study and its MLflow parent run.

    ``worker`` > 0 is one of several processes sharing the study: its sampler is seeded
    ``seed + worker`` so workers do not propose identical parameters.
    """
    study_name = study_name or space.study.name
    storage = storage or default_storage()
    tracking_uri = tracking_uri or default_tracking_uri()
    budget = trials or space.study.trials
    splits = prepare_data(space)
    sources = resolve_init(space, splits, tracking_uri)  # before anything is written: a bad source is one error
    study = open_study(space, study_name, storage, n_tasks=len(splits.tasks), sampler_seed=space.study.seed + worker,
                       tracking_uri=tracking_uri)
    tracker = Tracker(tracking_uri, study_name, local_artifact_root(tracking_uri))
    parent_params = {"space": space.path, "trials": budget, "sampler": space.study.sampler, "seed": space.study.seed,
                     "data.source": space.data.source, "tasks": ",".join(t.name for t in splits.tasks)}
    parent = tracker.open_parent(study.user_attrs.get(PARENT_ATTR), f"sweep-{study_name}", parent_params,
                                 {"study": study_name, "engine": "optuna", "kind": "sweep"})
    study.set_user_attr(PARENT_ATTR, parent)
    return OpenSweep(space, splits, study, tracker, parent, budget, storage, tracking_uri, sources)


def run_sweep(
    space: Space,
    study_name: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    printer: Printer = print,
    worker: int = 0,
    finish: bool = True,
) -> SweepResult:
    """Run (or resume) the study until ``trials`` trials count in total or ``timeout`` seconds pass.

    Failed trials do not count towards the budget, so they are replaced; five failures in a row
    stop the sweep. Several processes may run the same study at once (``worker`` 0, 1, ...): the
    budget still holds for the study as a whole. Worker 0 closes the parent run when it stops,
    unless ``finish`` is false (then :func:`finish_sweep` closes it once every worker is done);
    another worker closes it when it stops with the study's budget complete. A trial that another
    worker failed as stale while this one was cut off from the storage ends with one line, and the
    sweep goes on.
    """
    sweep = open_sweep(space, study_name, storage, tracking_uri, trials, worker)
    study, tracker, parent, budget, splits = sweep.study, sweep.tracker, sweep.parent_run_id, sweep.budget, sweep.splits
    timeout = timeout or space.study.timeout
    writer, best = BackgroundWriter(), BestSoFar(space.objective.direction)
    resilient = resilient_storage(study)
    if resilient is not None:
        resilient.printer = printer
    ctx = TrialContext(space, splits, tracker, parent, study.study_name, sources=sweep.sources, writer=writer, best=best)

    def objective(trial: optuna.Trial) -> float | list[float]:
        raise_if_preempted()
        try:
            check_budget(study, trial, budget)
        except BudgetReached as exc:
            trial.set_user_attr(FAIL_ATTR, str(exc))
            raise
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        try:
            outcome = run_trial(ctx, trial.number, optuna_suggest(trial),
                                on_run=lambda run_id: trial.set_user_attr(RUN_ID_ATTR, run_id),
                                pruning=None if space.per_task or space.study.pruner == "none" else PruneOnObjective(trial))
        except CAUGHT as exc:
            trial.set_user_attr(FAIL_ATTR, str(exc))
            raise
        trial.set_user_attr("val", outcome.result.val)
        trial.set_user_attr("test", outcome.result.test)
        trial.set_user_attr(MEAN_ATTR, outcome.result.objective)
        if resilient is not None:
            writer.flush()  # the MLflow run is closed before Optuna stores the trial: a worker killed between leaves none RUNNING
        if outcome.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {outcome.pruned_at + 1}")
        if space.per_task:
            return [outcome.result.task_scores[t.name] for t in splits.tasks]
        return outcome.result.objective

    printer(f"study {study.study_name!r}: {counted_trials(study)}/{budget} trials done"
            + (f" (worker {worker})" if worker else f"; storage {redact(sweep.storage)}, tracking {redact(sweep.tracking_uri)}"))
    progress = Progress(budget, printer)
    callbacks = [StudyBudget(budget, has_heartbeats(sweep.storage), printer), progress,
                 FailureGuard(MAX_CONSECUTIVE_FAILURES, printer)]
    deadline = None if timeout is None else time.monotonic() + timeout

    def optimize() -> None:
        writer.flush()  # on a retry after a storage error: the lost trial's MLflow writes land before it is failed
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if counted_trials(study) >= budget or (left is not None and left <= 0):
                return
            try:
                study.optimize(objective, timeout=left, catch=(*CAUGHT, BudgetReached), callbacks=callbacks)
                return
            except Exception:
                taken = resilient.release_all() if resilient is not None else []
                if not taken:
                    raise
                for trial in taken:  # failed as stale by another worker: Optuna then cannot record it
                    drop_taken_trial(trial)
            finally:
                if resilient is not None:
                    resilient.release_all()  # a trial still held was cut off: it goes stale and is retried

    def drop_taken_trial(trial: FrozenTrial) -> None:
        printer(f"trial {trial.number} was failed as stale by another worker while this one was cut off from the "
                "storage; its result is dropped and another trial replaces it")
        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if run_id:
            writer.flush()  # this worker's own end of the run lands first
            tracker.end(run_id, "FAILED", "FAIL", "worker lost: no heartbeat (taken over while cut off from the storage)")

    try:
        try:
            with lean_process():
                run_with_retries(optimize, lambda: progress.finished, sweep.storage, printer)
            best.log_curves(ctx)
        finally:
            writer.close()  # every trial's artifacts written and its run closed
    except KeyboardInterrupt:
        if not worker:
            tracker.end(parent, "KILLED", "INTERRUPTED")
        raise
    except BaseException as exc:
        if not worker:
            tracker.end(parent, "FAILED", "FAIL", repr(exc))
        raise
    if not finish or (worker and counted_trials(study) < budget):
        return SweepResult(study, parent, best_trial(study))
    return finish_sweep(sweep)


def finish_sweep(sweep: OpenSweep) -> SweepResult:
    """Tag the parent run with the best trial (and Pareto front) and close it."""
    study, tracker, parent, space = sweep.study, sweep.tracker, sweep.parent_run_id, sweep.space
    best = best_trial(study)
    if best is not None:
        tags = {"best_trial": best.number, "best_run_id": best.user_attrs.get(RUN_ID_ATTR, "")}
        if space.per_task:
            tags["pareto_trials"] = ",".join(str(t.number) for t in pareto_trials(study))
        tracker.set_tags(parent, tags)
        tracker.log_metrics(parent, {"best_objective": mean_objective(best), "trials_counted": counted_trials(study)})
    tracker.end(parent, "FINISHED", "COMPLETE")
    return SweepResult(study, parent, best)
