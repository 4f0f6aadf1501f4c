"""Task partitions: which tasks share a trunk, written one canonical way.

A partition splits the tasks into groups; each group shares one trunk. Its canonical form joins a
group's tasks with ``+`` in task order and the groups with ``|``, ordered by their first task, so
``task1+task2|task3`` means task1 and task2 share a trunk and task3 has its own. The one-group
partition is ``hard`` sharing; the all-singletons one is ``independent``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mtl.errors import ConfigError

Partition = tuple[tuple[str, ...], ...]
GROUP_SEP = "|"
TASK_SEP = "+"


def parse_partition(value: str | Sequence[Sequence[str]], tasks: Sequence[str]) -> Partition:
    """The partition ``value`` (canonical string or list of task-name lists) in canonical order.

    Raises :class:`ConfigError` naming the problem when a group names an unknown task, a task appears
    twice, a task is left out, or a group is empty.
    """
    if isinstance(value, str):
        groups = [g.split(TASK_SEP) for g in value.split(GROUP_SEP)]
    elif isinstance(value, Sequence) and all(isinstance(g, Sequence) and not isinstance(g, str) for g in value):
        groups = [list(g) for g in value]
    else:
        raise ConfigError(f"groups {value!r}: expected a partition like 'task1+task2|task3' or [[\"task1\", \"task2\"], [\"task3\"]]")
    order = {name: i for i, name in enumerate(tasks)}
    seen: set[str] = set()
    for group in groups:
        if not group or any(not isinstance(t, str) or not t for t in group):
            raise ConfigError(f"groups {render(value)}: every group needs one or more task names")
        for task in group:
            if task not in order:
                raise ConfigError(f"groups {render(value)}: unknown task {task!r} (tasks: {', '.join(tasks)})")
            if task in seen:
                raise ConfigError(f"groups {render(value)}: task {task!r} appears twice")
            seen.add(task)
    missing = [t for t in tasks if t not in seen]
    if missing:
        raise ConfigError(f"groups {render(value)}: leaves out {', '.join(missing)} (every task belongs to one group)")
    ordered = [tuple(sorted(g, key=order.__getitem__)) for g in groups]
    return tuple(sorted(ordered, key=lambda g: order[g[0]]))


def render(value: str | Sequence[Sequence[str]]) -> str:
    """A partition as written by the user, for messages."""
    if isinstance(value, str):
        return repr(value)
    return repr([list(g) for g in value]) if isinstance(value, Sequence) else repr(value)


def canonical(partition: Partition) -> str:
    """The canonical string of an already ordered partition (``task1+task2|task3``)."""
    return GROUP_SEP.join(TASK_SEP.join(group) for group in partition)


def strategy_partition(strategy: str, groups: str | Sequence[Sequence[str]] | None, tasks: Sequence[str]) -> Partition | None:
    """The partition a model of ``strategy`` trains: every task in one group (``hard``), each alone
    (``independent``), ``groups`` (``grouped``); None for the strategies that do not partition the tasks."""
    if strategy == "hard":
        return (tuple(tasks),)
    if strategy == "independent":
        return tuple((t,) for t in tasks)
    if strategy == "grouped" and groups:
        return parse_partition(groups, tasks)
    return None
