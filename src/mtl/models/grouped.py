"""Grouped sharing: a partition of the tasks, one Dense trunk per group, then one tower per task.

``options["groups"]`` is the partition (see :mod:`mtl.partition`: ``"task1+task2|task3"`` or
``[["task1", "task2"], ["task3"]]``). Every group's trunk is ``shared_depth`` x ``shared_width``, so
the two ends of the range are the existing strategies, layer names included: the one-group
partition is ``hard`` (trunk ``shared_<i>``) and the all-singletons one is ``independent`` (trunks
``trunk_<task>_<i>``). A group of two or more tasks, but not all, has trunk
``group_<task1>-<task2>_<i>``: its canonical form with ``-`` for ``+``, which TensorFlow refuses in
the name scopes Keras makes from layer names. Layer roles (:mod:`mtl.models.roles`) read all three back.
"""

from __future__ import annotations

import keras

from mtl.errors import ConfigError
from mtl.models.config import ModelConfig
from mtl.models.layers import dense_stack
from mtl.models.roles import GROUP_JOIN
from mtl.partition import Partition, parse_partition
from mtl.tasks import Task

GROUPED_OPTIONS: dict[str, tuple[type, object]] = {"groups": (str, "")}


def partition_of(config: ModelConfig, tasks: tuple[Task, ...]) -> Partition:
    """The canonical partition in ``config.options["groups"]``; :class:`ConfigError` if absent or invalid."""
    value = config.options.get("groups", GROUPED_OPTIONS["groups"][1])
    if not value:
        raise ConfigError("grouped: options.groups is required (a partition of the tasks such as 'task1+task2|task3')")
    try:
        return parse_partition(value, [t.name for t in tasks])
    except ConfigError as exc:
        raise ConfigError(f"grouped: {exc}") from None


def trunk_prefix(group: tuple[str, ...], partition: Partition) -> str:
    """The layer-name prefix of ``group``'s trunk: ``shared`` (one group), ``trunk_<task>`` (a singleton), else ``group_<a>-<b>``."""
    if len(partition) == 1:
        return "shared"
    if len(group) == 1:
        return f"trunk_{group[0]}"
    return f"group_{GROUP_JOIN.join(group)}"


def grouped_body(x: keras.KerasTensor, config: ModelConfig, tasks: tuple[Task, ...]) -> dict[str, keras.KerasTensor]:
    """Per group of ``options["groups"]``, a trunk shaped like hard's shared one, then a tower per task."""
    partition = partition_of(config, tasks)
    features = {}
    for group in partition:
        trunk = dense_stack(x, config.shared_depth, config.shared_width, config.activation, config.dropout, trunk_prefix(group, partition))
        for name in group:
            features[name] = dense_stack(
                trunk, config.tower_depth, config.tower_width, config.activation, config.dropout, f"tower_{name}"
            )
    return {t.name: features[t.name] for t in tasks}
