"""A sweep with the keras-tuner engine: keras-tuner's oracles propose, ``run_trial`` trains and logs.

Each trial is sampled, trained and logged by :func:`search.trial.run_trial` exactly as with the
Optuna engine (same MLflow parent/child runs and names, plus the tag ``oracle``); keras-tuner only
chooses the values, through :mod:`search.engines._tuner_space`. The oracle's project lives in
``mlruns/keras_tuner/<study>`` beside ``sweep.json`` (the parent run, the oracle, the space's
fingerprint, each trial's run id), and a rerun resumes both.

Where keras-tuner differs: it optimises one objective (``per_task`` spaces are refused); it cannot
prune (a space's pruner is ignored, with a note; the ``hyperband`` oracle gives poor configurations
fewer epochs instead, and its later rounds retrain a configuration from scratch for more epochs);
the space's Optuna ``sampler`` is replaced by the oracle.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras_tuner
from keras_tuner.engine.base_tuner import BaseTuner
from keras_tuner.engine.trial import Trial, TrialStatus

from search.engines._champion import register_champion
from search.engines._common import CAUGHT, MAX_CONSECUTIVE_FAILURES, Printer
from search.engines._tuner_space import TunerSpace, tuner_space
from search.errors import SpaceError, StorageError
from search.space import Space, wants_affinity
from search.stores import STORE_DIR, default_tracking_uri, redact
from search.tracking import ModelKeeping, Tracker
from search.trial import BestSoFar, TrialContext, lean_process, prepare_data, resolve_init, run_trial, why_not_fused

ENGINE = "keras-tuner"
ORACLES = ("random", "bayesian", "hyperband")
STATE_FILE = "sweep.json"
STARTUP_TRIALS = 5  # random trials before Bayesian optimisation starts, as the Optuna samplers' start-up trials
EPOCHS = "tuner/epochs"  # Hyperband's epoch budget for a trial


@dataclass(frozen=True)
class TunerResult:
    """The tuner after the sweep, its parent MLflow run, and its best complete trial and that trial's run (None if none)."""

    tuner: BaseTuner
    parent_run_id: str
    best: Trial | None
    best_run_id: str | None


