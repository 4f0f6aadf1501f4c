"""Layer roles: which layer of a built model plays which part, so weights move by role, not by layer name.

The builders give their layers fixed names; this module is the one place that reads them back:

  ``trunk.<i>``         Dense layer ``i`` of the shared trunk (``shared_<i>``: ``hard``, ``grouped`` with one group)
  ``trunk.<task>.<i>``  Dense layer ``i`` of a task's private trunk (``trunk_<task>_<i>``: ``independent``,
                        a singleton group of ``grouped``; ``column_<task>_<i>``: ``cross_stitch``)
  ``trunk.<group>.<i>`` Dense layer ``i`` of the trunk of a ``grouped`` group of 2+ tasks (not all), ``<group>``
                        being its canonical form ``<task1>+<task2>`` (layer ``group_<task1>-<task2>_<i>``)
  ``tower.<task>.<i>``  Dense layer ``i`` of a task's tower (``tower_<task>_<i>``: every strategy)
  ``head.<task>``       a task's output layer (``head_<task>``; the tied ``head_tied`` serves every task)

A single-task model built by the same builders (``hard`` over one task) has the same roles.
"""

from __future__ import annotations

import re

import keras

from mtl.partition import TASK_SEP

TIED_HEAD = "head_tied"
GROUP_JOIN = "-"  # joins a group's tasks in its trunk's layer names (TensorFlow name scopes refuse TASK_SEP, '+')


def task_names(model: keras.Model) -> tuple[str, ...]:
    """The tasks of a built model: its outputs are named after them."""
    return tuple(model.output_names)


def layer_roles(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """Every role of ``model`` (see the module docstring) mapped to its layer, in layer order."""
    tasks = task_names(model)
    patterns = [(re.compile(r"shared_(\d+)"), "trunk.{}")]
    for task in tasks:
        name = re.escape(task)
        patterns += [
            (re.compile(rf"(?:trunk|column)_{name}_(\d+)"), f"trunk.{task}.{{}}"),
            (re.compile(rf"tower_{name}_(\d+)"), f"tower.{task}.{{}}"),
        ]
    any_task = "(?:" + "|".join(re.escape(task) for task in tasks) + ")"
    group_trunk = re.compile(rf"group_({any_task}(?:{re.escape(GROUP_JOIN)}{any_task})+)_(\d+)")
    roles: dict[str, keras.layers.Layer] = {}
    for layer in model.layers:
        group = group_trunk.fullmatch(layer.name)
        if group:
            roles[f"trunk.{group.group(1).replace(GROUP_JOIN, TASK_SEP)}.{group.group(2)}"] = layer
        if layer.name == TIED_HEAD:
            roles.update({f"head.{task}": layer for task in tasks})
        elif layer.name.startswith("head_") and layer.name[len("head_"):] in tasks:
            roles[f"head.{layer.name[len('head_'):]}"] = layer
        for pattern, role in patterns:
            match = pattern.fullmatch(layer.name)
            if match:
                roles[role.format(match.group(1))] = layer
    return roles


def is_head(role: str) -> bool:
    """True for a ``head.<task>`` role."""
    return role.startswith("head.")
