"""The space-file parser: a file (``spaces/*.toml``) or TOML text read into a validated, immutable :class:`Space`
(its types: :mod:`search.space._settings`).

Every key is documented in the README's space-file reference. Unknown keys, wrong types and
impossible ranges raise :class:`SpaceError` naming the file, the key and the problem.
"""

from __future__ import annotations

import importlib.util
import inspect
import tomllib
from importlib.resources import as_file
from pathlib import Path
from typing import Any

from mtl.data import DATASETS
from mtl.errors import ConfigError, MtlError
from mtl.objective import Objective
from mtl.tasks import KINDS, Task
from mtl.weighting import check_weighting
from search.errors import SpaceError
from search.space._arms import held_values, parse_compare
from search.space._builtin import builtin_space
from search.space._groups import default_groups, groups_written
from search.space._params import Check, Param, above, at_least, one_of, parse_param
from search.space._pruners import PRUNERS, pruner_options
from search.space._settings import (
    BASELINE_KEYS,
    LOSS_WEIGHT,
    MULTI_OBJECTIVE_SAMPLERS,
    OPTION_CHECKS,
    OPTIONS,
    SAMPLERS,
    SEARCH,
    SECTIONS,
    SHAPES,
    STARTUP,
    WEIGHTING_OPTIONS,
    DataSettings,
    InitSettings,
    Space,
    StudySettings,
    TrackingSettings,
    TrainingSettings,
)
from search.tracking import LOG_MODELS


