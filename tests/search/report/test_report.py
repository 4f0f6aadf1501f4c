"""The strategy-comparison report from real sweeps: best per group, counts, the repeats MLflow holds (trained by
``python -m search repeat``, never by the report), files, artifacts."""

from __future__ import annotations

import statistics

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from search.cli import build_parser, cmd_confirm
from search.engines import open_study, open_sweep, run_sweep, tune_sweep
from search.repeats import repeat_best, run_repeats
from search.report import STATES, build_report, run_report, write_report
from search.space import load_space, parse_space
from search.tracking import PARENT_ATTR, RUN_ID_ATTR, STEP_MS_ATTR, Tracker
from search.trial import TrialContext, prepare_data
from tests.conftest import TINY_SPACE
from tests.helpers import space_toml

TWO_STRATEGIES = space_toml(training={"epochs": 2}, search={"learning_rate": [0.01, 1e9], "strategy": ["hard", "independent"]},
                            compare={"arms": "none"})  # one study: the strategy searched as a hyperparameter
QUIET = {"printer": lambda line: None}


def _sweep(write_space, stores, strategies: tuple[str, ...], seed: int | None = None, diverging: bool = False):
    """A real sweep whose trials take ``strategies`` in order (after one diverging trial if asked)."""
    space = load_space(write_space(TWO_STRATEGIES))
    space = space if seed is None else space.with_seed(seed)
    study = open_study(space, "tiny", stores["storage"])
    if diverging:
        study.enqueue_trial({"strategy": "hard", "learning_rate": 1e9})
    for strategy in strategies:
        study.enqueue_trial({"strategy": strategy, "learning_rate": 0.01})
    return space, run_sweep(space, trials=len(strategies), **QUIET, **stores)


def _repeat_runs(tracker: Tracker):
    return tracker.client.search_runs([tracker.experiment_id], "tags.kind = 'repeat'", max_results=1000)


def test_report_groups_by_strategy_repeats_the_best_and_logs_its_files(write_space, stores, tmp_path) -> None:
    space, result = _sweep(write_space, stores, ("hard", "independent", "hard", "independent", "hard"), diverging=True)
    study = result.study
    # a pruned trial's partial value may beat every complete one: it must never be chosen
    distributions = {k: v for k, v in study.trials[1].distributions.items() if k in ("strategy", "learning_rate")}
    study.add_trial(create_trial(state=TrialState.PRUNED, value=-1.0, params={"strategy": "hard", "learning_rate": 0.01},
                                 distributions=distributions, intermediate_values={0: -1.0}))
    trials = study.get_trials()

    report = build_report(study, space)
    assert {(row.strategy, row.weighting) for row in report.rows} == {("hard", "fixed"), ("independent", "fixed")}
    assert report.tasks == ("task1", "task2") and report.direction == "minimize"
    for row in report.rows:
        members = [t for t in trials if t.params["strategy"] == row.strategy]
        best = min((t for t in members if t.state == TrialState.COMPLETE), key=lambda t: t.value)
        assert row.best.number == best.number and row.best.objective == best.value
        assert row.best.run_id == best.user_attrs[RUN_ID_ATTR] and row.best.params == best.params
        assert row.best.val == best.user_attrs["val"] and row.best.test == best.user_attrs["test"]
        assert row.counts == {state: sum(t.state.name == state for t in members) for state in STATES}
        assert row.seconds == pytest.approx(sum(t.duration.total_seconds() for t in members))
        steps = [t.user_attrs[STEP_MS_ATTR] for t in members if t.state == TrialState.COMPLETE]
        assert all(s > 0 for s in steps) and row.step_ms == pytest.approx(statistics.median(steps))
    assert {s: sum(row.counts[s] for row in report.rows) for s in STATES} == {"COMPLETE": 5, "PRUNED": 1, "FAIL": 1}
    assert report.rows[0].best.objective <= report.rows[1].best.objective  # best group first

    tracker = Tracker(stores["tracking_uri"], "tiny")
    ctx = TrialContext(space, prepare_data(space), tracker, result.parent_run_id, "tiny")
    report = repeat_best(ctx, study, report, 2)
    runs = _repeat_runs(tracker)
    assert len(runs) == 4
    again = repeat_best(ctx, study, build_report(study, space), 2)  # what MLflow holds is read, not trained again
    assert len(_repeat_runs(tracker)) == 4 and [r.repeats for r in again.rows] == [r.repeats for r in report.rows]
    for row in report.rows:
        mine = [r for r in runs if r.data.tags["repeat_of_trial"] == str(row.best.number)]
        assert sorted(r.info.run_id for r in mine) == sorted(row.repeats.run_ids) and row.repeats.failed == 0
        assert sorted(r.data.tags["repeat_seed"] for r in mine) == ["10003", "10004"]  # seed 3 + 10_000 + i
        for run in mine:
            tags = run.data.tags
            assert tags["mlflow.parentRunId"] == result.parent_run_id and tags["repeat_of_run"] == row.best.run_id
            assert (tags["strategy"], tags["weighting"], tags["state"]) == (row.strategy, "fixed", "COMPLETE")
            assert "trial_number" not in tags and run.info.status == "FINISHED"
            assert {k: run.data.params[k] for k in row.best.params} == {k: str(v) for k, v in row.best.params.items()}
        for key, stat in (("objective", row.repeats.objective),
                          ("test/task1/normalized_loss", row.repeats.test["task1"]["normalized_loss"]),
                          ("val/task2/rmse", row.repeats.val["task2"]["rmse"])):
            logged = [r.data.metrics[key] for r in mine]
            assert stat.n == 2 and stat.mean == pytest.approx(statistics.fmean(logged))
            assert stat.std == pytest.approx(statistics.stdev(logged))
    trial_runs = tracker.client.search_runs([tracker.experiment_id], "tags.trial_number != ''", max_results=1000)
    assert len(trial_runs) == 6  # repeats are not mistaken for trials

    paths = write_report(report, tmp_path / "report", tracker, result.parent_run_id)
    plots = ("optimization_history", "param_importances", "parallel_coordinate")
    assert {p.name for p in paths} == {"report.md", "report.html", "task_metrics.png", "plotly.min.js",
                                       *(f"{p}.png" for p in plots), *(f"{p}.html" for p in plots)}
    for plot in plots:  # the interactive page draws the same trials, with plotly.js loaded from beside it
        page = (tmp_path / "report" / f"{plot}.html").read_text()
        assert 'src="plotly.min.js"' in page and "Plotly.newPlot" in page
    assert all(p.stat().st_size > 0 for p in paths)
    markdown = (tmp_path / "report" / "report.md").read_text()
    for row in report.rows:
        assert f"| {row.strategy} | fixed | {row.best.number} | {row.best.objective:.4f} |" in markdown
        assert f"| {row.seconds:.1f} | {row.step_ms:.2f} |" in markdown  # the time spent, in all and per step
    assert "![task metrics](task_metrics.png)" in markdown
    assert "data:image/png;base64," in (tmp_path / "report" / "report.html").read_text()
    artifacts = {a.path for a in tracker.client.list_artifacts(result.parent_run_id, "report")}
    assert {"report/report.md", "report/report.html", "report/task_metrics.png", "report/optimization_history.html",
            "report/plotly.min.js"} <= artifacts


