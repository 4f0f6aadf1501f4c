"""Keep TensorFlow's native start-up chatter off the terminal (it bypasses Python's logging)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while the block runs (Python errors still reach sys.stderr after)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_quietly() -> None:
    """Import TensorFlow and Keras once, silently, so later imports are quiet too."""
    with native_stderr_silenced():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