class _Section:
    """Reads one TOML table, checking types and remembering which keys were used."""

    def __init__(self, path: str, name: str, table: Any) -> None:
        if not isinstance(table, dict):
            raise SpaceError(path, name, "must be a table")
        self.path, self.name, self.table = path, name, table

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get(self, key: str, typ: type | tuple[type, ...], default: Any = None, check: Check | None = None) -> Any:
        if key not in self.table:
            return default
        value = self.table[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
            expected = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise SpaceError(self.path, self.key(key), f"expected {expected}, got {type(value).__name__} {value!r}")
        problem = check(value) if check else None
        if problem:
            raise SpaceError(self.path, self.key(key), f"{value!r}: {problem}")
        return value

    def reject_unknown(self, known: tuple[str, ...] | set[str]) -> None:
        for key in self.table:
            if key not in known:
                raise SpaceError(self.path, self.key(key), f"unknown key (known: {', '.join(sorted(known))})")


def load_space(path: str | Path) -> Space:
    """Read and validate a space file: a path, or the name of a built-in space (``default``; see ``search/space/builtin/``)."""
    builtin = builtin_space(path) if isinstance(path, str) else None
    if builtin is not None:
        with as_file(builtin) as file:  # the installed file itself, unless the package is imported from a zip
            return load_space(file)
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpaceError(where, "", f"cannot read space file: {exc.strerror}") from None
    return parse_space(text, where, base=path.parent)


def parse_space(text: str, where: str, base: Path = Path(".")) -> Space:
    """Validate the TOML ``text`` of a space file named ``where``; relative data paths resolve from ``base``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(where, "", f"not valid TOML: {exc}") from None
    _Section(where, "top level", doc).reject_unknown(SECTIONS)
    study = _study(_Section(where, "study", doc.get("study", {})), default_name=Path(where).stem)
    data = _data(_Section(where, "data", doc.get("data", {})), base)
    training = _training(_Section(where, "training", doc.get("training", {})))
    objective, per_task = _objective(_Section(where, "objective", doc.get("objective", {})))
    if per_task and study.sampler not in MULTI_OBJECTIVE_SAMPLERS:
        usable = ", ".join(MULTI_OBJECTIVE_SAMPLERS)
        raise SpaceError(where, "study.sampler", f"{study.sampler!r} cannot drive one objective per task (use {usable})")
    if per_task and study.pruner != "none":
        raise SpaceError(where, "study.pruner", "Optuna cannot prune a study with one objective per task; use pruner = \"none\"")
    held = {setting: held_values(doc.get("compare"), setting) for setting in ("strategy", "weighting")}
    params, loss_weights = _search(_Section(where, "search", doc.get("search", {})), held["strategy"], held["weighting"])
    options = {**{name: ("strategy", users) for name, (_, users) in OPTIONS.items()},
               **{name: ("weighting", (scheme,)) for name, (scheme, _) in WEIGHTING_OPTIONS.items()}}
    compare = parse_compare(where, doc.get("compare"), doc.get("search", {}), params, options,
                            lambda section, table: _search(_Section(where, section, table)))
    init = _init(_Section(where, "init", doc.get("init", {})), base)
    for arm_params in [params] + [arm.params for arm in (compare.arms if compare else ())]:
        _check_warm_start(where, arm_params, training, init)
    baselines = _baselines(_Section(where, "baselines", doc.get("baselines", {})))
    tracking = _tracking(_Section(where, "tracking", doc.get("tracking", {})))
    return Space(where, text, study, data, training, objective, per_task, params, loss_weights, init, baselines, compare,
                 tracking)


def _study(s: _Section, default_name: str) -> StudySettings:
    s.reject_unknown(("name", "trials", "timeout", "batch", "sampler", "seed", "pruner", "register", "registered_model"))
    pruner, options = _pruner(s)
    return StudySettings(
        name=s.get("name", str, default_name, _not_empty),
        trials=s.get("trials", int, 20, at_least(1)),
        timeout=s.get("timeout", float, None, above(0)),
        batch=s.get("batch", (int, str), 1, _batch),
        sampler=s.get("sampler", str, "tpe", _sampler_available),
        seed=s.get("seed", int, 0, at_least(0)),
        pruner=pruner,
        pruner_options=options,
        register=s.get("register", bool, True),
        registered_model=s.get("registered_model", str, None, _not_empty),
    )


def _tracking(s: _Section) -> TrackingSettings:
    s.reject_unknown(("log_models",))
    return TrackingSettings(log_models=s.get("log_models", str, "all", one_of(LOG_MODELS)))


def _not_empty(value: str) -> str | None:
    """A check that a string is not blank."""
    return None if value.strip() else "must not be empty"


def _batch(value: int | str) -> str | None:
    """A check of ``[study] batch``: a number of trials (>= 1), or ``"startup"``."""
    if isinstance(value, str):
        return None if value == STARTUP else f'must be a number of trials or "{STARTUP}"'
    return at_least(1)(value)


def _sampler_available(name: str) -> str | None:
    """A check that the sampler exists and its optional dependency is installed."""
    if name not in SAMPLERS:
        return f"must be one of {', '.join(SAMPLERS)}"
    if name == "gp" and importlib.util.find_spec("torch") is None:
        return "the Gaussian-process sampler needs PyTorch (pip install torch)"
    return None


def _pruner(s: _Section) -> tuple[str, dict[str, Any]]:
    """``pruner = "median"`` or ``pruner = { name = "median", n_startup_trials = 5, ... }``."""
    raw = s.get("pruner", (str, dict), "none")
    options = dict(raw) if isinstance(raw, dict) else {"name": raw}
    name = options.pop("name", None)
    if name not in PRUNERS:
        raise SpaceError(s.path, "study.pruner", f"{name!r} must be one of {', '.join(PRUNERS)}")
    accepted = pruner_options(name)
    for key, value in options.items():
        if key not in accepted:
            raise SpaceError(s.path, f"study.pruner.{key}", f"unknown option of the {name} pruner (known: {', '.join(accepted) or 'none'})")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SpaceError(s.path, f"study.pruner.{key}", f"expected a non-negative number, got {value!r}")
    return name, options


def _data(s: _Section, base: Path) -> DataSettings:
    s.reject_unknown(("source", "options", "features", "tasks", "val_fraction", "test_fraction", "split_column", "stratify"))
    source = s.get("source", str)
    if source is None:
        raise SpaceError(s.path, "data.source", f"required: a built-in data set ({', '.join(DATASETS)}) or a table file")
    val = s.get("val_fraction", float, 0.2, lambda v: None if 0 < v < 1 else "must lie in (0, 1)")
    test = s.get("test_fraction", float, 0.2, lambda v: None if 0 < v < 1 else "must lie in (0, 1)")
    if val + test >= 1:
        raise SpaceError(s.path, "data", f"val_fraction + test_fraction = {val + test} leaves no training rows")
    options = s.get("options", dict, {})
    split_column, stratify = s.get("split_column", str, None, _not_empty), s.get("stratify", str, None, _not_empty)
    if split_column is not None and stratify is not None:
        raise SpaceError(s.path, "data.stratify", "cannot be combined with data.split_column (the column fixes the split)")
    if source in DATASETS:
        if split_column is not None:
            raise SpaceError(s.path, "data.split_column", f"built-in data set {source!r} has no split column; use a table")
        if "features" in s.table or "tasks" in s.table:
            raise SpaceError(s.path, "data", f"built-in data set {source!r} defines its own features and tasks")
        accepted = set(inspect.signature(DATASETS[source]).parameters) - {"seed"}
        for key in options:
            if key not in accepted:
                raise SpaceError(s.path, f"data.options.{key}", f"unknown option of {source!r} (known: {', '.join(sorted(accepted))})")
        return DataSettings(source, dict(options), None, (), val, test, None, stratify)
    if options:
        raise SpaceError(s.path, "data.options", "options apply only to built-in data sets")
    features = s.get("features", list)
    if features is not None and not all(isinstance(f, str) for f in features):
        raise SpaceError(s.path, "data.features", "must be a list of column names")
    tasks = tuple(_table_task(s, i, t) for i, t in enumerate(s.get("tasks", list, [])))
    if not tasks:
        raise SpaceError(s.path, "data.tasks", "a table source needs at least one [[data.tasks]] entry")
    names = [t["name"] for t in tasks]
    if len(set(names)) != len(names):
        raise SpaceError(s.path, "data.tasks", f"task names repeat: {names}")
    resolved = source if Path(source).is_absolute() else str(base / source)
    return DataSettings(resolved, {}, tuple(features) if features is not None else None, tasks, val, test, split_column, stratify)


def _table_task(s: _Section, index: int, raw: Any) -> dict[str, str]:
    t = _Section(s.path, f"data.tasks[{index}]", raw)
    t.reject_unknown(("name", "kind", "column"))
    name = t.get("name", str)
    if name is None:
        raise SpaceError(s.path, t.key("name"), "required")
    kind = t.get("kind", str, "regression", one_of(KINDS))
    try:
        Task(name, kind, 2)
    except MtlError as exc:
        raise SpaceError(s.path, t.key("name"), str(exc)) from None
    return {"name": name, "kind": kind, "column": t.get("column", str, name)}


def _training(s: _Section) -> TrainingSettings:
    s.reject_unknown(("epochs", "patience", "finetune_after", "finetune_lr_factor"))
    return TrainingSettings(
        epochs=s.get("epochs", int, 30, at_least(1)),
        patience=s.get("patience", int, 5, at_least(1)),
        finetune_after=s.get("finetune_after", int, None, at_least(1)),
        finetune_lr_factor=s.get("finetune_lr_factor", float, 0.1, above(0)),
    )


def _source(s: _Section, key: str, value: Any, base: Path) -> str:
    """An ``[init]`` source: an MLflow run id as written, or a ``.keras`` path resolved from the space file."""
    if not isinstance(value, str) or not value.strip():
        raise SpaceError(s.path, key, f"expected an MLflow run id or a .keras file, got {value!r}")
    if value.endswith(".keras"):
        return value if Path(value).is_absolute() else str(base / value)
    if "/" in value or "." in value:
        raise SpaceError(s.path, key, f"{value!r} is neither an MLflow run id nor a .keras file")
    return value


def _init(s: _Section, base: Path) -> InitSettings:
    s.reject_unknown(("trunk", "towers"))
    trunk = _source(s, s.key("trunk"), s.table["trunk"], base) if "trunk" in s.table else None
    towers = s.table.get("towers", {})
    if isinstance(towers, dict):
        towers = {task: _source(s, f"{s.key('towers')}.{task}", value, base) for task, value in towers.items()}
    else:
        towers = _source(s, s.key("towers"), towers, base)
    return InitSettings(trunk, towers)


def _check_warm_start(path: str, params: dict[str, Param], training: TrainingSettings, init: InitSettings) -> None:
    """Freezing needs warm-started weights; warm-started layers need fixed shapes (and an untied head)."""
    if any(v != "none" for v in params["freeze"].values()) and not init.given:
        raise SpaceError(path, "search.freeze", "freezing needs warm-started weights: name them in an [init] section")
    if training.finetune_after is not None and params["freeze"].values() == ["none"]:
        raise SpaceError(path, "training.finetune_after",
                         "nothing is ever frozen (search.freeze is \"none\"), so there is nothing to fine-tune")
    if not init.given:
        return
    for name in SHAPES:
        if name in params and not params[name].is_fixed:
            raise SpaceError(path, f"search.{name}", "must be fixed when [init] loads weights: weights fit only layers of their own shape")
    if init.trunk and params["strategy"].values() != ["hard"]:
        raise SpaceError(path, "init.trunk", "only strategy \"hard\" has a shared trunk; fix search.strategy to \"hard\"")
    if init.towers and params["tie_outputs"].can_be(True):
        raise SpaceError(path, "init.towers", "cannot fill a tied output head (one for every task); set search.tie_outputs = false")


def _baselines(s: _Section) -> dict[str, Any]:
    s.reject_unknown(BASELINE_KEYS)
    return {name: s.get(name, SEARCH[name][0], check=SEARCH[name][1]) for name in BASELINE_KEYS if name in s.table}


def _weighting_option_check(scheme: str, option: str) -> Check:
    """The check of one weighting option's values: the scheme's own (:func:`mtl.weighting.check_weighting`)."""

    def check(value: float) -> str | None:
        try:
            check_weighting(scheme, {option: value})
        except ConfigError as exc:
            return str(exc)
        return None

    return check


def _objective(s: _Section) -> tuple[Objective, bool]:
    s.reject_unknown(("metrics", "direction", "per_task"))
    metrics = s.get("metrics", dict)
    if metrics is not None and not all(isinstance(v, str) for v in metrics.values()):
        raise SpaceError(s.path, "objective.metrics", "must map task names to metric names")
    default = "minimize" if metrics is None else None
    direction = s.get("direction", str, default, one_of(("minimize", "maximize")))
    if direction is None:
        raise SpaceError(s.path, "objective.direction", "required when objective.metrics is given")
    return Objective(metrics, direction), s.get("per_task", bool, False)


def _search(s: _Section, arm_strategies: frozenset[str] = frozenset(),
            arm_weightings: frozenset[str] = frozenset()) -> tuple[dict[str, Param], Param | dict[str, Param]]:
    """``[search]`` (or an arm's table); a strategy (weighting) option is allowed where the strategy (weighting),
    or an arm's, uses it."""
    s.reject_unknown((*SEARCH, *OPTIONS, *WEIGHTING_OPTIONS, LOSS_WEIGHT))
    params = {}
    for name, (typ, check, default) in SEARCH.items():
        params[name] = parse_param(s.table.get(name, default), name, typ, s.path, s.key(name), check)
    for name, (typ, users) in OPTIONS.items():
        if name in s.table:
            if not any(params["strategy"].can_be(u) or u in arm_strategies for u in users):
                raise SpaceError(s.path, s.key(name), f"applies only to strategy {' / '.join(users)}, "
                                                      f"which {s.key('strategy')} never takes")
            raw = groups_written(s.table[name]) if name == "groups" else s.table[name]
            params[name] = parse_param(raw, name, typ, s.path, s.key(name), OPTION_CHECKS.get(name, at_least(1)))
    for name, (scheme, option) in WEIGHTING_OPTIONS.items():
        if name in s.table:
            if not (params["weighting"].can_be(scheme) or scheme in arm_weightings):
                raise SpaceError(s.path, s.key(name), f"applies only to weighting {scheme}, which {s.key('weighting')} never takes")
            params[name] = parse_param(s.table[name], name, float, s.path, s.key(name), _weighting_option_check(scheme, option))
    groups = default_groups(params, arm_strategies)
    if groups is not None:
        params["groups"] = groups
    raw_weights = s.table.get(LOSS_WEIGHT, 1.0)
    positive = above(0)
    if isinstance(raw_weights, dict) and not ({"low", "high"} & set(raw_weights)):
        weights: Param | dict[str, Param] = {
            task: parse_param(raw, f"{LOSS_WEIGHT}.{task}", float, s.path, f"{s.key(LOSS_WEIGHT)}.{task}", positive)
            for task, raw in raw_weights.items()
        }
    else:
        weights = parse_param(raw_weights, LOSS_WEIGHT, float, s.path, s.key(LOSS_WEIGHT), positive)
    return params, weights
