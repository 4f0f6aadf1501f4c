"""A comparison's arms: named designs, each a strategy with some settings held, the rest searched.

A space compares when it has a ``[compare]`` table, or when ``[search]`` lists several strategies or
weightings (then each strategy x weighting is an arm), unless ``[compare] arms = "none"``, which searches
them as hyperparameters of one study (the best trial wins; there is no verdict). ``[compare.arms.<name>]`` tables hold
settings fixed (or give them their own ranges) on top of ``[search]``; an arm takes ``[search]``'s
strategy and weighting options only where its strategy or weighting uses them. The reference arm is the arm named ``independent``,
else the first arm whose strategy is ``independent``, else the first arm, unless ``reference`` names another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from search.errors import SpaceError
from search.space._params import Param, parse_param

ARM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # MLflow metric names take these
RESERVED_ARM = "single-task"  # the comparison's pseudo-arm of the study's single-task baselines
STREAM_STRIDE = 100_000  # an arm with stream = s trains and samples with seeds shifted by s times this
COMPARE_KEYS = ("arms", "reference", "seeds", "resplit", "alpha", "racing", "fuse", "replicates")
DEFAULT_REFERENCE = "independent"
NO_ARMS = "none"  # ``arms = "none"``: listed strategies and weightings are searched in one study, as hyperparameters


@dataclass(frozen=True)
class Arm:
    """One arm: its ``name``, the settings it holds as written (``held``), and its parsed search settings."""

    name: str
    held: dict[str, Any]
    params: dict[str, Param]
    loss_weights: Param | dict[str, Param]
    stream: int = 0  # a calibration aid: the arm's own random streams (seeds shifted by STREAM_STRIDE * stream)
    planted: float = 0.0  # a calibration aid: the comparison reads the arm's test scores this fraction worse than logged


@dataclass(frozen=True)
class CompareSettings:
    """``[compare]``: the arms, the reference arm, confirmation ``seeds`` (the same for every arm),
    whether each seed also re-splits the data, the family-wise error rate ``alpha``, whether
    confirmation races (drops an arm already clearly worse than the leader before its last seed),
    whether an arm's seeds of one round train side by side as one model (``fuse``), and how many
    ``replicates`` the comparison runs (each re-cuts the rows and re-seeds the tuning; the verdict is
    about the designs from 2 on)."""

    arms: tuple[Arm, ...]
    reference: str
    seeds: int = 5
    resplit: bool = False
    alpha: float = 0.05
    racing: bool = True
    fuse: bool = True
    replicates: int = 1

    def arm(self, name: str) -> Arm:
        """The arm called ``name``."""
        return next(a for a in self.arms if a.name == name)


ParseSearch = Callable[[str, dict[str, Any]], tuple[dict[str, Param], Param | dict[str, Param]]]


def held_values(table: Any, setting: str) -> frozenset[str]:
    """The values of ``setting`` (``strategy``, ``weighting``) that ``[compare.arms.*]`` tables name (as written;
    checked when the arms are parsed)."""
    arms = table.get("arms") if isinstance(table, dict) else None
    if not isinstance(arms, dict):
        return frozenset()
    named = [arm.get(setting) for arm in arms.values() if isinstance(arm, dict)]
    return frozenset(s for value in named for s in (value if isinstance(value, list) else [value]) if isinstance(s, str))


def implicit_arms(params: Mapping[str, Param]) -> list[tuple[str, dict[str, Any]]]:
    """Arms from a ``[search]`` that lists several strategies or weightings: one per combination."""
    strategies, weightings = params["strategy"], params["weighting"]
    if strategies.is_fixed and weightings.is_fixed:
        return []
    arms = []
    for strategy in strategies.values():
        for weighting in weightings.values():
            if weightings.is_fixed:
                name = strategy
            elif strategies.is_fixed:
                name = weighting
            else:
                name = f"{strategy}-{weighting}"
            arms.append((name, {"strategy": strategy, "weighting": weighting}))
    return arms


def parse_compare(path: str, table: dict[str, Any] | None, search_table: dict[str, Any], params: Mapping[str, Param],
                  options: Mapping[str, tuple[str, tuple[str, ...]]], parse_search: ParseSearch) -> CompareSettings | None:
    """``[compare]`` (``table``; None when absent) into settings, or None when the space compares nothing.

    ``options`` maps each strategy or weighting option to the setting it belongs to (``strategy``,
    ``weighting``) and the values of that setting that use it; ``parse_search(section, table)``
    parses a ``[search]``-like table (errors name ``section``).
    """
    if table is not None and not isinstance(table, dict):
        raise SpaceError(path, "compare", "must be a table")
    table = table or {}
    for key in table:
        if key not in COMPARE_KEYS:
            raise SpaceError(path, f"compare.{key}", f"unknown key (known: {', '.join(COMPARE_KEYS)})")
    raw_arms = table.get("arms")
    if raw_arms == NO_ARMS:
        extra = sorted(set(table) - {"arms"})
        if extra:
            raise SpaceError(path, f"compare.{extra[0]}", f'means nothing with arms = "{NO_ARMS}" (one study, no verdict)')
        return None
    if raw_arms is None:
        written = implicit_arms(params)
    elif not isinstance(raw_arms, dict) or not all(isinstance(v, dict) for v in raw_arms.values()):
        raise SpaceError(path, "compare.arms", f'must be tables [compare.arms.<name>] of settings to hold, or "{NO_ARMS}"')
    else:
        written = list(raw_arms.items())
    if not written:
        if table:
            raise SpaceError(path, "compare", "nothing to compare: add [compare.arms.<name>] tables, or list several "
                                              "strategies or weightings in [search]")
        return None
    if len(written) < 2:
        raise SpaceError(path, "compare.arms", f"a comparison needs at least two arms, got {len(written)}")
    arms = tuple(_arm(path, name, held, search_table, options, parse_search) for name, held in written)
    names = [a.name for a in arms]
    independent = [a.name for a in arms if a.params["strategy"].is_fixed and a.params["strategy"].value == DEFAULT_REFERENCE]
    reference = table.get("reference", DEFAULT_REFERENCE if DEFAULT_REFERENCE in names else (independent or names)[0])
    if reference not in names:
        raise SpaceError(path, "compare.reference", f"{reference!r} is not an arm (arms: {', '.join(names)})")
    seeds = parse_param(table.get("seeds", 5), "seeds", int, path, "compare.seeds", lambda v: None if v >= 2 else "must be >= 2")
    resplit = parse_param(table.get("resplit", False), "resplit", bool, path, "compare.resplit")
    alpha = parse_param(table.get("alpha", 0.05), "alpha", float, path, "compare.alpha",
                        lambda v: None if 0 < v < 1 else "must lie in (0, 1)")
    racing = parse_param(table.get("racing", True), "racing", bool, path, "compare.racing")
    fuse = parse_param(table.get("fuse", True), "fuse", bool, path, "compare.fuse")
    replicates = parse_param(table.get("replicates", 1), "replicates", int, path, "compare.replicates",
                             lambda v: None if v >= 1 else "must be >= 1")
    for name, param in (("seeds", seeds), ("resplit", resplit), ("alpha", alpha), ("racing", racing), ("fuse", fuse),
                        ("replicates", replicates)):
        if not param.is_fixed:
            raise SpaceError(path, f"compare.{name}", "must be one value, not a list or range")
    if replicates.value > 1 and resplit.value:
        raise SpaceError(path, "compare.resplit", "replicates re-cut every split already; resplit = true goes with replicates = 1")
    return CompareSettings(arms, reference, seeds.value, resplit.value, alpha.value, racing.value, fuse.value, replicates.value)


def _arm(path: str, name: str, held: dict[str, Any], search_table: dict[str, Any],
         options: Mapping[str, tuple[str, tuple[str, ...]]], parse_search: ParseSearch) -> Arm:
    """One arm: ``[search]`` with ``held`` on top; ``[search]``'s options for other strategies and weightings are dropped."""
    if not ARM_NAME.match(name):
        raise SpaceError(path, f"compare.arms.{name}", "an arm's name may use letters, digits and _ . - only")
    if name == RESERVED_ARM:
        raise SpaceError(path, f"compare.arms.{name}", f"{RESERVED_ARM!r} is reserved for the single-task baselines")
    section = f"compare.arms.{name}"
    held = dict(held)
    stream = parse_param(held.pop("stream", 0), "stream", int, path, f"{section}.stream", lambda v: None if v >= 0 else "must be >= 0")
    planted = parse_param(held.pop("planted", 0.0), "planted", float, path, f"{section}.planted",
                          lambda v: None if 0 <= v < 1 else "must be >= 0 and < 1")
    for key, param in (("stream", stream), ("planted", planted)):
        if not param.is_fixed:
            raise SpaceError(path, f"{section}.{key}", "must be one value, not a list or range")
    settings = {setting: parse_param(held.get(setting, search_table.get(setting, default)), setting, str, path,
                                     f"{section}.{setting}") for setting, default in (("strategy", "hard"), ("weighting", "fixed"))}
    shared = {key: value for key, value in search_table.items()
              if key not in options or any(settings[options[key][0]].can_be(user) for user in options[key][1])}
    params, loss_weights = parse_search(section, {**shared, **held})
    return Arm(name, dict(held), params, loss_weights, stream.value, planted.value)
