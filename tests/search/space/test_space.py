"""Space files: the shipped ones load; every malformed one fails naming file, key and problem."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from mtl.tasks import Task
from search.engines import make_sampler
from search.errors import SpaceError
from search.space import load_space, optuna_suggest, parse_space, sample
from tests.conftest import TINY_SPACE
from tests.helpers import assert_one_line_error, cli, space_toml

SPACES = sorted(Path(__file__).resolve().parents[3].joinpath("spaces").glob("*.toml"))


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.name)
def test_shipped_spaces_load(path: Path) -> None:
    space = load_space(path)
    assert space.study.trials >= 1 and space.params


def test_tiny_space_parses_ranges_choices_and_fixed_values() -> None:
    space = parse_space(TINY_SPACE, "tiny.toml")
    assert space.params["shared_depth"].kind == "int" and space.params["shared_depth"].high == 2
    assert space.params["tie_outputs"].choices == (False, True)
    assert space.params["tower_width"].value == 8
    assert space.loss_weight_for("task2").name == "loss_weight.task2"
    assert space.study.sampler == "random" and space.training.epochs == 3


BAD = [
    ("[study\nname='x'", "", "not valid TOML"),
    ("[extra]\nx = 1", "top level.extra", "unknown key"),
    (space_toml(search={"widths": 3}), "search.widths", "unknown key"),
    (space_toml(search={"dropout": {"low": 0.3, "high": 0.1}}), "search.dropout", "impossible range: low 0.3 > high 0.1"),
    (space_toml(search={"dropout": {"low": 0.0, "high": 0.2, "log": True}}), "search.dropout", "log range needs low > 0"),
    (space_toml(search={"learning_rate": {"low": 0.0, "high": 0.1, "log": True}}),
     "search.learning_rate.low", "must be > 0"),
    (space_toml(search={"shared_depth": {"low": -1, "high": 2}}),
     "search.shared_depth.low", "must be >= 0"),
    (space_toml(search={"tower_width": {"low": 4, "high": 16, "log": True, "step": 2}}),
     "search.tower_width", "both log = true and a step"),
    (space_toml(search={"tower_width": "wide"}), "search.tower_width", "expected int"),
    (space_toml(search={"tower_width": {"low": 4}}), "search.tower_width", "needs both low and high"),
    (space_toml(search={"tower_width": []}), "search.tower_width", "must not be empty"),
    (space_toml(search={"activation": ["relu", "sparkle"]}), "search.activation", "must be one of"),
    (space_toml(study={"sampler": "magic"}), "study.sampler", "must be one of"),
    (space_toml(data={"source": None}), "data.source", "required"),
    (space_toml(data={"options.n_tasks": None, "options.n_jobs": 2}), "data.options.n_jobs", "unknown option"),
    (space_toml(training={"epochs": 0}), "training.epochs", "must be >= 1"),
    (space_toml(study={"batch": 0}), "study.batch", "must be >= 1"),
    (space_toml(study={"batch": "all"}), "study.batch", 'must be a number of trials or "startup"'),
    (space_toml(data={"x": {}}), "data.x", "unknown key"),
    (space_toml(data={"val_fraction": 0.6, "test_fraction": 0.5}), "data", "leaves no training rows"),
    (TINY_SPACE + "\n[objective]\nmetrics = { task1 = 'rmse' }\n", "objective.direction", "required"),
    (space_toml(data={"split_column": "part"}), "data.split_column", "has no split column"),
    (space_toml(data={"split_column": "part", "stratify": "task1"}), "data.stratify", "cannot be combined"),
    (space_toml(data={"stratify": ""}), "data.stratify", "must not be empty"),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD, ids=[b[1] or "toml" for b in BAD])
def test_bad_spaces_name_file_key_and_problem(text: str, key: str, problem: str) -> None:
    with pytest.raises(SpaceError) as caught:
        parse_space(text, "bad.toml")
    assert caught.value.path == "bad.toml"
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith("bad.toml")


def test_missing_file_is_a_space_error(tmp_path) -> None:
    with pytest.raises(SpaceError, match="cannot read space file"):
        load_space(tmp_path / "nope.toml")


TABLE_SPACE = """
[data]
source = "t.csv"
[[data.tasks]]
name = "price"
kind = "regression"
[[data.tasks]]
name = "kind"
kind = "multiclass"
[search]
tie_outputs = [false, true]
"""


def test_tying_unlike_tasks_is_a_space_error() -> None:
    space = parse_space(TABLE_SPACE, "table.toml")
    tasks = (Task("price", "regression"), Task("kind", "multiclass", 3))
    with pytest.raises(SpaceError) as caught:
        space.check_tasks(tasks)
    assert caught.value.key == "search.tie_outputs" and "cannot be true" in caught.value.problem
    parse_space(space_toml(TABLE_SPACE, search={"tie_outputs": False}), "table.toml").check_tasks(tasks)


def test_table_paths_resolve_from_the_space_file_and_tasks_are_checked() -> None:
    space = parse_space(TABLE_SPACE, "spaces/table.toml", base=Path("spaces"))
    assert space.data.source == str(Path("spaces") / "t.csv")
    weights = space_toml(TABLE_SPACE, search={"tie_outputs": None, "loss_weight": {"price": 2.0, "ghost": 1.0}})
    with pytest.raises(SpaceError) as caught:
        parse_space(weights, "t.toml").check_tasks(
            (Task("price", "regression"), Task("kind", "multiclass", 3)))
    assert caught.value.key == "search.loss_weight.ghost"


def test_stratify_must_name_a_classification_task() -> None:
    tasks = (Task("price", "regression"), Task("kind", "multiclass", 3))
    table = space_toml(TABLE_SPACE, search={"tie_outputs": None})
    parse_space(space_toml(table, data={"stratify": "kind"}), "t.toml").check_tasks(tasks)
    assert parse_space(space_toml(table, data={"split_column": "part"}), "t.toml").data.split_column == "part"
    for name in ("price", "ghost"):
        with pytest.raises(SpaceError) as caught:
            parse_space(space_toml(table, data={"stratify": name}), "t.toml").check_tasks(tasks)
        assert caught.value.key == "data.stratify" and f"{name!r} is not a binary or multiclass task" in caught.value.problem


def test_objective_metric_must_exist_for_its_task() -> None:
    text = TINY_SPACE + "\n[objective]\nmetrics = { task1 = 'rmse', task2 = 'auc' }\ndirection = 'minimize'\n"
    space = parse_space(text, "o.toml")
    with pytest.raises(SpaceError, match="no metric 'auc'"):
        space.check_tasks((Task("task1", "regression"), Task("task2", "regression")))


def test_fingerprint_ignores_budget_but_not_search_or_seed() -> None:
    base = parse_space(TINY_SPACE, "a.toml")
    assert base.fingerprint() == parse_space(space_toml(study={"trials": 9}), "a.toml").fingerprint()
    assert base.fingerprint() != parse_space(space_toml(search={"tower_width": 9}), "a.toml").fingerprint()
    assert base.fingerprint() != base.with_seed(99).fingerprint()


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes"])
def test_every_sampler_runs_a_seeded_study(sampler: str) -> None:
    space = parse_space(space_toml(study={"sampler": sampler}), "s.toml")
    tasks = (Task("task1", "regression"), Task("task2", "regression"))

    def draws(seed: int) -> list[dict]:
        study = optuna.create_study(sampler=make_sampler(space.study.sampler, seed))
        out = []
        for i in range(7):  # past the 5 start-up trials, so the model-based part runs too
            trial = study.ask()
            values = sample(space, tasks, optuna_suggest(trial)).params
            study.tell(trial, float(values["shared_depth"]) + i * 0.01)
            out.append(values)
        return out

    first = draws(1)
    assert first == draws(1)  # seeded
    for values in first:
        assert 0 <= values["shared_depth"] <= 2 and 0.5 <= values["loss_weight.task1"] <= 2.0


WARM = space_toml(search={"shared_depth": 1, "shared_width": 8, "tower_depth": 1, "tie_outputs": False})
RUN = "0123456789abcdef0123456789abcdef"
WARM_BAD = [
    (space_toml(search={"freeze": ["none", "trunk"]}), "search.freeze", "needs warm-started weights"),
    (space_toml(WARM, training={"finetune_after": 1}), "training.finetune_after", "nothing is ever frozen"),
    (space_toml(WARM, search={"shared_width": [8, 16]}, init={"trunk": RUN}), "search.shared_width", "must be fixed"),
    (space_toml(WARM, search={"strategy": ["hard", "mmoe"]}, init={"trunk": RUN}), "init.trunk", "only strategy"),
    (space_toml(WARM, search={"tie_outputs": [False, True]}, init={"towers": RUN}), "init.towers", "tied output head"),
    (WARM + "[init]\ntrunk = 'models/x.h5'\n", "init.trunk", "neither an MLflow run id"),
    (WARM + "[init]\ntowers = { task1 = 3 }\n", "init.towers.task1", "expected an MLflow run id"),
    (WARM + "[init]\ncolumns = 'a.keras'\n", "init.columns", "unknown key"),
    (WARM + "[baselines]\nlearning_rate = -1.0\n", "baselines.learning_rate", "must be > 0"),
    (WARM + "[baselines]\nstrategy = 'mmoe'\n", "baselines.strategy", "unknown key"),
]


@pytest.mark.parametrize(("text", "key", "problem"), WARM_BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(WARM_BAD)])
def test_bad_warm_starts_name_the_key_and_problem(text: str, key: str, problem: str) -> None:
    with pytest.raises(SpaceError) as caught:
        parse_space(text, "bad.toml")
    assert caught.value.key == key and problem in caught.value.problem


def test_init_sources_freeze_and_baseline_settings_parse() -> None:
    text = space_toml(WARM, search={"freeze": ["none", "towers"]}, training={"finetune_after": 2},
                      init={"trunk": "m/joint.keras", "towers": {"task1": RUN}}, baselines={"learning_rate": 0.003})
    space = parse_space(text, "spaces/w.toml", base=Path("spaces"))
    assert space.init.trunk == str(Path("spaces") / "m" / "joint.keras")
    assert space.init.tower_sources(("task1", "task2")) == {"task1": RUN}
    assert space.params["freeze"].choices == ("none", "towers") and space.training.finetune_after == 2
    assert space.training.finetune_lr_factor == 0.1
    assert space.baseline_value("learning_rate") == 0.003  # [baselines] first
    assert space.baseline_value("shared_width") == 8  # then the space's fixed value
    assert space.baseline_value("activation") == "relu"  # then the default
    other_baselines = space_toml(text, baselines={"learning_rate": 0.03})
    assert space.fingerprint() == parse_space(other_baselines, "spaces/w.toml", base=Path("spaces")).fingerprint()
    one_for_all = parse_space(WARM + f"[init]\ntowers = '{RUN}'\n", "w.toml")
    assert one_for_all.init.tower_sources(("task1", "task2")) == {"task1": RUN, "task2": RUN}
    with pytest.raises(SpaceError) as caught:
        parse_space(WARM + f"[init.towers]\nghost = '{RUN}'\n", "w.toml").check_tasks(
            (Task("task1", "regression"), Task("task2", "regression")))
    assert caught.value.key == "init.towers.ghost"


def test_weighting_options_are_searchable_and_drawn_only_for_their_scheme() -> None:
    text = space_toml(search={"weighting": ["fixed", "cagrad", "dwa"], "cagrad_c": {"low": 0.1, "high": 0.8}, "dwa_temperature": 3.0})
    space = parse_space(space_toml(text, compare={"arms": "none"}), "w.toml")
    tasks = (Task("task1", "regression"), Task("task2", "regression"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = {}
    for _ in range(12):
        sampled = sample(space, tasks, optuna_suggest(study.ask()))
        drawn[sampled.weighting] = sampled.weighting_options
    assert drawn["fixed"] == {} and drawn["dwa"] == {"temperature": 3.0}
    assert set(drawn["cagrad"]) == {"c"} and 0.1 <= drawn["cagrad"]["c"] <= 0.8
    arms = parse_space(text, "w.toml")  # several weightings: one arm each, with only its own options
    assert "cagrad_c" in arms.arm_space("cagrad").params and "cagrad_c" not in arms.arm_space("fixed").params
    assert "dwa_temperature" not in arms.arm_space("cagrad").params


@pytest.mark.parametrize("extra, key, problem", [
    ({"cagrad_c": 1.5, "weighting": "cagrad"}, "search.cagrad_c", "cagrad"),
    ({"dwa_temperature": 2.0}, "search.dwa_temperature", "applies only to weighting dwa"),
    ({"famo_beta": 1.0, "weighting": "famo"}, "search.famo_beta", "unknown"),
])
def test_bad_weighting_options_name_the_key_and_problem(extra: dict, key: str, problem: str) -> None:
    with pytest.raises(SpaceError, match=f"{key}.*{problem}") as raised:
        parse_space(space_toml(search=extra), "w.toml")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("setting", ["all", "confirmations", "best"])
def test_tracking_log_models_is_read_and_kept_out_of_the_fingerprint(setting: str) -> None:
    space = parse_space(TINY_SPACE + f'\n[tracking]\nlog_models = "{setting}"\n', "t.toml")
    assert space.tracking.log_models == setting
    assert space.fingerprint() == parse_space(TINY_SPACE, "t.toml").fingerprint()  # a resume may keep fewer models
    assert parse_space(TINY_SPACE, "t.toml").tracking.log_models == "all"  # the default


@pytest.mark.parametrize("text, key, problem", [
    ('log_models = "some"\n', "tracking.log_models", "must be one of all, confirmations, best"),
    ("log_models = true\n", "tracking.log_models", "expected str"),
    ('keep = "all"\n', "tracking.keep", "unknown key"),
])
def test_bad_tracking_settings_name_the_key(text: str, key: str, problem: str) -> None:
    with pytest.raises(SpaceError, match=f"{key}.*{problem}"):
        parse_space(TINY_SPACE + "\n[tracking]\n" + text, "t.toml")


@pytest.mark.slow
def test_a_bad_log_models_exits_2_naming_the_key(tmp_path, write_space) -> None:
    bad = write_space(TINY_SPACE + '\n[tracking]\nlog_models = "most"\n', "bad.toml")
    assert_one_line_error(cli("run", "--space", str(bad), cwd=tmp_path), "bad.toml", "tracking.log_models", "'most'")
