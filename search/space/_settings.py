"""The settings a space file holds: the searchable keys' table, one typed dataclass per section, and :class:`Space`.

:mod:`search.space._file` reads a file into these; the rest of the harness reads only these.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from mtl.data import DATASETS
from mtl.errors import ConfigError
from mtl.models import STRATEGIES, STRATEGY_OPTIONS, check_tying
from mtl.objective import Objective
from mtl.tasks import Task
from mtl.warmstart import FREEZE
from mtl.weighting import WEIGHTINGS
from search.errors import SpaceError
from search.space._arms import STREAM_STRIDE, CompareSettings
from search.space._groups import groups_check, partition_problem
from search.space._params import Check, Param, above, at_least, in_unit, one_of

ACTIVATIONS = ("relu", "gelu", "elu", "selu", "tanh", "swish", "leaky_relu", "sigmoid")
SAMPLERS = ("tpe", "random", "cmaes", "gp", "nsga2")
STARTUP = "startup"  # [study] batch: ask the sampler's start-up trials (drawn without results) together, the rest one by one
MULTI_OBJECTIVE_SAMPLERS = ("tpe", "random", "nsga2")

# name -> (type, check, default) for every searchable setting except the per-task loss weights
SEARCH: dict[str, tuple[type, Check | None, Any]] = {
    "strategy": (str, one_of(tuple(sorted(STRATEGIES))), "hard"),
    "shared_depth": (int, at_least(0), 1),
    "shared_width": (int, at_least(1), 64),
    "tower_depth": (int, at_least(0), 1),
    "tower_width": (int, at_least(1), 32),
    "tie_outputs": (bool, None, False),
    "activation": (str, one_of(ACTIVATIONS), "relu"),
    "dropout": (float, in_unit, 0.0),
    "learning_rate": (float, above(0), 1e-3),
    "batch_size": (int, at_least(1), 64),
    "weighting": (str, one_of(tuple(WEIGHTINGS)), "fixed"),
    "freeze": (str, one_of(FREEZE), "none"),
}
LOSS_WEIGHT = "loss_weight"
# strategy options (searchable like any setting; drawn only for the strategies that use them)
OPTION_CHECKS: dict[str, Check] = {
    "task_experts": at_least(0),
    "cross_stitch_self": lambda v: None if 0 <= v <= 1 else "must lie in [0, 1]",
    "groups": groups_check,
}
OPTIONS: dict[str, tuple[type, tuple[str, ...]]] = {
    name: (typ, tuple(s for s, opts in STRATEGY_OPTIONS.items() if name in opts))
    for opts in STRATEGY_OPTIONS.values() for name, (typ, _) in opts.items()
}
# weighting options, one key per scheme and option (``cagrad_c``, ``dwa_temperature``): searchable floats,
# drawn only for trials whose weighting is that scheme
WEIGHTING_OPTIONS: dict[str, tuple[str, str]] = {
    f"{scheme}_{option}": (scheme, option) for scheme, cls in WEIGHTINGS.items() for option in cls.OPTIONS
}
SECTIONS = ("study", "data", "training", "objective", "search", "compare", "init", "baselines", "tracking")
# settings that fix layer shapes: a warm-started space may not search them (weights fit only their own shape)
SHAPES = ("shared_depth", "shared_width", "tower_depth", "tower_width", "expert_width")
# the settings of a single-task baseline network (``[baselines]``; else the space's fixed value, else the default)
BASELINE_KEYS = ("shared_depth", "shared_width", "tower_depth", "tower_width", "activation", "dropout", "learning_rate", "batch_size")


@dataclass(frozen=True)
class StudySettings:
    """``[study]``: name, budget (trials and/or timeout), sampler and the seed; whether (and under which
    name; None: the study's) the best model is registered as the registry's ``champion``."""

    name: str
    trials: int = 20
    timeout: float | None = None
    batch: int | str = 1  # tuning trials asked at once and trained as padded stacks (search.trial.run_batch); or STARTUP
    sampler: str = "tpe"
    seed: int = 0
    pruner: str = "none"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    register: bool = True
    registered_model: str | None = None


@dataclass(frozen=True)
class DataSettings:
    """``[data]``: a built-in data set (with ``options``) or a table path with features and tasks, and
    how rows are split: seeded (optionally stratified on a classification task) or by a split column."""

    source: str
    options: dict[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] | None = None
    tasks: tuple[dict[str, str], ...] = ()
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    split_column: str | None = None
    stratify: str | None = None

    @property
    def is_builtin(self) -> bool:
        """True when ``source`` names a registered data set rather than a file."""
        return self.source in DATASETS


@dataclass(frozen=True)
class TrainingSettings:
    """``[training]``: fixed settings of every trial."""

    epochs: int = 30
    patience: int = 5
    finetune_after: int | None = None  # with something frozen: unfreeze after this many epochs
    finetune_lr_factor: float = 0.1  # the fine-tuning phase's learning rate, relative to the first phase's


@dataclass(frozen=True)
class InitSettings:
    """``[init]``: where warm-started weights come from, each an MLflow run id or a ``.keras`` file.

    ``towers`` is one source for every task, or a table task -> source (tasks left out start fresh).
    """

    trunk: str | None = None
    towers: str | dict[str, str] = field(default_factory=dict)

    @property
    def given(self) -> bool:
        """True when any source is named."""
        return bool(self.trunk or self.towers)

    def tower_sources(self, tasks: tuple[str, ...]) -> dict[str, str]:
        """Task -> source of the towers to warm-start."""
        return {t: self.towers for t in tasks} if isinstance(self.towers, str) else dict(self.towers)


@dataclass(frozen=True)
class TrackingSettings:
    """``[tracking]``: which runs log their model (``log_models``, :mod:`search.tracking._keep`: ``all``, the
    default; ``confirmations``; ``best``, for cluster sweeps of thousands of trials). Metrics, curves and
    datasets are logged for every run whatever it says."""

    log_models: str = "all"


@dataclass(frozen=True)
class Space:
    """A validated space file."""

    path: str
    text: str
    study: StudySettings
    data: DataSettings
    training: TrainingSettings
    objective: Objective
    per_task: bool  # one objective per task (multi-objective study) instead of their mean
    params: dict[str, Param]  # every SEARCH key, plus the strategy options the file sets
    loss_weights: Param | dict[str, Param]
    init: InitSettings = field(default_factory=InitSettings)
    baselines: dict[str, Any] = field(default_factory=dict)  # ``[baselines]`` values as written
    compare: CompareSettings | None = None  # the arms, where the space compares designs
    tracking: TrackingSettings = field(default_factory=TrackingSettings)

    @property
    def arm_names(self) -> tuple[str, ...]:
        """The comparison's arm names, in order (empty when the space compares nothing)."""
        return tuple(a.name for a in self.compare.arms) if self.compare else ()

    def arm_space(self, name: str) -> Space:
        """The space one arm searches: its held settings on top of ``[search]``, comparing nothing itself (its seed
        shifted where the arm has a ``stream`` of its own)."""
        if self.compare is None:
            raise KeyError(name)
        arm = self.compare.arm(name)
        own = replace(self, params=arm.params, loss_weights=arm.loss_weights, compare=None)
        return own.with_seed(self.study.seed + STREAM_STRIDE * arm.stream) if arm.stream else own

    @classmethod
    def from_file(cls, path: str | Path) -> Space:
        """Read and validate a space file (as :func:`~search.space._file.load_space`)."""
        from search.space._file import load_space  # the parser builds Spaces: imported when called

        return load_space(path)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], where: str = "<dict>") -> Space:
        """Validate a space given as a dict with the file's sections (``{"study": {...}, "search": {...}}``).

        It is kept as TOML text, as a file's would be, so a study made from it resumes and
        fingerprints alike; relative data paths resolve from the working directory.
        """
        from search.space._file import parse_space  # the parser builds Spaces: imported when called

        try:
            text = tomli_w.dumps(dict(doc))
        except (TypeError, ValueError) as exc:
            raise SpaceError(where, "", f"not expressible as a space file: {exc}") from None
        return parse_space(text, where)

    def fingerprint(self) -> str:
        """Hash of everything that must not change when a study is resumed: all but ``[study]`` (bar the seed),
        ``[baselines]`` (which trials never read) and ``[tracking]`` (what is kept, not what is trained)."""
        doc = tomllib.loads(self.text)
        doc["study"] = {"seed": self.study.seed}
        doc.pop("baselines", None)
        doc.pop("tracking", None)
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def loss_weight_for(self, task: str) -> Param:
        """The loss-weight setting of ``task`` (1.0 where a per-task table leaves it out)."""
        if isinstance(self.loss_weights, Param):
            return replace(self.loss_weights, name=f"{LOSS_WEIGHT}.{task}")
        return self.loss_weights.get(task, Param(f"{LOSS_WEIGHT}.{task}", "fixed", value=1.0))

    def baseline_value(self, name: str) -> Any:
        """A single-task baseline's setting ``name``: ``[baselines]``, else the space's fixed value, else the default."""
        if name in self.baselines:
            return self.baselines[name]
        param = self.params[name]
        return param.value if param.is_fixed else SEARCH[name][2]

    def check_tasks(self, tasks: tuple[Task, ...]) -> None:
        """Validate the parts of the space that depend on the data's tasks."""
        arms = self.compare.arms if self.compare else ()
        names = {t.name for t in tasks}
        if isinstance(self.init.towers, dict):
            for name in self.init.towers:
                if name not in names:
                    raise SpaceError(self.path, f"init.towers.{name}", f"no task {name!r} (tasks: {', '.join(sorted(names))})")
        stratify = self.data.stratify
        if stratify is not None and not any(t.name == stratify and t.kind != "regression" for t in tasks):
            raise SpaceError(self.path, "data.stratify", f"{stratify!r} is not a binary or multiclass task "
                             f"(tasks: {', '.join(sorted(names))})")
        if isinstance(self.loss_weights, dict):
            for name in self.loss_weights:
                if name not in names:
                    raise SpaceError(self.path, f"search.{LOSS_WEIGHT}.{name}", f"no task {name!r} (tasks: {', '.join(sorted(names))})")
        for section, params in [("search", self.params), *((f"compare.arms.{a.name}", a.params) for a in arms)]:
            problem = partition_problem(params.get("groups"), tuple(t.name for t in tasks))
            if problem:
                raise SpaceError(self.path, f"{section}.groups", problem)
        if any(p["tie_outputs"].can_be(True) for p in [self.params, *(a.params for a in arms)]):
            try:
                check_tying(tasks)
            except ConfigError as exc:
                raise SpaceError(self.path, "search.tie_outputs", f"cannot be true: {exc}") from None
        try:
            self.objective.check(tasks)
        except ConfigError as exc:
            raise SpaceError(self.path, "objective", str(exc)) from None

    def with_seed(self, seed: int) -> Space:
        """This space with another seed (the CLI's ``--seed``)."""
        return replace(self, study=replace(self.study, seed=seed))