@dataclass
class _SweepState:
    """What keras-tuner's project does not keep: the oracle, the space's fingerprint and the MLflow run ids."""

    path: Path
    oracle: str
    fingerprint: str
    parent_run_id: str | None = None
    run_ids: dict[str, str] = field(default_factory=dict)  # keras-tuner trial id -> MLflow run id

    @classmethod
    def open(cls, project: Path, space: Space, oracle: str, study_name: str) -> _SweepState:
        """The saved state of the study's project, or a fresh one; resuming with another space or oracle is refused."""
        path = project / STATE_FILE
        if not path.exists():
            return cls(path, oracle, space.fingerprint())
        state = cls(path, **json.loads(path.read_text()))
        if state.fingerprint != space.fingerprint():
            raise SpaceError(space.path, "", f"study {study_name!r} was created from a different space or seed; "
                             "resume it with the same space file and seed, or choose another --study")
        if state.oracle != oracle:
            raise StorageError(f"keras-tuner project {project} runs the {state.oracle!r} oracle; resume it with "
                               f"--oracle {state.oracle}, or choose another --study")
        return state

    def save(self) -> None:
        """Write the state to the project directory."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({k: v for k, v in asdict(self).items() if k != "path"}, indent=1))


def _make_oracle(name: str, space: Space, hyperparameters: keras_tuner.HyperParameters) -> keras_tuner.Oracle:
    """Oracle ``name`` over ``hyperparameters``, seeded from the space, minimising or maximising its objective.

    keras-tuner reads seed 0 as "no seed" (``seed or random.randint(...)``), so oracles get the space's seed + 1.
    The budget (``max_trials``) is set by the tuner before each trial, so failed trials can be replaced.
    """
    direction = "min" if space.objective.direction == "minimize" else "max"
    common = {"objective": keras_tuner.Objective("objective", direction), "seed": space.study.seed + 1,
              "hyperparameters": hyperparameters, "max_consecutive_failed_trials": None}
    if name == "random":
        oracle: keras_tuner.Oracle = keras_tuner.oracles.RandomSearchOracle(**common)
    elif name == "bayesian":
        oracle = keras_tuner.oracles.BayesianOptimizationOracle(num_initial_points=STARTUP_TRIALS, **common)
    else:
        oracle = keras_tuner.oracles.HyperbandOracle(max_epochs=space.training.epochs, hyperband_iterations=None, **common)
    oracle.verbose = 0  # the sweep prints its own progress lines
    return oracle


class _SweepTuner(BaseTuner):  # type: ignore[misc]  # keras_tuner ships no type hints: its classes are Any to mypy
    """keras-tuner's search loop around :func:`search.trial.run_trial`; prints one line per finished trial."""

    def __init__(self, oracle: keras_tuner.Oracle, project: Path, ctx: TrialContext, space: TunerSpace,
                 state: _SweepState, budget: int, timeout: float | None, printer: Printer) -> None:
        self.ctx, self.space, self.state, self.budget, self.timeout, self.printer = ctx, space, state, budget, timeout, printer
        self.streak, self.stopping, self.error = 0, False, ""
        self.started = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):  # keras-tuner prints "Reloading Tuner from ..."
            super().__init__(oracle, directory=str(project.parent), project_name=project.name, overwrite=False)

    def counted(self) -> int:
        """Trials that count towards the budget: the complete ones."""
        return sum(t.status == TrialStatus.COMPLETED for t in self.oracle.trials.values())

    def best(self) -> Trial | None:
        """The best complete trial, or None."""
        return next((t for t in self.oracle.get_best_trials(1) if t.status == TrialStatus.COMPLETED), None)

    def pre_create_trial(self) -> None:
        """Let the oracle create trials until the budget counts complete ones (failed ones are replaced), or stop it."""
        trials = self.oracle.trials.values()
        timed_out = self.timeout is not None and time.monotonic() - self.started >= self.timeout
        failed = sum(t.status == TrialStatus.FAILED for t in trials)
        self.oracle.max_trials = len(trials) if self.stopping or timed_out else self.budget + failed

    def run_trial(self, trial: Trial) -> dict[str, float]:
        """Sample, train and log one trial. A ``CAUGHT`` failure fails it (no retry); anything else ends the sweep."""
        ctx, values = self.ctx, trial.hyperparameters.values
        if EPOCHS in values:
            training = replace(ctx.space.training, epochs=int(values[EPOCHS]))
            ctx = replace(ctx, space=replace(ctx.space, training=training))
        try:
            outcome = run_trial(ctx, int(trial.trial_id), self.space.suggest(trial.hyperparameters),
                                on_run=lambda run_id: self._run_started(trial.trial_id, run_id))
        except CAUGHT as exc:
            self.error = str(exc)
            raise keras_tuner.errors.FailedTrialError(self.error) from exc
        except BaseException as exc:
            trial.status, trial.message = TrialStatus.FAILED, repr(exc)
            super().on_trial_end(trial)  # saved as failed, so a rerun replaces it rather than retrying it
            if isinstance(exc, Exception):  # keras-tuner would record it and go on; only FatalError gets through
                raise keras_tuner.errors.FatalError(repr(exc)) from exc
            raise
        return {"objective": outcome.result.objective}

    def _run_started(self, trial_id: str, run_id: str) -> None:
        self.ctx.tracker.set_tags(run_id, {"oracle": self.state.oracle})
        self.state.run_ids[trial_id] = run_id
        self.state.save()

    def on_trial_end(self, trial: Trial) -> None:
        """Record the trial with the oracle, print its line, and stop after too many failures in a row."""
        super().on_trial_end(trial)
        ended = self.oracle.get_trial(trial.trial_id)
        failed = ended.status == TrialStatus.FAILED
        self.streak = self.streak + 1 if failed else 0
        what = self.error[:100] if failed else f"objective {ended.score:.4f}"
        best = self.best()
        best_text = f"best {best.score:.4f} (trial {int(best.trial_id)})" if best else "no complete trial yet"
        self.printer(f"[{self.counted():>3}/{self.budget}] trial {int(ended.trial_id):>3} {'FAIL' if failed else 'COMPLETE':<8} "
                     f"{what:<22} | {best_text} | {time.monotonic() - self.started:6.1f} s")
        if self.streak >= MAX_CONSECUTIVE_FAILURES:
            self.printer(f"stopping: {MAX_CONSECUTIVE_FAILURES} trials in a row failed; check the space's ranges")
            self.stopping = True


def _check_supported(space: Space, printer: Printer = print) -> None:
    """Refuse what keras-tuner cannot search (a comparison, one objective per task, ``groups = "auto"``); note
    what it ignores (a pruner)."""
    if space.compare is not None:
        raise SpaceError(space.path, "compare", f"the keras-tuner engine does not run comparisons (arms: "
                         f"{', '.join(space.arm_names)}); use the optuna engine, or [compare] arms = \"none\" to search "
                         "the strategies as hyperparameters of one study")
    if space.per_task:
        raise SpaceError(space.path, "objective.per_task", "keras-tuner optimises one objective, not one per task; "
                         "use the Optuna engine for a Pareto front")
    if wants_affinity([space.params]):
        raise SpaceError(space.path, "search.groups", 'the keras-tuner engine does not run the task-affinity pass; '
                         'name the partitions (python -m search affinity proposes them), or use the optuna engine')
    if space.study.pruner != "none":
        printer(f"note: keras-tuner cannot prune trials; study.pruner {space.study.pruner!r} is ignored "
                "(the hyperband oracle gives poor configurations fewer epochs instead)")


