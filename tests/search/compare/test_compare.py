"""Comparisons end to end: arms tuned on equal budgets, confirmed with paired seeds, verdicts read back from MLflow."""

from __future__ import annotations

import math
from dataclasses import replace

import optuna
import pytest

from mtl.errors import MtlError
from search.compare import (
    CONFIRM_KIND,
    NO_DIFFERENCE,
    conclude,
    confirm_before_race,
    confirmation_rounds,
    confirmation_seeds,
    look_levels,
    race_looks,
    read_confirmations,
    read_verdict_table,
    verdict_of,
)
from search.engines import arm_study_name, open_sweep, own_arms, replicate_arm_space, tune_sweep
from search.errors import SpaceError
from search.space import load_space, parse_space
from search.tracking import WORKER_ATTR
from search.trial import run_baselines
from tests.conftest import TINY_SPACE, mlflow_runs
from tests.helpers import cli, run_in_process, space_toml

COUNTED = ("COMPLETE", "PRUNED")


def _space(arms: dict[str, dict[str, object]], study: str = "cmp", **compare: object) -> str:
    """The tiny space, named ``study``, comparing ``arms`` (each arm's name and settings); ``[compare]`` holds
    seeds = 3 unless ``compare`` says otherwise."""
    return space_toml(study={"name": study}, compare={"seeds": 3, **compare, "arms": arms})


AA = _space({"hard": {"strategy": "hard"}, "hard-again": {"strategy": "hard"}}, "aa", reference="hard")
# an arm that learns and one that cannot (one unit wide, no tower, a learning rate of 1e-6), over 8 epochs
LEARNS_AND_STUCK = {"learns": {"strategy": "hard", "shared_width": 16},
                    "stuck": {"strategy": "hard", "shared_depth": 1, "shared_width": 1, "tower_depth": 0,
                              "tie_outputs": False, "learning_rate": 1e-6}}
EIGHT_EPOCHS = {"epochs": 8, "patience": 8}
PLANTED = space_toml(_space(LEARNS_AND_STUCK, "planted", seeds=4, reference="stuck", racing=False), training=EIGHT_EPOCHS)


def _compare(text: str, write_space, stores: dict[str, str]):
    space = load_space(write_space(text))
    sweep = open_sweep(space, **stores)
    tune_sweep(sweep, printer=lambda line: None)
    return sweep, conclude(sweep, printer=lambda line: None)


@pytest.mark.slow
def test_an_a_a_comparison_finds_no_difference_and_mlflow_holds_that_verdict(write_space, stores, monkeypatch) -> None:
    sweep, verdict = _compare(AA, write_space, stores)
    assert verdict.reference == "hard" and {c.arm for c in verdict.comparisons} == {"hard-again"}
    assert [c.target for c in verdict.comparisons] == ["task1", "task2", "objective"]
    client, parents, children = mlflow_runs(stores["tracking_uri"], "aa")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    table = read_verdict_table(sweep.tracker, parents[0].info.run_id)
    assert len(table) == 3 and all(row["verdict"] == NO_DIFFERENCE and row["n"] == 3 for row in table)
    assert all(row["ci_low"] <= 0.0 <= row["ci_high"] for row in table)
    # MLflow's table reader searches runs through the process-wide URI; the environment variable (restored after
    # the test) sets it without mlflow.set_tracking_uri, which would also export it to every later subprocess
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stores["tracking_uri"])
    loaded = client.load_table(parents[0].info.experiment_id, "verdict.json", run_ids=[parents[0].info.run_id])
    assert list(loaded["verdict"]) == [NO_DIFFERENCE] * 3
    tags = parents[0].data.tags
    assert tags["reference_arm"] == "hard" and "no arm differs from hard" in tags["verdict"]
    assert "no arm differs" in tags["mlflow.note.content"]
    confirmations = [r for r in children if r.data.tags["kind"] == CONFIRM_KIND]
    assert len(confirmations) == 6 and {r.data.tags["arm"] for r in confirmations} == {"hard", "hard-again"}
    assert {r.data.tags["seed"] for r in confirmations} == {"20003", "20004", "20005"}  # seed 3 + 20_000 + i, every arm
    assert all("trial_number" not in r.data.tags for r in confirmations)
    drawn = {r.info.run_name for r in confirmations
             if "learning_curves.png" in {a.path for a in client.list_artifacts(r.info.run_id)}}
    assert drawn == {"confirm-hard-0", "confirm-hard-again-0"}  # each arm's first seed stands for its configuration
    trials = [r for r in children if r.data.tags["kind"] == "trial"]
    assert len(trials) == 6 and {r.data.tags["arm"] for r in trials} == {"hard", "hard-again"}
    for arm in ("hard", "hard-again"):
        assert parents[0].data.metrics[f"arm/{arm}/test_objective"] == pytest.approx(
            next(s.mean for s in verdict.standings if s.arm == arm))
    # the calibration aid ``planted``: the same stores read with hard-again 50% worse, every score and so every difference
    planted = replace(sweep, space=parse_space(_space({"hard": {"strategy": "hard"}, "hard-again": {"strategy": "hard", "planted": 0.5}},
                                                      "aa", reference="hard"), "planted.toml"))
    before, after = (next(c for c in read_confirmations(s) if c.arm == "hard-again") for s in (sweep, planted))
    assert after.scores == {seed: {t: pytest.approx(1.5 * v) for t, v in row.items()} for seed, row in before.scores.items()}
    for c in verdict_of(planted, read_confirmations(planted)).comparisons:  # exactly 50% worse, whatever the seeds' noise
        assert c.difference.mean == pytest.approx(0.5 * c.difference.reference_mean)


