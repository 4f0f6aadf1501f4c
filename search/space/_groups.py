"""The ``groups`` setting of the ``grouped`` strategy: which task partitions a space searches.

Written in ``[search]`` (or an arm's table) as one partition (``"task1+task2|task3"`` or
``[["task1", "task2"], ["task3"]]``), a list of partitions (strings, or such lists of lists), or
``"auto"``: the candidates the task-affinity pass derives (:mod:`search.affinity`). A space whose
strategy can be ``grouped`` and that sets no ``groups`` searches ``"auto"``. Partitions are checked
against the data's tasks when the data is loaded (:meth:`search.space.Space.check_tasks`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mtl.errors import ConfigError
from mtl.partition import GROUP_SEP, TASK_SEP, canonical, parse_partition
from search.space._params import Param

AUTO = "auto"
GROUPED = "grouped"


def groups_written(raw: Any) -> Any:
    """The setting as ``parse_param`` takes it: every partition written as its string."""
    if isinstance(raw, list) and raw and all(_is_partition_list(p) for p in raw):
        return [_joined(p) for p in raw]
    if _is_partition_list(raw):
        return _joined(raw)
    return raw


def _is_partition_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(g, list) and all(isinstance(t, str) for t in g) for g in value)


def _joined(groups: list[list[str]]) -> str:
    return GROUP_SEP.join(TASK_SEP.join(g) for g in groups)


def groups_check(value: str) -> str | None:
    """A problem with one written value (before the tasks are known), or None."""
    if value == AUTO:
        return None
    if not value or any(not task for group in value.split(GROUP_SEP) for task in group.split(TASK_SEP)):
        return f'not a partition: write "{AUTO}", "task1+task2|task3" or [["task1", "task2"], ["task3"]]'
    return None


def default_groups(params: dict[str, Param], arm_strategies: Iterable[str]) -> Param | None:
    """``groups = "auto"`` where the strategy can be ``grouped`` (or an arm's is) and no ``groups`` is set."""
    if "groups" in params or not (params["strategy"].can_be(GROUPED) or GROUPED in arm_strategies):
        return None
    return Param("groups", "fixed", value=AUTO)


def partition_problem(param: Param | None, tasks: tuple[str, ...]) -> str | None:
    """The first written partition of ``param`` that does not partition ``tasks``, as its error message."""
    for value in param.values() if param is not None else ():
        if value != AUTO:
            try:
                parse_partition(value, tasks)
            except ConfigError as exc:
                return str(exc)
    return None


def wants_affinity(params: Iterable[dict[str, Param]]) -> bool:
    """True where some ``groups`` setting includes ``"auto"``."""
    return any("groups" in p and p["groups"].can_be(AUTO) for p in params)


def with_candidates(param: Param, candidates: list[str], tasks: tuple[str, ...]) -> Param:
    """``param`` with ``"auto"`` replaced by ``candidates``, every partition in canonical form, no repeats."""
    values: list[str] = []
    for value in param.values():
        for partition in candidates if value == AUTO else [canonical(parse_partition(value, tasks))]:
            if partition not in values:
                values.append(partition)
    if len(values) == 1:
        return Param(param.name, "fixed", value=values[0])
    return Param(param.name, "choice", choices=tuple(values))
