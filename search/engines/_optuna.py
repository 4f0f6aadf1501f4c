"""A sweep with the Optuna engine: data first, then the study and the MLflow parent run, then trials.

A space that compares arms (:attr:`search.space.Space.compare`) gets one study per arm, named
``<study>/<arm>``, each with the whole budget (``trials``, and ``timeout`` seconds) to itself, so
every arm is tuned on an equal and exact budget however many processes share the work; the study
``<study>`` itself holds no trials, only the space, the budget and the parent run every arm's trials
nest under. The arms are tuned one after another, in the space's order.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from mtl.training import typical_step_ms
from search.affinity import enqueue_candidates, ranked_candidates, resolve_groups
from search.cluster import (
    BudgetReached,
    StudyBudget,
    check_budget,
    has_heartbeats,
    resilient_storage,
    run_with_retries,
)
from search.engines._batched import optimize_in_batches
from search.engines._champion import crown, crown_confirmed
from search.engines._common import CAUGHT, MAX_CONSECUTIVE_FAILURES, Printer
from search.engines._pruning import PruneTrial
from search.engines._study import batch_size, counted_trials, load_existing_study, open_study, stored_space
from search.engines._sweep import (
    ArmStudy,
    OpenSweep,
    SweepResult,
    arm_study_name,
    best_trial,
    mean_objective,
    own_arms,
    pareto_trials,
    replicate_arm_space,
    replicate_splits,
    splits_arms,
)
from search.errors import StorageError
from search.signals import raise_if_preempted
from search.space import Space, optuna_suggest
from search.stores import default_storage, default_tracking_uri, redact
from search.tracking import (
    ARMS_ATTR,
    BUDGET_ATTR,
    FAIL_ATTR,
    MEAN_ATTR,
    PARENT_ATTR,
    RUN_ID_ATTR,
    STEP_MS_ATTR,
    WORKER_ATTR,
    BackgroundWriter,
    ModelKeeping,
    Tracker,
)
from search.trial import (
    BatchTrial,
    BestSoFar,
    TrialContext,
    TrialOutcome,
    lean_process,
    prepare_data,
    resolve_init,
    run_batch,
    run_trial,
    why_not_fused,
)

if TYPE_CHECKING:  # search.compare imports the engines
    from search.compare import Verdict



class Progress:
    """Prints one line per finished trial: its state and value, the best so far, the budget used, the time
    elapsed and an estimate of what is left (this process's mean time per trial times the trials to go)."""

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
        elapsed, counted = time.monotonic() - self.started, counted_trials(study)
        left = f", ~{elapsed / self.finished * (self.budget - counted):.0f} s left" if counted < self.budget else ""
        self.printer(f"[{counted:>3}/{self.budget}] trial {trial.number:>3} {trial.state.name:<8} "
                     f"{what:<22} | {best_text} | {elapsed:6.1f} s{left}")


class FailureGuard:
    """Stops the sweep after ``limit`` consecutive failed trials: the space itself is likely broken."""

    def __init__(self, limit: int, printer: Printer) -> None:
        self.limit, self.printer, self.streak = limit, printer, 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback, run after each trial."""
        if self.stops(trial):
            study.stop()

    def stops(self, trial: FrozenTrial) -> bool:
        """Count ``trial``; True (said once) when the streak of failures reaches the limit."""
        self.streak = self.streak + 1 if trial.state == TrialState.FAIL else 0
        if self.streak == self.limit:
            self.printer(f"stopping: {self.limit} trials in a row failed; check the space's ranges")
        return self.streak >= self.limit


def open_sweep(space: Space, study_name: str | None = None, storage: str | None = None,
               tracking_uri: str | None = None, trials: int | None = None, worker: int = 0,
               frame: pd.DataFrame | None = None, jobs: int = 1, printer: Printer = print) -> OpenSweep:
    """Load the data and any warm-start weights, then create or resume the study and its MLflow parent run.

    Runs a dead process left RUNNING in the study's experiment are ended first (:meth:`Tracker.end_orphans`).
    With ``groups = "auto"`` each study searching the affinity candidates gets one trial per candidate
    enqueued, best score first (:func:`search.affinity.enqueue_candidates`).

    ``frame`` is the table in memory, in place of the file the space names.
    ``worker`` > 0 is one of several processes sharing the study: its sampler is seeded
    ``seed + worker`` so workers do not propose identical parameters. Every arm of a comparison
    is seeded alike, so arms identical but for their names are tuned identically; where ``jobs``
    processes split the arms (:func:`splits_arms`) each arm has one process, seeded ``seed``
    whichever it is.
    """
    study_name = study_name or space.study.name
    storage = storage or default_storage()
    tracking_uri = tracking_uri or default_tracking_uri()
    budget = trials or space.study.trials
    splits = prepare_data(space, frame=frame)
    sources = resolve_init(space, splits, tracking_uri)  # before anything is written: a bad source is one error
    study = open_study(space, study_name, storage, n_tasks=len(splits.tasks), sampler_seed=space.study.seed + worker,
                       tracking_uri=tracking_uri)
    tracker = Tracker(tracking_uri, study_name)
    tracker.models = ModelKeeping(space.tracking.log_models)
    tracker.end_orphans(printer)  # before anything retrains what a dead process's runs held
    parent_params = {"space": space.path, "trials": budget, "sampler": space.study.sampler, "seed": space.study.seed,
                     "data.source": space.data.source, "tasks": ",".join(t.name for t in splits.tasks)}
    parent = tracker.open_parent(study.user_attrs.get(PARENT_ATTR), f"sweep-{study_name}", parent_params,
                                 {"study": study_name, "engine": "optuna", "kind": "sweep"})
    study.set_user_attr(PARENT_ATTR, parent)
    space = resolve_groups(space, splits, study, tracker, parent)
    arms: tuple[ArmStudy, ...] = (ArmStudy(None, space, study),)
    if space.compare is not None:
        study.set_user_attr(ARMS_ATTR, list(space.arm_names))
        arms = tuple(ArmStudy(name, arm_space, open_study(
            arm_space, arm_study_name(study_name, name, r), storage, n_tasks=len(splits.tasks),
            sampler_seed=arm_space.study.seed + (0 if splits_arms(space, jobs) else worker), tracking_uri=tracking_uri),
            r, replicate)
            for r, replicate in enumerate(replicate_splits(space, splits, frame)) for name in space.arm_names
            for arm_space in [replicate_arm_space(space, name, r)])
        for arm in arms:
            arm.study.set_user_attr(PARENT_ATTR, parent)
    ranked = ranked_candidates(study)
    for arm in arms:  # groups = "auto": its candidates first, best score first, each once per study
        enqueue_candidates(arm.study, arm.space, ranked)
    return OpenSweep(space, splits, study, tracker, parent, budget, storage, tracking_uri, sources, arms, frame)


def load_sweep(study_name: str, storage: str, tracking_uri: str, frame: pd.DataFrame | None = None,
               printer: Printer = print) -> OpenSweep:
    """A stored sweep as it stands, its parent run untouched (for reports and confirmations after the fact);
    runs a dead process left RUNNING are ended (:meth:`Tracker.end_orphans`).

    ``frame`` is the data frame the sweep ran on, where it ran on one rather than on the space's data.
    """
    study = load_existing_study(study_name, storage, tracking_uri)
    parent = study.user_attrs.get(PARENT_ATTR)
    if parent is None:
        raise StorageError(f"study {study_name!r} has no MLflow parent run; was it created by `python -m search run`?")
    tracker = Tracker(tracking_uri, study_name)
    tracker.end_orphans(printer)  # before a report confirms or repeats anything
    space = stored_space(study, tracker, parent)
    tracker.models = ModelKeeping(space.tracking.log_models)
    splits = prepare_data(space, frame=frame)
    space = resolve_groups(space, splits, study, tracker, parent)
    arms: tuple[ArmStudy, ...] = (ArmStudy(None, space, study),)
    if space.compare is not None:
        arms = tuple(ArmStudy(name, replicate_arm_space(space, name, r),
                              load_existing_study(arm_study_name(study_name, name, r), storage, tracking_uri), r, replicate)
                     for r, replicate in enumerate(replicate_splits(space, splits, frame)) for name in space.arm_names)
    budget = int(study.user_attrs.get(BUDGET_ATTR, space.study.trials))
    return OpenSweep(space, splits, study, tracker, parent, budget, storage, tracking_uri, None, arms, frame)


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
    another worker closes it when it stops with the budget complete (every arm's, in a comparison,
    whose verdict ``python -m search report`` then adds). A trial that another worker failed as
    stale while this one was cut off from the storage ends with one line, and the sweep goes on.
    A comparison tunes each arm in turn, each to the full budget.
    """
    sweep = open_sweep(space, study_name, storage, tracking_uri, trials, worker)
    tune_sweep(sweep, timeout, printer, worker)
    if not finish or (worker and not budget_complete(sweep)):
        return _result(sweep)
    return finish_sweep(sweep, printer)


def budget_complete(sweep: OpenSweep) -> bool:
    """True when every arm's study counts the whole budget."""
    return all(counted_trials(arm.study) >= sweep.budget for arm in sweep.arms)


def tune_sweep(sweep: OpenSweep, timeout: float | None = None, printer: Printer = print, worker: int = 0,
               jobs: int = 1) -> None:
    """Run the trials of an open sweep (each of this process's arms in turn, :func:`own_arms`) until its
    budget counts or ``timeout`` seconds pass.

    An interruption or error ends the parent run (KILLED, FAILED) unless this is a ``worker`` > 0.
    """
    tracker, parent, space = sweep.tracker, sweep.parent_run_id, sweep.space
    arms = own_arms(sweep, worker, jobs)
    printer(f"study {sweep.study.study_name!r}: "
            + (f"{len(sweep.arms)} arms, {sweep.budget} trials each" if sweep.compares and len(sweep.arms) == len(space.arm_names)
               else f"{len(space.arm_names)} arms x {len(sweep.arms) // len(space.arm_names)} replicates, {sweep.budget} trials each"
               if sweep.compares
               else f"{counted_trials(sweep.study)}/{sweep.budget} trials done")
            + (f" (worker {worker})" if worker else f"; storage {redact(sweep.storage)}, tracking {redact(sweep.tracking_uri)}")
            + (f"; this process tunes {', '.join(arm.label for arm in arms)}" if splits_arms(space, jobs) else ""))
    writer = BackgroundWriter()
    try:
        try:
            with lean_process():
                for arm in arms:
                    _tune(sweep, arm, writer, timeout or space.study.timeout, printer)
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


def _tune(sweep: OpenSweep, arm: ArmStudy, writer: BackgroundWriter, timeout: float | None, printer: Printer) -> None:
    """Run ``arm``'s study until its budget counts or ``timeout`` seconds pass (storage errors retried)."""
    study, space, budget, splits, tracker = arm.study, arm.space, sweep.budget, arm.splits or sweep.splits, sweep.tracker
    best = BestSoFar(space.objective.direction)
    tracker.models.follow(lambda: best.run_id)  # its best trial keeps its model whatever [tracking] log_models says
    ctx = TrialContext(space, splits, tracker, sweep.parent_run_id, sweep.study.study_name, sources=sweep.sources,
                       writer=writer, best=best, arm=arm.name, replicate=None if arm.name is None else arm.replicate)
    say = printer if arm.name is None else (lambda line: printer(f"{arm.label}: {line}"))
    resilient = resilient_storage(study)
    if resilient is not None:
        resilient.printer = say

    prunes = not space.per_task and space.study.pruner != "none"

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
                                pruning=PruneTrial(trial) if prunes else None)
        except CAUGHT as exc:
            trial.set_user_attr(FAIL_ATTR, str(exc))
            raise
        return value_of(trial, outcome)

    def train_batch(trials: list[optuna.Trial]) -> list[TrialOutcome | BaseException]:
        raise_if_preempted()
        for trial in trials:
            trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        return run_batch(ctx, [BatchTrial(trial.number, optuna_suggest(trial), partial(trial.set_user_attr, RUN_ID_ATTR),
                                          PruneTrial(trial) if prunes else None)
                               for trial in trials], say)

    def value_of(trial: optuna.Trial, outcome: TrialOutcome) -> float | list[float]:
        trial.set_user_attr("val", outcome.result.val)
        trial.set_user_attr("test", outcome.result.test)
        trial.set_user_attr(MEAN_ATTR, outcome.result.objective)
        step_ms = typical_step_ms(outcome.result.history)
        if step_ms is not None:
            trial.set_user_attr(STEP_MS_ATTR, step_ms)
        if resilient is not None:
            writer.flush()  # the MLflow run is closed before Optuna stores the trial: a worker killed between leaves none RUNNING
        if outcome.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {outcome.pruned_at + 1}")
        if space.per_task:
            return [outcome.result.task_scores[t.name] for t in splits.tasks]
        return outcome.result.objective

    if arm.name is not None:
        say(f"tuning, {counted_trials(study)}/{budget} trials done")
    alone = why_not_fused(ctx)
    if alone is not None and space.study.batch == 1:  # a batch names the trials it trains alone itself
        say(f"trials train one by one with Keras' own fit: {alone}")
    progress = Progress(budget, say)
    budget_guard, failures = StudyBudget(budget, has_heartbeats(sweep.storage), say), FailureGuard(MAX_CONSECUTIVE_FAILURES, say)
    callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = [budget_guard, progress, failures]
    deadline = None if timeout is None else time.monotonic() + timeout

    def time_left() -> float | None:
        return None if deadline is None else max(deadline - time.monotonic(), 0.0)

    def optimize() -> None:
        writer.flush()  # on a retry after a storage error: the lost trial's MLflow writes land before it is failed
        while True:
            left = time_left()
            if counted_trials(study) >= budget or (left is not None and left <= 0):
                return
            try:
                if space.study.batch != 1:
                    optimize_in_batches(study, batch_size(space.study.sampler, space.study.batch), budget_guard, deadline,
                                        train_batch, value_of, [progress], failures.stops)
                else:
                    study.optimize(objective, timeout=time_left(), catch=(*CAUGHT, BudgetReached), callbacks=callbacks)
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
        say(f"trial {trial.number} was failed as stale by another worker while this one was cut off from the "
            "storage; its result is dropped and another trial replaces it")
        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if run_id:
            writer.flush()  # this worker's own end of the run lands first
            tracker.end(run_id, "FAILED", "FAIL", "worker lost: no heartbeat (taken over while cut off from the storage)")

    run_with_retries(optimize, lambda: progress.finished, sweep.storage, say)
    best.log_curves(ctx)