def test_run_report_recovers_the_stored_space_and_seed(write_space, stores, tmp_path) -> None:
    _sweep(write_space, stores, ("hard", "independent"), seed=7)
    tracker = Tracker(stores["tracking_uri"], "tiny")
    path = run_report("tiny", stores["storage"], stores["tracking_uri"], tmp_path / "out")
    assert not _repeat_runs(tracker)  # the report trains nothing
    lines: list[str] = []
    run_repeats("tiny", stores["storage"], stores["tracking_uri"], 1, printer=lines.append)
    assert lines == ["2 repeat(s) of 2 group(s)' best configuration in MLflow (0 failed)"]
    runs = _repeat_runs(tracker)
    path = run_report("tiny", stores["storage"], stores["tracking_uri"], tmp_path / "out")
    assert path == tmp_path / "out" / "report.md"
    assert "| hard | fixed |" in path.read_text() and "| independent | fixed |" in path.read_text()
    assert len(_repeat_runs(tracker)) == len(runs)
    assert sorted(r.data.tags["strategy"] for r in runs) == ["hard", "independent"]
    assert {(r.data.tags["repeat_seed"], r.data.params["seed"]) for r in runs} == {("10007", "7")}
    parent = optuna.load_study(study_name="tiny", storage=stores["storage"]).user_attrs[PARENT_ATTR]
    assert {"report/report.md", "report/report.html"} <= {a.path for a in tracker.client.list_artifacts(parent, "report")}


def test_report_respects_the_direction_and_skips_what_the_trials_cannot_show(tmp_path) -> None:
    space = parse_space(TINY_SPACE, "tiny.toml")  # strategy fixed: not an Optuna parameter
    study = optuna.create_study(direction="maximize")
    metrics = {"task1": {"normalized_loss": 0.5}, "task2": {"normalized_loss": 0.7}}
    for depth, value in ((0, 0.2), (1, 0.9), (2, 0.5)):
        study.add_trial(create_trial(value=value, params={"shared_depth": depth},
                                     distributions={"shared_depth": IntDistribution(0, 2)},
                                     user_attrs={"val": metrics, "test": metrics, RUN_ID_ATTR: f"run{depth}"}))
    study.add_trial(create_trial(state=TrialState.FAIL, params={"weighting": "dwa"},
                                 distributions={"weighting": CategoricalDistribution(["fixed", "dwa"])}))
    report = build_report(study, space)
    assert [(r.strategy, r.weighting) for r in report.rows] == [("hard", "fixed"), ("hard", "dwa")]
    assert report.rows[0].best.objective == 0.9 and report.rows[0].best.run_id == "run1"
    assert report.rows[1].best is None and report.rows[1].counts == {"COMPLETE": 0, "PRUNED": 0, "FAIL": 1}
    names = {p.name for p in write_report(report, tmp_path)}
    assert "param_importances.png" not in names  # one parameter: nothing to rank
    assert {"report.md", "report.html", "task_metrics.png", "optimization_history.png"} <= names
    assert "| hard | dwa | — |" in (tmp_path / "report.md").read_text()


