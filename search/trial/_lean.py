"""Process settings that make a long run of small trials cheap, for the length of a sweep.

- **Garbage collection.** Every trial ends with ``keras.backend.clear_session()``, whose full
  collection walks every object in the process (TensorFlow, Keras, MLflow, SQLAlchemy and Optuna
  included): about a quarter of a second per trial on this project's machine. Everything alive when
  the sweep starts is collected once, then moved into Python's permanent generation
  (``gc.freeze``), so each trial's collection walks only what was made since.
- **Graph optimisation.** TensorFlow's Grappler rewrites every new function graph before its first
  run (each trial traces new ones); for the small networks searched here that costs more than it
  saves (about 9% of a 25-epoch trial). ``MTL_GRAPPLER=1`` keeps it on (e.g. for large models).

Both are restored when the sweep ends, so a notebook that runs a sweep keeps its own settings.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

import tensorflow as tf


@contextmanager
def lean_process() -> Iterator[None]:
    """Freeze the heap out of garbage collections and switch Grappler off until the block ends."""
    options = tf.config.optimizer.get_experimental_options()
    if os.environ.get("MTL_GRAPPLER") != "1":
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False, **options})
