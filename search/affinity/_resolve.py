"""``groups = "auto"`` made concrete: the affinity pass's candidates become the partitions a sweep searches.

The first process to open a sweep runs the pass (a run nested under the sweep's parent run) and
stores its candidates in the study (user attribute ``affinity_candidates``); every later process
(resumes, ``--jobs`` workers, cluster workers, reports) reads them from there, so all of them search
the same choices and the pass runs once per study. Written partitions are put in canonical form.
The candidates' ranking keys are stored beside them (``affinity_scores``: higher first, as the pass
ranked them, :mod:`mtl.affinity.uncertainty`), and every study that searches
them gets one trial per candidate enqueued before its sampler draws, best ranked first
(:func:`enqueue_candidates`), so a budget of at least the number of candidates tries each of them.
In a comparison, a ``grouped`` arm's candidates leave out the one-group partition where an arm holds
``hard`` and the all-singletons one where an arm holds ``independent``: those arms tune them already,
and the ``grouped`` arm spends its budget on the groupings no other arm tries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import optuna

from mtl.data import Splits
from mtl.partition import canonical, strategy_partition
from search.affinity._pass import CANDIDATES_ATTR, SCORES_ATTR, run_affinity
from search.space import Param, Space, wants_affinity, with_candidates
from search.tracking import Tracker

GROUPED = "grouped"


def resolve_groups(space: Space, splits: Splits, study: optuna.Study, tracker: Tracker, parent_run_id: str | None,
                   printer: Callable[[str], None] = print) -> Space:
    """``space`` with every ``groups`` setting concrete (``"auto"`` replaced by the study's candidates)."""
    arms = space.compare.arms if space.compare else ()
    every = [space.params, *(arm.params for arm in arms)]
    if not any("groups" in params for params in every):
        return space
    candidates: list[str] = []
    if wants_affinity(every):
        stored = study.user_attrs.get(CANDIDATES_ATTR)
        if stored is None:
            found = run_affinity(space, splits, tracker, study.study_name, parent_run_id, printer)
            study.set_user_attr(SCORES_ATTR, found.scores)
            study.set_user_attr(CANDIDATES_ATTR, found.candidates)
            stored = found.candidates
        candidates = list(stored)
    tasks = tuple(t.name for t in splits.tasks)
    held = [arm.params["strategy"].value for arm in arms if arm.params["strategy"].is_fixed]  # grouped: None without groups
    covered = {canonical(p) for p in (strategy_partition(s, None, tasks) for s in held) if p is not None}

    def concrete(params: dict[str, Param], in_arm: bool) -> dict[str, Param]:
        if "groups" not in params:
            return params
        offered = [c for c in candidates if not (in_arm and c in covered)] or candidates
        return {**params, "groups": with_candidates(params["groups"], offered, tasks)}

    compare = None if space.compare is None else replace(
        space.compare, arms=tuple(replace(arm, params=concrete(arm.params, True)) for arm in arms))
    return replace(space, params=concrete(space.params, False), compare=compare)


def ranked_candidates(study: optuna.Study) -> list[str]:
    """The study's affinity candidates, best score first (in stored order where it stores no scores)."""
    candidates = list(study.user_attrs.get(CANDIDATES_ATTR) or [])
    scores = study.user_attrs.get(SCORES_ATTR)
    if scores is None or len(scores) != len(candidates):
        return candidates
    return [candidates[i] for i in sorted(range(len(candidates)), key=lambda i: -float(scores[i]))]


def enqueue_candidates(study: optuna.Study, space: Space, ranked: list[str]) -> None:
    """Enqueue in ``study`` one trial for each of ``ranked``'s partitions that ``space``'s ``groups`` offers, in that order.

    Each trial fixes ``groups`` (and ``strategy = "grouped"`` where the strategy is searched); the sampler
    draws the rest. Optuna's ``skip_if_exists`` leaves out a partition enqueued before, whatever that
    trial's state, so resumes, ``--jobs`` and cluster workers enqueue each one once per study (the first
    process to open a sweep enqueues them before any other starts; Optuna warns that two processes
    opening a new study at the same instant could both enqueue).
    """
    groups, strategy = space.params.get("groups"), space.params["strategy"]
    if groups is None or groups.kind != "choice" or not strategy.can_be(GROUPED):
        return
    fixed = {} if strategy.is_fixed else {"strategy": GROUPED}
    for partition in ranked:
        if partition in groups.choices:
            study.enqueue_trial({**fixed, "groups": partition}, skip_if_exists=True)
