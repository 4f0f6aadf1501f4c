"""A space's data, loaded and split once with its seed."""

from __future__ import annotations

import pandas as pd

from mtl.data import Splits, load_dataset, split
from search.errors import SpaceError
from search.space import Space


def prepare_data(space: Space, development_seed: int | None = None, frame: pd.DataFrame | None = None,
                 split_seed: int | None = None) -> Splits:
    """Load and split the space's data with its seed, and check the space against the tasks.

    ``development_seed`` re-cuts the training and validation rows with that seed; the test rows stay.
    ``split_seed`` cuts all three splits with that seed instead of the space's (a replicate's outer split).
    ``frame`` is the table itself, in memory, in place of the file ``[data] source`` names.
    """
    if frame is not None and space.data.is_builtin:
        raise SpaceError(space.path, "data.source", f"{space.data.source!r} is a built-in data set; a data frame needs "
                                                    "[[data.tasks]] naming its target columns")
    options = dict(space.data.options)
    if not space.data.is_builtin:
        options = {"targets": space.data.tasks, "features": space.data.features, "split_column": space.data.split_column}
    data = load_dataset(space.data.source, options, seed=space.study.seed, frame=frame)
    space.check_tasks(data.tasks)
    seed = space.study.seed if split_seed is None else split_seed
    return split(data, space.data.val_fraction, space.data.test_fraction, seed=seed, stratify=space.data.stratify,
                 development_seed=development_seed)