def run_tuner_sweep(
    space: Space,
    study_name: str | None = None,
    tracking_uri: str | None = None,
    trials: int | None = None,
    oracle: str = "bayesian",
    project_root: str | Path | None = None,
    printer: Printer = print,
    timeout: float | None = None,
) -> TunerResult:
    """Run (or resume) a keras-tuner sweep until ``trials`` trials complete in total or ``timeout`` seconds pass.

    ``oracle`` is ``random``, ``bayesian`` or ``hyperband``; the project is ``<project_root>/<study>``
    (default root ``mlruns/keras_tuner``). As with the Optuna engine, failed trials do not count
    towards the budget (they are replaced), five failures in a row stop the sweep, and Ctrl-C marks
    the running trial failed (KILLED in MLflow) and the parent run KILLED; runs a dead process left
    RUNNING are ended KILLED when the sweep is resumed (:meth:`~search.tracking.Tracker.end_orphans`).
    """
    if oracle not in ORACLES:
        raise ValueError(f"unknown oracle {oracle!r} (use {', '.join(ORACLES)})")
    _check_supported(space, printer)
    study_name = study_name or space.study.name
    tracking_uri = tracking_uri or default_tracking_uri()
    budget = trials or space.study.trials
    project = Path(project_root or STORE_DIR / "keras_tuner") / study_name
    state = _SweepState.open(project, space, oracle, study_name)
    splits = prepare_data(space)
    sources = resolve_init(space, splits, tracking_uri)
    searched = tuner_space(space, splits.tasks)
    tracker = Tracker(tracking_uri, study_name)
    tracker.models = ModelKeeping(space.tracking.log_models)
    tracker.end_orphans(printer)  # a SIGKILLed earlier run of this sweep left its trial's run RUNNING
    parent_params = {"space": space.path, "trials": budget, "oracle": oracle, "seed": space.study.seed,
                     "data.source": space.data.source, "tasks": ",".join(t.name for t in splits.tasks)}
    state.parent_run_id = tracker.open_parent(state.parent_run_id, f"sweep-{study_name}", parent_params,
                                              {"study": study_name, "engine": ENGINE, "oracle": oracle, "kind": "sweep"})
    state.save()
    parent = state.parent_run_id
    best_so_far = BestSoFar(space.objective.direction)
    tracker.models.follow(lambda: best_so_far.run_id)  # the best trial keeps its model whatever [tracking] log_models says
    ctx = TrialContext(space, splits, tracker, parent, study_name, engine=ENGINE, sources=sources, best=best_so_far)
    tuner = _SweepTuner(_make_oracle(oracle, space, searched.declare()), project, ctx, searched, state, budget,
                        timeout or space.study.timeout, printer)
    printer(f"study {study_name!r} (keras-tuner, {oracle} oracle): {tuner.counted()}/{budget} trials done; "
            f"project {project}, tracking {redact(tracking_uri)}")
    alone = why_not_fused(ctx)
    if alone is not None:
        printer(f"trials train one by one with Keras' own fit: {alone}")
    try:
        if tuner.counted() < budget:
            with lean_process():
                tuner.search()
            best_so_far.log_curves(ctx)
    except KeyboardInterrupt:
        tracker.end(parent, "KILLED", "INTERRUPTED")
        raise
    except keras_tuner.errors.FatalError as exc:
        cause = exc.__cause__ or exc  # a trial's unexpected error, unwrapped
        tracker.end(parent, "FAILED", "FAIL", repr(cause))
        raise cause from None
    except BaseException as exc:
        tracker.end(parent, "FAILED", "FAIL", repr(exc))
        raise
    best = tuner.best()
    best_run_id = state.run_ids.get(best.trial_id) if best else None
    if best is not None:
        tracker.set_tags(parent, {"best_trial": int(best.trial_id), "best_run_id": best_run_id or ""})
        tracker.log_metrics(parent, {"best_objective": best.score, "trials_counted": tuner.counted()})
        register_champion(tracker, space, study_name, int(best.trial_id), best_run_id, best.score, printer)
    tracker.end(parent, "FINISHED", "COMPLETE")
    return TunerResult(tuner, parent, best, best_run_id)
