"""A space's data, loaded and split once with its seed."""

from __future__ import annotations

from mtl.data import Splits, load_dataset, split
from search.space import Space


def prepare_data(space: Space, development_seed: int | None = None) -> Splits:
    """Load and split the space's data with its seed, and check the space against the tasks.

    ``development_seed`` re-cuts the training and validation rows with that seed; the test rows stay.
    """
    options = dict(space.data.options)
    if not space.data.is_builtin:
        options = {"targets": space.data.tasks, "features": space.data.features, "split_column": space.data.split_column}
    data = load_dataset(space.data.source, options, seed=space.study.seed)
    space.check_tasks(data.tasks)
    return split(data, space.data.val_fraction, space.data.test_fraction, seed=space.study.seed, stratify=space.data.stratify,
                 development_seed=development_seed)