@pytest.mark.slow
def test_a_planted_effect_is_found_and_the_better_arm_named_and_single_task_baselines_are_a_reference(
        write_space, stores) -> None:
    run_baselines(load_space(write_space(PLANTED)), stores["tracking_uri"], printer=lambda line: None)
    sweep, verdict = _compare(PLANTED, write_space, stores)
    assert verdict.best == "learns"
    assert verdict.references == ("stuck", "single-task")
    against_single = {(c.arm, c.target): c.word for c in verdict.comparisons if c.reference == "single-task"}
    assert set(against_single) == {(arm, t) for arm in ("learns", "stuck") for t in ("task1", "task2", "objective")}
    assert against_single[("stuck", "objective")] == "worse"  # a network that cannot learn loses to the baselines
    assert "objective: stuck is worse than single-task by" in "\n".join(verdict.sentences())
    assert len(verdict.comparisons) == 9  # learns vs stuck (one Holm family), then learns and stuck vs single-task (another)
    _, _, children = mlflow_runs(stores["tracking_uri"], "planted")
    single = [r for r in children if r.data.tags.get("arm") == "single-task"]
    assert sorted((r.data.tags["task"], r.data.tags["seed"]) for r in single) == \
        [(t, s) for t in ("task1", "task2") for s in ("20003", "20004", "20005", "20006")]
    assert all(r.data.tags["kind"] == CONFIRM_KIND and f"test/{r.data.tags['task']}/loss" in r.data.metrics for r in single)
    client = mlflow_runs(stores["tracking_uri"], "planted")[0]
    drawn = {r.info.run_name for r in single if "learning_curves.png" in {a.path for a in client.list_artifacts(r.info.run_id)}}
    assert drawn == {"confirm-single-task-task1-0", "confirm-single-task-task2-0"}
    again = conclude(sweep, printer=lambda line: None)  # resuming trains nothing new and judges the same
    assert again == verdict
    by_target = {c.target: c for c in verdict.comparisons if c.reference == "stuck"}
    assert by_target["objective"].word == "better" and by_target["objective"].difference.high < 0  # loss went down
    assert "objective: learns is better than stuck by" in "\n".join(verdict.sentences())
    _, parents, _ = mlflow_runs(stores["tracking_uri"], "planted")
    stored = {row["target"]: row for row in read_verdict_table(sweep.tracker, parents[0].info.run_id)
              if row["reference"] == "stuck"}
    assert stored["objective"]["verdict"] == "better" and stored["objective"]["arm"] == "learns"
    assert parents[0].data.tags["best_arm"] == "learns"
    assert parents[0].data.metrics["arm/learns/test_objective"] < parents[0].data.metrics["arm/stuck/test_objective"]