def test_report_of_a_per_task_study_lists_exactly_the_pareto_set(write_space, stores, tmp_path) -> None:
    text = space_toml(study={"sampler": "nsga2"}, search={"strategy": ["hard", "independent"]}, objective={"per_task": True},
                      compare={"arms": "none"})
    space = load_space(write_space(text))
    result = run_sweep(space, trials=5, **QUIET, **stores)
    complete = [t for t in result.study.get_trials() if t.state == TrialState.COMPLETE]

    def dominated(t) -> bool:
        return any(all(a <= b for a, b in zip(o.values, t.values)) and o.values != t.values for o in complete)

    report = build_report(result.study, space)
    assert set(report.pareto) == {t.number for t in complete if not dominated(t)}
    paths = write_report(report, tmp_path / "out")
    assert (tmp_path / "out" / "pareto_front.png") in paths
    markdown = paths[0].read_text()
    assert "Pareto-optimal trials" in markdown
    for number in report.pareto:
        assert f"| {number} |" in markdown


def test_a_comparison_report_shows_budget_curves_beside_the_effects_and_says_where_the_order_holds(tmp_path) -> None:
    from mtl.budget import expected_best
    from search.compare import ArmStanding, Verdict
    from search.engines import ArmStudy
    from search.report._write import budget_sentence

    text = (TINY_SPACE + '\n[compare]\nreference = "steady"\n'
            '[compare.arms.steady]\nstrategy = "hard"\n[compare.arms.lucky]\nstrategy = "hard"\n')
    space = parse_space(text, "cmp.toml")
    values = {"steady": [0.30, 0.30, 0.30, 0.30], "lucky": [0.50, 0.50, 0.50, 0.10]}  # the lucky arm leads from 3 trials on
    arms = []
    for name, observed in values.items():
        study = optuna.create_study(study_name=f"cmp/{name}")
        for value in observed:
            study.add_trial(create_trial(value=value, user_attrs={"objective": value}))
        study.add_trial(create_trial(state=TrialState.FAIL))  # not a draw: only COMPLETE trials make the curve
        arms.append(ArmStudy(name, space.arm_space(name), study))
    verdict = Verdict("steady", 0.05, True, 2, (ArmStanding("lucky", 3, 0.2, 0.01, 2), ArmStanding("steady", 0, 0.3, 0.01, 2)), ())
    report = build_report(arms[0].study, space, arms, verdict)
    assert report.budgets == {name: expected_best(observed) for name, observed in values.items()}
    sentence = budget_sentence(report)
    assert sentence is not None and sentence.startswith("budget: at 2 trials per arm steady would lead, lucky at 4;")
    assert "order holds from n = 3 trials per arm on (of 4)" in sentence
    names = [p.name for p in write_report(report, tmp_path)]
    assert "budget_curves.png" in names
    markdown = (tmp_path / "report.md").read_text()
    answer = markdown.split("## The answer")[1].split("\n## ")[0]
    assert f"- {sentence}" in answer and "(budget_curves.png)" in answer  # under the verdict, with the plot
    assert "budget_curves.png" not in markdown.split("## Plots")[-1]


COMPARISON = space_toml(compare={"seeds": 2, "racing": False, "arms": {"a": {"strategy": "hard"}, "b": {"strategy": "independent"}}})


def test_a_comparisons_report_reads_the_confirmations_and_confirm_trains_the_missing(write_space, stores, tmp_path) -> None:
    sweep = open_sweep(load_space(write_space(COMPARISON)), "cmp", trials=3, **QUIET, **stores)
    tune_sweep(sweep, **QUIET)  # tuned (as cluster workers tune), not confirmed
    tracker = Tracker(stores["tracking_uri"], "cmp")

    def confirmations() -> list:
        return tracker.search_runs([tracker.experiment_id], "tags.kind = 'confirmation'", max_results=100)

    lines: list[str] = []
    run_report("cmp", stores["storage"], stores["tracking_uri"], tmp_path / "before", printer=lines.append)
    assert lines == ["no confirmation in MLflow for arm(s) a, b: `python -m search confirm --study cmp` trains them"]
    assert not confirmations()  # the report trains nothing
    args = ["confirm", "--study", "cmp", "--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"]]
    assert cmd_confirm(build_parser().parse_args(args)) == 0
    assert len(confirmations()) == 4  # two arms, two seeds
    lines.clear()
    path = run_report("cmp", stores["storage"], stores["tracking_uri"], tmp_path / "after", printer=lines.append)
    assert lines == [] and len(confirmations()) == 4 and path.is_file()
    table = path.read_text().split("## Task partitions tried")[1].split("\n\n")[1].splitlines()  # each arm's partition
    assert any("task1+task2 " in line and "(a)" in line for line in table)  # with the arm's confirmed test objective
    assert any("task1\\|task2" in line and "(b)" in line for line in table)
