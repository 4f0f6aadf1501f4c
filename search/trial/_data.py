"""A space's data, loaded and split once with its seed."""

from __future__ import annotations

from mtl.data import Splits, load_dataset, split
from search.space import Space


def prepare_data(space: Space) -> Splits:
    """Load and split the space's data with its seed, and check the space against the tasks."""
    options = dict(space.data.options)
    if not space.data.is_builtin:
        options = {"targets": space.data.tasks, "features": space.data.features, "split_column": space.data.split_column}
    data = load_dataset(space.data.source, options, seed=space.study.seed)
    space.check_tasks(data.tasks)
    return split(data, space.data.val_fraction, space.data.test_fraction, seed=space.study.seed, stratify=space.data.stratify)
