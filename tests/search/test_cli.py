"""The command line as a user meets it: exit codes, one-line errors, progress, Ctrl-C and resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mtl.errors import MtlError
from search import signals
from search.cli import build_parser, cmd_report
from search.signals import Preempted, PreemptionGuard, interruption_behind, signals_deferred
from tests.helpers import assert_one_line_error, cli, run_in_process, space_toml

pytestmark = pytest.mark.slow


def test_help_lists_the_run_flags(tmp_path) -> None:
    result = cli("run", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for flag in ("--space", "--study", "--trials", "--timeout", "--storage", "--tracking-uri", "--seed"):
        assert flag in result.stdout


def test_a_short_sweep_on_the_embedded_default_stores(tmp_path, write_space) -> None:
    result = cli("run", "--space", str(write_space()), "--trials", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[  2/2] trial" in result.stdout and "best trial" in result.stdout
    assert "task1  val" in result.stdout and "task2  test" in result.stdout
    assert (tmp_path / "mlruns" / "optuna.db").is_file() and (tmp_path / "mlruns" / "mlflow.db").is_file()
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}")
    assert len(study.trials) == 2
    assert "Traceback" not in result.stderr and "oneDNN" not in result.stderr
    assert (tmp_path / "reports" / "tiny" / "report.html").is_file()  # the report ends every run
    assert "hard" in (tmp_path / "reports" / "tiny" / "report.md").read_text()

    with pytest.raises(MtlError, match="no study 'nope'"):  # in this process: the one-line wrapper is tested below
        cmd_report(build_parser().parse_args(["report", "--study", "nope"]))


def test_bad_inputs_exit_2_with_one_line(tmp_path, write_space, monkeypatch) -> None:
    broken = write_space(space_toml(search={"shared_depth": {"low": 3, "high": 2}}), "broken.toml")
    assert_one_line_error(cli("run", "--space", str(broken), cwd=tmp_path), "broken.toml", "search.shared_depth", "low 3 > high 2")

    monkeypatch.chdir(tmp_path)  # the default stores would be created here
    table = tmp_path / "t.csv"
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.ones(40), "y": np.arange(40.0)})
    frame.loc[3, "a"] = np.inf
    frame.to_csv(table, index=False)
    inf_space = write_space('[data]\nsource = "t.csv"\nfeatures = ["a", "b"]\n[[data.tasks]]\nname = "y"\n', "inf.toml")
    missing = write_space('[data]\nsource = "t.csv"\nfeatures = ["a", "zz"]\n[[data.tasks]]\nname = "y"\n', "missing.toml")
    for space, needle in ((tmp_path / "absent.toml", "absent.toml"), (inf_space, "'a' holds infinite values"),
                          (missing, "column 'zz' not found")):
        with pytest.raises(MtlError, match=needle) as raised:
            run_in_process("--space", str(space))
        assert "\n" not in str(raised.value)
    assert not (tmp_path / "mlruns").exists() or not list((tmp_path / "mlruns").glob("*.db"))  # nothing was written


def test_unreachable_storage_is_one_line_and_hides_the_password(tmp_path, write_space) -> None:
    with pytest.raises(MtlError) as raised:
        run_in_process("--space", str(write_space()), "--storage", "postgresql://bob:hunter2@127.0.0.1:1/db",
                       "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}")
    message = str(raised.value)
    assert "cannot open Optuna storage" in message and "bob:***@127.0.0.1:1" in message
    assert "hunter2" not in message and "\n" not in message


def test_ctrl_c_marks_the_running_trial_failed_and_a_rerun_resumes(tmp_path, write_space, fresh_mlflow_db) -> None:
    space = write_space(space_toml(training={"epochs": 60, "patience": 60}, data={"options.n_samples": 1000},
                                   search={"batch_size": 16}))  # a trial: 3-10 s
    storage, tracking = f"sqlite:///{tmp_path / 'o.db'}", fresh_mlflow_db(tmp_path / "m.db")
    args = [sys.executable, "-m", "search", "run", "--space", str(space), "--storage", storage, "--tracking-uri", tracking]
    # SIGINT restored in the child: a shell running pytest in the background would hand it down ignored
    process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # wait until the first trial runs: SIGINT lands within its 100 epochs
            time.sleep(0.2)
            try:
                running = optuna.load_study(study_name="tiny", storage=storage).get_trials(states=(optuna.trial.TrialState.RUNNING,))
            except Exception:  # the study is not created yet
                continue
            if running and running[0].user_attrs.get("mlflow_run_id"):
                break
        else:
            pytest.fail("no trial started")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert [t.state.name for t in study.trials] == ["FAIL"]
    client = MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    statuses = sorted((r.data.tags.get("mlflow.parentRunId") is None, r.info.status) for r in runs)
    assert statuses == [(False, "KILLED"), (True, "KILLED")]  # the trial's run and the sweep's parent run

    result = cli("run", "--space", str(space), "--storage", storage, "--tracking-uri", tracking, "--trials", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"


def test_an_error_native_code_raised_for_a_ctrl_c_or_sigterm_counts_as_that_signal(monkeypatch) -> None:
    # TensorFlow's C++ can turn the KeyboardInterrupt of a Ctrl-C landing in it into a TypeError (seen on a fresh clone)
    assert isinstance(interruption_behind(TypeError("lost")), TypeError)  # no signal came: the error is the error
    ctrl_c = threading.Event()
    ctrl_c.set()
    monkeypatch.setattr(signals, "_interrupted", ctrl_c)
    assert type(interruption_behind(TypeError("lost"))) is KeyboardInterrupt
    term = threading.Event()
    term.set()
    monkeypatch.setattr(signals, "_preempted", term)
    assert isinstance(interruption_behind(SystemError("lost")), Preempted)


def test_a_ctrl_c_during_training_waits_for_the_next_batch_and_a_second_one_stops_at_once(monkeypatch) -> None:
    # Raised at once, the handler's KeyboardInterrupt can land in TensorFlow's C++, which prints a traceback
    monkeypatch.setattr(signals, "_interrupted", threading.Event())
    previous = signal.signal(signal.SIGINT, signals._raise_interrupt)
    try:
        guard = PreemptionGuard()
        with pytest.raises(KeyboardInterrupt):
            with signals_deferred():
                signal.raise_signal(signal.SIGINT)  # recorded only: training code goes on here
                recorded = signals._interrupted.is_set()
                with pytest.raises(KeyboardInterrupt):
                    guard.on_train_batch_end(0)  # the next batch boundary raises it
                with pytest.raises(KeyboardInterrupt):
                    signal.raise_signal(signal.SIGINT)  # a second Ctrl-C is not deferred
        assert recorded
    finally:
        signal.signal(signal.SIGINT, previous)


def test_jobs_2_completes_exactly_the_budget_with_unique_trials(tmp_path, write_space, fresh_mlflow_db) -> None:
    space = write_space(space_toml(training={"epochs": 2}))
    storage, tracking = f"sqlite:///{tmp_path / 'o.db'}", fresh_mlflow_db(tmp_path / "m.db")
    result = cli("run", "--space", str(space), "--trials", "5", "--jobs", "2", "--storage", storage,
                 "--tracking-uri", tracking, "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == 5
    assert len({t.number for t in trials}) == len(trials)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    client = MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.kind = 'trial'")
    numbers = sorted(int(r.data.tags["trial_number"]) for r in runs if r.data.tags["state"] == "COMPLETE")
    assert numbers == sorted(t.number for t in counted)  # one run per trial, none doubled
    parents = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.kind = 'sweep'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert "(worker 1)" in result.stdout  # the second process really ran


def test_keras_tuner_engine_from_the_command_line(tmp_path, write_space, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # the command, in this process, on the default stores under tmp_path
    assert run_in_process("--space", str(write_space()), "--engine", "keras-tuner", "--oracle", "random", "--trials", "2") == 0
    assert "best trial" in capsys.readouterr().out
    assert (tmp_path / "mlruns" / "keras_tuner" / "tiny").is_dir()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.kind = 'trial'")
    assert len(runs) == 2 and {r.data.tags["engine"] for r in runs} == {"keras-tuner"}
    assert {r.data.tags["oracle"] for r in runs} == {"random"}
