"""mtl-search: how much of a multi-task Keras network should its tasks share, and which design wins?

The Python API (the CLI is ``python -m search``)::

    import search
    space = search.Space.from_file("spaces/default.toml")      # or search.Space.from_dict({...})
    result = search.run(space, study="nb")                      # data=df: a pandas DataFrame in memory
    result.verdict                                              # a comparison's answer, per task
    result.trials_dataframe(); result.best; result.load_model()
    search.load("nb")                                           # a stored sweep, read back
    search.task_affinity(space).candidates                      # which tasks should share: TAG's partitions

Everything logs to MLflow and Optuna exactly as the CLI does; bad input raises :class:`SpaceError`,
:class:`StorageError` or :class:`DataError` with the CLI's one-line message. The names are
imported on first use, so ``python -m search`` starts without loading TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtl.errors import DataError
    from search.api import Result, load, run, task_affinity
    from search.compare import Verdict
    from search.errors import SpaceError, StorageError
    from search.space import Space

_HOMES = {"Space": "search.space", "run": "search.api", "load": "search.api", "task_affinity": "search.api",
          "Result": "search.api", "Verdict": "search.compare", "SpaceError": "search.errors", "StorageError": "search.errors",
          "DataError": "mtl.errors"}

__all__ = ["DataError", "Result", "Space", "SpaceError", "StorageError", "Verdict", "load", "run", "task_affinity"]


def __getattr__(name: str) -> Any:
    """Import a public name from its home module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