RACE = space_toml(_space(LEARNS_AND_STUCK, "race", seeds=10, reference="learns"), training=EIGHT_EPOCHS)


@pytest.mark.slow
def test_racing_drops_a_clearly_worse_arm_before_its_last_seed_and_judges_it_on_the_seeds_it_had(
        write_space, stores) -> None:
    lines: list[str] = []
    space = load_space(write_space(RACE))
    sweep = open_sweep(space, **stores)
    tune_sweep(sweep, printer=lambda line: None)
    verdict = conclude(sweep, printer=lines.append)
    assert [d.arm for d in verdict.dropped] == ["stuck"]
    dropped = verdict.dropped[0]
    assert dropped.seeds == 5 and dropped.leader == "learns"
    looks = race_looks(10, fuse=True)  # fused rounds of 5 and 5 seeds: one look, after 5
    assert looks == (5,) and dropped.p_holm < dropped.threshold == pytest.approx(look_levels(0.05, looks, 10)[0][0])
    assert any(line.startswith(f"stuck: dropped after {dropped.seeds} seeds") for line in lines)
    stuck = [c for c in verdict.comparisons if c.arm == "stuck"]
    assert all(c.difference.n == dropped.seeds for c in stuck)  # judged on the seeds it had
    assert "worse" in {c.word for c in stuck} and "better" not in {c.word for c in stuck}
    assert {s.arm: s.n for s in verdict.standings} == {"learns": 5, "stuck": 5}  # ranked on the seeds both have
    assert "stuck was dropped after" in "\n".join(verdict.sentences())
    _, parents, children = mlflow_runs(stores["tracking_uri"], "race")
    confirmations = [r for r in children if r.data.tags["kind"] == CONFIRM_KIND]
    assert sum(r.data.tags["arm"] == "stuck" for r in confirmations) == dropped.seeds
    assert parents[0].data.tags["dropped_arms"] == "stuck"
    assert conclude(open_sweep(space, **stores), printer=lambda line: None) == verdict  # a resume replays the race


