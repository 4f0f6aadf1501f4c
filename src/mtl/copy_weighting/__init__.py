"""Loss weightings for K stacked copies: every copy keeps its own weights and state, as its lone training would.

A stack trains each task's loss per copy, ``(T, K)`` (:mod:`mtl.copy_trainer`). The schemes here
turn those into one training loss while keeping one state per copy, with the formulas of the lone
schemes in :mod:`mtl.weighting`, so copy k weighs its tasks exactly as a lone training with its
settings would:

- ``fixed``: each copy's constants c_t (its ``loss_weights``);
- ``uncertainty``: a trainable log-variance per copy and task (Kendall et al.), trained by the
  stack's optimizer with each copy's learning rate;
- ``dwa``: each copy's weights set between epochs from its own last two epochs' training losses;
- ``rlw``: each copy's weights drawn afresh every step from its own seed generator, seeded from
  the copy's training seed as a lone training seeds its own (:func:`mtl.weighting.draw_seed`);
- ``famo``: each copy's logits moved after every step by its own Adam, from the fall of its own
  losses on the batch (the stack computes the batch's losses again after the step, as alone);
- ``gradnorm``: each copy's weights moved after every step from its own tasks' gradient norms on
  its own last shared kernel (its slice of the stacked kernel; in a padded stack copies of
  different depths read different stacked kernels)
  (:mod:`mtl.copy_weighting.loss_level`);
- the gradient-level methods (``pcgrad``, ``mgda``, ``cagrad``, ``imtl_g``, ``aligned_mtl``,
  ``upgrad``): each copy's Gram matrix of task gradients on its own shared variables, combined by
  the copy's own instance of the lone scheme (PCGrad's draws from the copy's seed), into the copy's
  own update direction (:class:`CopyGradientAggregator`); ``mgda_ub`` takes each copy's Gram
  matrix on its own shared representation, its slice of that stacked layer's output
  (:mod:`mtl.copy_weighting.gradient_level`).

So every weighting stacks. :class:`CopyWeightLogger` logs what a lone training's
:class:`~mtl.weighting.WeightLogger` logs, per copy (:mod:`mtl.copy_weighting.base`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mtl.copy_weighting.base import CopyName, CopyWeighting, CopyWeightLogger
from mtl.copy_weighting.gradient_level import CopyGradientAggregator, CopyMgdaUbWeighting, copy_aggregator
from mtl.copy_weighting.loss_level import (
    CopyDwaWeighting,
    CopyFamoWeighting,
    CopyGradNormWeighting,
    CopyRlwWeighting,
    CopyUncertaintyWeighting,
)
from mtl.tasks import Task

AGGREGATED = ("pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl", "upgrad")  # the gradient-level methods that stack
COPY_WEIGHTINGS: dict[str, type[CopyWeighting]] = {
    **{c.SCHEME: c for c in (CopyWeighting, CopyUncertaintyWeighting, CopyDwaWeighting, CopyRlwWeighting, CopyFamoWeighting,
                             CopyGradNormWeighting, CopyMgdaUbWeighting)},
    **{name: copy_aggregator(name) for name in AGGREGATED}}


def make_copy_weighting(name: str, tasks: tuple[Task, ...], constants: Sequence[Mapping[str, float]],
                        options: Mapping[str, float], seeds: Sequence[int]) -> CopyWeighting:
    """The stacked form of the weighting ``name`` for one copy per entry of ``constants`` (each copy's c_t) and of
    ``seeds`` (each copy's training seed)."""
    return COPY_WEIGHTINGS[name](tasks, constants, options, seeds)


__all__ = [
    "COPY_WEIGHTINGS",
    "CopyGradientAggregator",
    "CopyName",
    "CopyWeightLogger",
    "CopyWeighting",
    "make_copy_weighting",
]
