"""Task affinity through the harness: the ``affinity`` command's MLflow run, ``groups = "auto"`` in a sweep
(the pass runs once per study, trials are tagged with their partition), and bad partitions."""

from __future__ import annotations

import threading

import optuna
import pytest

from mtl.affinity import lookahead
from mtl.errors import MtlError
from search import signals
from search.affinity import CANDIDATES_ATTR, latest_affinity, resolve_groups, run_affinity
from search.affinity import _pass as pass_module
from search.cli import build_parser, cmd_affinity, cmd_report, cmd_run
from search.engines import run_tuner_sweep
from search.errors import SpaceError
from search.space import load_space
from search.tracking import Tracker
from search.trial import prepare_data
from tests.conftest import mlflow_runs
from tests.helpers import assert_one_line_error, cli, space_toml

pytestmark = pytest.mark.slow

CLUSTERS = """
[study]
name = "clusters"
trials = 2
sampler = "random"
seed = 1

[data]
source = "synthetic"

[data.options]
n_samples = 600
n_features = 8
n_tasks = 4
correlation = 0.9
noise = 0.1
groups = [["task1", "task2"], ["task3", "task4"]]

[training]
epochs = 2
patience = 2

[search]
strategy = "grouped"
shared_width = 8
tower_depth = 0
learning_rate = 0.01
"""


def test_the_affinity_command_logs_its_matrix_heatmap_and_partitions(tmp_path, write_space, capsys, monkeypatch,
                                                                     fresh_mlflow_db) -> None:
    tracking = fresh_mlflow_db(tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)  # MlflowClient.load_table searches through the fluent API's store
    args = build_parser().parse_args(["affinity", "--space", str(write_space(CLUSTERS)), "--tracking-uri", tracking])
    assert cmd_affinity(args) == 0
    printed = capsys.readouterr().out
    assert "candidate partitions" in printed and "2 group(s): " in printed and " +- " in printed and "support" in printed
    assert "the groups are told apart" in printed
    client, parents, children = mlflow_runs(tracking, "clusters")
    assert not children and len(parents) == 1
    run = parents[0]
    assert run.data.tags["kind"] == "affinity" and run.info.status == "FINISHED"
    assert run.data.params["strategy"] == "hard" and run.data.metrics["affinity/measurements"] > 0
    candidates = run.data.tags["candidates"].split(" ; ")
    assert candidates[0] == "task1+task2|task3+task4" and len(candidates) == 4  # the planted partition ranked first
    assert run.data.tags["separable"] == "true" and run.data.metrics["affinity/separated"] >= 0.95
    assert run.data.metrics["affinity/median_spread"] > 0
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"affinity.json", "affinity_spread.json", "affinity.png", "affinity_partitions.json"} <= files
    table = client.load_table(client.get_experiment_by_name("clusters").experiment_id, "affinity.json",
                              run_ids=[run.info.run_id])
    assert list(table["task"]) == ["task1", "task2", "task3", "task4"] and table.shape == (4, 5)


def test_a_ctrl_c_during_the_pass_stops_it_between_steps_and_its_run_is_killed(tmp_path, write_space, monkeypatch,
                                                                              fresh_mlflow_db) -> None:
    tracking = fresh_mlflow_db(tmp_path / "mlflow.db")
    space = load_space(write_space(space_toml(CLUSTERS, training={"epochs": 50})))
    steps: list[int] = []
    original = lookahead.task_affinity

    def counted(*args, after_step, **kwargs):  # the pass as the harness runs it, its steps counted
        return original(*args, after_step=lambda: (steps.append(1), after_step()), **kwargs)

    ctrl_c = threading.Event()
    ctrl_c.set()  # a Ctrl-C recorded while deferred (as signals_deferred's handler records it)
    monkeypatch.setattr(signals, "_interrupted", ctrl_c)
    monkeypatch.setattr(pass_module, "task_affinity", counted)
    with pytest.raises(KeyboardInterrupt):
        run_affinity(space, prepare_data(space), Tracker(tracking, "clusters"), "clusters", printer=lambda line: None)
    assert steps == [1]  # raised after the first step, not after the pass's 50 epochs
    _, parents, _ = mlflow_runs(tracking, "clusters")
    assert [r.info.status for r in parents] == ["KILLED"]