@pytest.mark.slow
def test_budgets_per_arm_are_equal_and_exact_with_two_jobs_and_a_resume(write_space, tmp_path, fresh_mlflow_db) -> None:
    space = write_space(_space({"independent": {"strategy": "independent"}, "hard": {"strategy": "hard"}}, "budget", seeds=2))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tracking = fresh_mlflow_db(tmp_path / "mlflow.db")
    common = ("--space", str(space), "--storage", storage, "--tracking-uri", tracking, "--no-report")
    first = cli("run", *common, "--trials", "3", "--jobs", "2", cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "verdict (up to 2 confirmation seeds per arm" in first.stdout
    assert "this process tunes independent" in first.stdout  # two jobs, two arms: each process its own arm
    lines = [line for line in first.stdout.splitlines() if line.strip()]
    for arm in ("independent", "hard"):  # one story: each stage line once, tuning before confirming, each round said once
        tuning = [i for i, line in enumerate(lines) if line.startswith(f"{arm}: tuning,")]
        rounds = [i for i, line in enumerate(lines) if line.startswith(f"{arm}: confirming trial ")]
        assert len(tuning) == 1 and len(rounds) == 1 and tuning[0] < rounds[0], first.stdout
        assert lines[rounds[0]].endswith("seeds 1-2 of 2 (stacked)"), lines[rounds[0]]
    assert len(lines) == len(set(lines)), first.stdout  # nothing printed twice
    block = next(i for i, line in enumerate(lines) if line.startswith("verdict ("))
    assert all(line.startswith("  ") for line in lines[block + 1:]) and block > max(rounds)  # the verdict block is last
    tuned_by = {}
    for arm in ("independent", "hard"):
        trials = optuna.load_study(study_name=arm_study_name("budget", arm), storage=storage).trials
        assert sum(t.state.name in COUNTED for t in trials) == 3
        (tuned_by[arm],) = {t.user_attrs[WORKER_ATTR] for t in trials}  # one process per arm: sequential, seeded alike
    assert tuned_by["independent"] != tuned_by["hard"]
    assert run_in_process(*common, "--trials", "4") == 0  # the resume, in this process
    for arm in ("independent", "hard"):
        trials = optuna.load_study(study_name=arm_study_name("budget", arm), storage=storage).trials
        assert sum(t.state.name in COUNTED for t in trials) == 4
        assert not [t for t in trials if t.state.name == "RUNNING"]
    _, parents, children = mlflow_runs(tracking, "budget")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    confirmations = [r for r in children if r.data.tags["kind"] == CONFIRM_KIND]
    confirmed = {(r.data.tags["arm"], r.data.tags["seed"], r.data.tags["confirms_trial"]) for r in confirmations}
    assert len(confirmed) == len(confirmations)  # no seed of one configuration confirmed twice


@pytest.mark.slow
def test_a_process_of_two_jobs_confirms_its_own_arm_up_to_the_race_s_first_look(write_space, stores) -> None:
    space = load_space(write_space(space_toml(AA, compare={"seeds": 5})))
    sweep = open_sweep(space, **stores)
    tune_sweep(sweep, printer=lambda line: None)
    assert [arm.name for arm in own_arms(sweep, 1, 2)] == ["hard-again"]
    confirm_before_race(sweep, own_arms(sweep, 1, 2), printer=lambda line: None)
    _, _, children = mlflow_runs(stores["tracking_uri"], "aa")
    assert sorted(r.info.run_name for r in children if r.data.tags["kind"] == CONFIRM_KIND) == [
        f"confirm-hard-again-{i}" for i in range(3)]  # fused rounds of 3 and 2 seeds, the race's look after 3
    verdict = conclude(sweep, printer=lambda line: None)
    assert {s.arm: s.n for s in verdict.standings} == {"hard": 5, "hard-again": 5}
    _, _, children = mlflow_runs(stores["tracking_uri"], "aa")
    names = [r.info.run_name for r in children if r.data.tags["kind"] == CONFIRM_KIND]
    assert len(names) == len(set(names)) == 10  # what the process confirmed was read back, not trained again


@pytest.mark.slow
def test_the_keras_tuner_engine_refuses_a_comparison_in_one_line(write_space, tmp_path) -> None:
    space = write_space(_space({"a": {"strategy": "hard"}, "b": {"strategy": "independent"}}))
    with pytest.raises(MtlError, match="keras-tuner engine does not run comparisons") as raised:
        run_in_process("--space", str(space), "--engine", "keras-tuner")
    assert "compare" in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(("extra", "key", "problem"), [
    ('[compare]\nseeds = 1\n[compare.arms.a]\nstrategy = "hard"\n[compare.arms.b]\nstrategy = "mmoe"\n',
     "compare.seeds", "must be >= 2"),
    ('[compare]\nreference = "z"\n[compare.arms.a]\nstrategy = "hard"\n[compare.arms.b]\nstrategy = "mmoe"\n',
     "compare.reference", "is not an arm"),
    ('[compare.arms.a]\nstrategy = "hard"\n', "compare.arms", "at least two arms"),
    ('[compare]\nrounds = 3\n', "compare.rounds", "unknown key"),
    ('[compare]\nracing = "yes"\n[compare.arms.a]\nstrategy = "hard"\n[compare.arms.b]\nstrategy = "mmoe"\n',
     "compare.racing", "bool"),
    ('[compare]\nseeds = 3\n', "compare", "nothing to compare"),
    ('[compare]\narms = "none"\nseeds = 3\n', "compare.seeds", "means nothing with arms"),
    ('[compare]\narms = "some"\n', "compare.arms", "must be tables"),
    ('[compare.arms."a b"]\nstrategy = "hard"\n[compare.arms.c]\nstrategy = "hard"\n', "compare.arms.a b", "letters"),
    ('[compare.arms.single-task]\nstrategy = "hard"\n[compare.arms.c]\nstrategy = "hard"\n', "compare.arms.single-task",
     "reserved for the single-task baselines"),
    ('[compare.arms.a]\nstrategy = "hard"\nn_experts = 3\n[compare.arms.b]\nstrategy = "mmoe"\n',
     "compare.arms.a.n_experts", "applies only to strategy"),
    ('[compare.arms.a]\nstrategy = "hard"\nwidth = 3\n[compare.arms.b]\nstrategy = "mmoe"\n',
     "compare.arms.a.width", "unknown key"),
    ('[compare.arms.a]\nstrategy = "hard"\nstream = -1\n[compare.arms.b]\nstrategy = "mmoe"\n', "compare.arms.a.stream", ">= 0"),
    ('[compare.arms.a]\nstrategy = "hard"\nplanted = 1.5\n[compare.arms.b]\nstrategy = "mmoe"\n', "compare.arms.a.planted", "< 1"),
    ('[compare]\nreplicates = 0\n[compare.arms.a]\nstrategy = "hard"\n[compare.arms.b]\nstrategy = "mmoe"\n',
     "compare.replicates", ">= 1"),
    ('[compare]\nreplicates = 2\nresplit = true\n[compare.arms.a]\nstrategy = "hard"\n[compare.arms.b]\nstrategy = "mmoe"\n',
     "compare.resplit", "replicates"),
])
def test_bad_compare_tables_name_the_key(extra: str, key: str, problem: str) -> None:
    with pytest.raises(SpaceError) as error:
        parse_space(TINY_SPACE + extra, "s.toml")
    assert f"s.toml: {key}:" in str(error.value) and problem in str(error.value)


def test_several_strategies_or_weightings_in_search_make_implicit_arms() -> None:
    both = parse_space(space_toml(search={"strategy": ["hard", "independent"], "weighting": ["fixed", "dwa"]}), "s.toml")
    assert both.arm_names == ("hard-fixed", "hard-dwa", "independent-fixed", "independent-dwa")
    assert both.compare is not None and both.compare.reference == "independent-fixed" and both.compare.seeds == 5
    arm = both.arm_space("independent-dwa")
    assert (arm.params["strategy"].value, arm.params["weighting"].value, arm.compare) == ("independent", "dwa", None)
    assert parse_space(TINY_SPACE, "s.toml").compare is None
    one_study = parse_space(space_toml(search={"strategy": ["hard", "independent"]}, compare={"arms": "none"}), "s.toml")
    assert one_study.compare is None and one_study.params["strategy"].choices == ("hard", "independent")
    mixed = parse_space(space_toml(search={"strategy": ["mmoe", "hard"], "n_experts": {"low": 2, "high": 4}}), "s.toml")
    assert "n_experts" in mixed.arm_space("mmoe").params and "n_experts" not in mixed.arm_space("hard").params
    assert math.isclose(mixed.compare.alpha, 0.05) and mixed.compare.reference == "mmoe"  # no independent arm: the first


def test_an_arm_s_own_stream_moves_its_seeds_and_replicates_move_every_arm_s() -> None:
    space = parse_space(TINY_SPACE + '[compare]\nreplicates = 2\n[compare.arms.a]\nstrategy = "hard"\n'
                                     '[compare.arms.b]\nstrategy = "hard"\nstream = 1\n', "s.toml")
    assert space.arm_space("a").study.seed == 3 and space.arm_space("b").study.seed == 3 + 100_000
    assert replicate_arm_space(space, "b", 1).study.seed == 3 + 100_000 + 1000 and replicate_arm_space(space, "a", 0).study.seed == 3
    assert confirmation_seeds(space, 1) == tuple(3 + 1000 + 20_000 + i for i in range(5))  # the pairing keys: every arm's


def test_rounds_are_one_seed_long_unfused_and_two_halves_fused_when_racing() -> None:
    assert confirmation_rounds(6, fuse=False, racing=True) == [range(i, i + 1) for i in range(6)]
    assert confirmation_rounds(6, fuse=True, racing=True) == [range(0, 3), range(3, 6)]
    assert confirmation_rounds(10, fuse=True, racing=True) == [range(0, 5), range(5, 10)]
    assert confirmation_rounds(4, fuse=True, racing=True) == [range(0, 3), range(3, 4)]  # at least 3 before a look
    assert confirmation_rounds(5, fuse=True, racing=False) == [range(0, 5)]
    assert race_looks(6, fuse=False) == (3, 4, 5) and race_looks(6, fuse=True) == (3,) and race_looks(7, fuse=True) == (4,)
    assert race_looks(10, fuse=True) == (5,) and race_looks(3, fuse=True) == ()