def _result(sweep: OpenSweep) -> SweepResult:
    """The sweep's result as it stands."""
    return SweepResult(sweep.study, sweep.parent_run_id, None if sweep.compares else best_trial(sweep.study),
                       sweep.arms if sweep.compares else ())


def finish_sweep(sweep: OpenSweep, printer: Printer = print, verdict: Verdict | None = None) -> SweepResult:
    """Tag the parent run with the best trial (and Pareto front), or each arm's best tuning value, crown the
    champion (:func:`crown_champion`; a comparison's with its ``verdict``) and close the parent run."""
    study, tracker, parent, space = sweep.study, sweep.tracker, sweep.parent_run_id, sweep.space
    for arm in sweep.arms if sweep.compares else ():
        arm_best = best_trial(arm.study)
        tracker.log_metrics(parent, {f"tuning/{arm.label}/trials_counted": counted_trials(arm.study)}
                            | ({f"tuning/{arm.label}/best_val_objective": mean_objective(arm_best)} if arm_best else {}))
    best = None if sweep.compares else best_trial(study)
    if best is not None:
        tags = {"best_trial": best.number, "best_run_id": best.user_attrs.get(RUN_ID_ATTR, "")}
        if space.per_task:
            tags["pareto_trials"] = ",".join(str(t.number) for t in pareto_trials(study))
        tracker.set_tags(parent, tags)
        tracker.log_metrics(parent, {"trials_counted": counted_trials(study)})
    crown_champion(sweep, printer, verdict=verdict)
    tracker.end(parent, "FINISHED", "COMPLETE")
    return _result(sweep)


