"""Customized gate control and progressive layered extraction (Tang et al., RecSys 2020).

Each level holds ``shared_experts`` shared experts and ``task_experts`` experts per task. A task's
gate mixes its own experts with the shared ones; below the last level a shared gate mixes every
expert to feed the next level's shared experts. CGC is PLE with a single level.
"""

from __future__ import annotations

import keras

from mtl.models.config import ModelConfig
from mtl.models.layers import dense_stack
from mtl.models.mmoe import MMOE_OPTIONS, experts, gated_mixture, int_option
from mtl.tasks import Task

EXPERT_OPTIONS = {"expert_depth": MMOE_OPTIONS["expert_depth"], "expert_width": MMOE_OPTIONS["expert_width"]}
CGC_OPTIONS: dict[str, tuple[type, object]] = {"shared_experts": (int, 2), "task_experts": (int, 1), **EXPERT_OPTIONS}
PLE_OPTIONS: dict[str, tuple[type, object]] = {**CGC_OPTIONS, "levels": (int, 2)}


def extraction_levels(
    x: keras.KerasTensor, config: ModelConfig, tasks: tuple[Task, ...], levels: int
) -> dict[str, keras.KerasTensor]:
    """Stack ``levels`` extraction levels over ``x`` and return each task's last mixture.

    Level ``l`` names its layers ``level<l>_shared_expert_<k>_<i>``, ``level<l>_expert_<task>_<k>_<i>``,
    ``level<l>_gate_<task>``, ``level<l>_mix_<task>``, ``level<l>_shared_gate`` and ``level<l>_shared_mix``.
    """
    n_shared = int_option(config, "shared_experts", CGC_OPTIONS["shared_experts"][1], 1)
    n_own = int_option(config, "task_experts", CGC_OPTIONS["task_experts"][1], 0)
    task_inputs, shared_input = {t.name: x for t in tasks}, x
    for level in range(levels):
        shared = experts(shared_input, config, n_shared, f"level{level}_shared_expert")
        own = {t.name: experts(task_inputs[t.name], config, n_own, f"level{level}_expert_{t.name}") for t in tasks}
        mixed = {
            t.name: gated_mixture(
                task_inputs[t.name], own[t.name] + shared, f"level{level}_gate_{t.name}", f"level{level}_mix_{t.name}"
            )
            for t in tasks
        }
        if level < levels - 1:
            every = [e for t in tasks for e in own[t.name]] + shared
            shared_input = gated_mixture(shared_input, every, f"level{level}_shared_gate", f"level{level}_shared_mix")
        task_inputs = mixed
    return task_inputs


def towers(features: dict[str, keras.KerasTensor], config: ModelConfig) -> dict[str, keras.KerasTensor]:
    """The per-task towers ``tower_<task>_<i>`` over each task's mixture."""
    return {
        name: dense_stack(h, config.tower_depth, config.tower_width, config.activation, config.dropout, f"tower_{name}")
        for name, h in features.items()
    }


def cgc_body(x: keras.KerasTensor, config: ModelConfig, tasks: tuple[Task, ...]) -> dict[str, keras.KerasTensor]:
    """One extraction level (customized gate control), then per-task towers."""
    return towers(extraction_levels(x, config, tasks, 1), config)


def ple_body(x: keras.KerasTensor, config: ModelConfig, tasks: tuple[Task, ...]) -> dict[str, keras.KerasTensor]:
    """``levels`` stacked extraction levels (progressive layered extraction), then per-task towers."""
    levels = int_option(config, "levels", PLE_OPTIONS["levels"][1], 1)
    return towers(extraction_levels(x, config, tasks, levels), config)