def test_auto_groups_run_the_pass_once_per_study_and_trials_carry_their_partition(tmp_path, write_space, fresh_mlflow_db) -> None:
    storage, tracking = f"sqlite:///{tmp_path / 'optuna.db'}", fresh_mlflow_db(tmp_path / "mlflow.db")
    space = write_space(space_toml(CLUSTERS, search={"strategy": ["hard", "grouped"]}, compare={"arms": "none"}))
    stores = ["--space", str(space), "--storage", storage, "--tracking-uri", tracking, "--no-report"]
    assert cmd_run(build_parser().parse_args(["run", *stores])) == 0
    assert cmd_run(build_parser().parse_args(["run", *stores, "--trials", "4"])) == 0  # a resume
    study = optuna.load_study(study_name="clusters", storage=storage)
    candidates = study.user_attrs[CANDIDATES_ATTR]
    assert len(candidates) == 4 and candidates[0] == "task1+task2|task3+task4"
    client, parents, children = mlflow_runs(tracking, "clusters")
    affinity = [r for r in children if r.data.tags["kind"] == "affinity"]
    assert len(affinity) == 1, "the resume reads the stored candidates"
    assert affinity[0].data.tags["mlflow.parentRunId"] == parents[0].info.run_id
    trials = [r for r in children if r.data.tags["kind"] == "trial"]
    assert len(trials) == 4
    for run in trials:
        expected = "task1+task2+task3+task4" if run.data.tags["strategy"] == "hard" else run.data.params["groups"]
        assert run.data.tags["groups"] == expected and expected in candidates
    grouped = [t for t in study.trials if t.params["strategy"] == "grouped"]
    assert all(t.params["groups"] in candidates for t in grouped)
    # auto tries what it recommends: every candidate enqueued once, best ranked first, across the resume
    stored = latest_affinity(Tracker(tracking, "clusters"))
    ranked = [groups for groups, _ in stored.partitions]  # stored best first
    by_number = sorted(trials, key=lambda r: int(r.data.tags["trial_number"]))
    assert [(r.data.tags["strategy"], r.data.tags["groups"]) for r in by_number] == [("grouped", g) for g in ranked]
    assert len(study.trials) == 4 and sum("fixed_params" in t.system_attrs for t in study.trials) == 4

    out = tmp_path / "report"
    assert cmd_report(build_parser().parse_args(["report", "--study", "clusters", "--storage", storage,
                                                 "--tracking-uri", tracking, "--out", str(out)])) == 0
    assert (out / "task_affinity.png").stat().st_size > 10_000
    markdown = (out / "report.md").read_text()
    tried = {run.data.tags["groups"] for run in trials}
    assert len(tried) > 1  # the enqueued candidates
    assert "## Task partitions tried" in markdown
    assert all(partition.replace("|", "\\|") in markdown for partition in tried)
    assert "![task affinity](task_affinity.png)" in markdown
    table = markdown[markdown.index("## Task partitions tried"):].split("\n\n")[1]  # the recommended one beside the winner
    recommended = ranked[0].replace("|", "\\|")
    assert any(recommended in line and "recommended by affinity" in line for line in table.splitlines())
    assert sum("best by validation" in line for line in table.splitlines()) == 1


@pytest.mark.parametrize("groups, problem", [
    ("task1+task2|task3+task9", "unknown task 'task9'"),
    ([["task1", "task2"], ["task2", "task3", "task4"]], "task 'task2' appears twice"),
    (["task1+task2+task3+task4", "task1+task2|task3"], "leaves out task4"),
])
def test_a_partition_that_does_not_fit_the_tasks_is_one_error_and_writes_nothing(tmp_path, write_space, groups,
                                                                                 problem) -> None:
    space = write_space(space_toml(CLUSTERS, search={"groups": groups}))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with pytest.raises(MtlError, match=f"search.groups.*{problem}"):
        cmd_run(build_parser().parse_args(["run", "--space", str(space), "--storage", storage,
                                           "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]))
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "mlflow.db").exists()


def test_a_bad_partition_exits_2_with_one_line(tmp_path, write_space) -> None:
    space = write_space(space_toml(CLUSTERS, search={"groups": "task1+task2"}))
    assert_one_line_error(cli("run", "--space", str(space), cwd=tmp_path), "search.groups", "leaves out task3, task4")


def test_keras_tuner_refuses_auto_groups_before_training(tmp_path, write_space) -> None:
    space = load_space(write_space(CLUSTERS))
    with pytest.raises(SpaceError, match="search.groups.*task-affinity pass"):
        run_tuner_sweep(space, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", project_root=tmp_path)
    assert not (tmp_path / "mlflow.db").exists()


def test_in_a_comparison_an_arm_may_hold_a_partition_and_auto_skips_what_other_arms_tune(tmp_path, write_space,
                                                                                         fresh_mlflow_db) -> None:
    arms = {"hard": 'strategy = "hard"', "independent": 'strategy = "independent"', "grouped": 'strategy = "grouped"',
            "pairs": 'strategy = "grouped"\ngroups = [["task2", "task1"], ["task4", "task3"]]'}
    text = CLUSTERS + "".join(f"[compare.arms.{name}]\n{held}\n" for name, held in arms.items())
    space = load_space(write_space(text))
    assert space.arm_names == ("hard", "independent", "grouped", "pairs")
    splits = prepare_data(space)
    study = optuna.create_study()
    candidates = ["task1+task2+task3+task4", "task1+task2|task3+task4", "task1|task2+task3|task4", "task1|task2|task3|task4"]
    study.set_user_attr(CANDIDATES_ATTR, candidates)  # as the first process to open the sweep stored them
    tracker = Tracker(fresh_mlflow_db(tmp_path / "mlflow.db"), "clusters")
    resolved = resolve_groups(space, splits, study, tracker, None)
    assert resolved.arm_space("grouped").params["groups"].values() == candidates[1:3]  # hard and independent arms tune the ends
    assert resolved.arm_space("pairs").params["groups"].values() == ["task1+task2|task3+task4"]  # canonical
    assert "groups" not in resolved.arm_space("hard").params
    assert not tracker.client.search_runs([tracker.experiment_id])  # the stored candidates were used: no pass ran