def crown_champion(sweep: OpenSweep, printer: Printer = print, say_kept: bool = True, verdict: Verdict | None = None) -> None:
    """The best trial's summary on the parent run and its model as the registry champion (:func:`crown`).

    The best trial is the study's; in a comparison, the tuning trial the ``verdict`` confirmed for the arm
    it ranks first, crowned with the verdict (:func:`~search.engines._champion.crown_confirmed`), and
    nothing without a verdict. ``say_kept`` false: a line only where the alias moved.
    """
    if sweep.compares:
        if verdict is None:
            return
        number = next((s.trial for s in verdict.standings if s.arm == verdict.best), None)
        arm = next((a for a in sweep.arms if a.name == verdict.best), None)
        confirmed = next((t for t in arm.study.get_trials(deepcopy=False) if t.number == number), None) if arm else None
        if confirmed is not None:
            crown_confirmed(sweep.tracker, sweep.parent_run_id, confirmed, mean_objective(confirmed), verdict, sweep.space,
                            sweep.study.study_name, confirmed.user_attrs.get(RUN_ID_ATTR), printer, say_kept)
        return
    best = best_trial(sweep.study)
    if best is not None:
        crown(sweep.tracker, sweep.parent_run_id, best, mean_objective(best), sweep.space, sweep.study.study_name,
              best.user_attrs.get(RUN_ID_ATTR), printer, say_kept)
