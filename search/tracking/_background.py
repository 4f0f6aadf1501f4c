"""MLflow writes off the critical path: training goes on while epochs' metrics and trials' artifacts are written.

Each epoch's metrics, and at a trial's end its learning-curve PNG, model file and other artifacts,
cost from milliseconds to a few hundred milliseconds each: on small models as much as the training.
:class:`BackgroundWriter` runs those writes, in order, on one background thread; it keeps at most
``depth`` jobs waiting (so a slow store cannot pile up models in memory) and reports a failed write
on the main thread at the next call.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class BackgroundWriter:
    """Runs submitted jobs in order on one background thread; :meth:`flush` waits for them all."""

    def __init__(self, depth: int = 64) -> None:
        self.depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtl-mlflow")
        self._pending: list[Future[None]] = []

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job``; first wait while ``depth`` jobs are queued, and raise an earlier job's error."""
        self._settle(keep=self.depth - 1)
        self._pending.append(self._pool.submit(job))

    def flush(self) -> None:
        """Wait for every queued job; raise the first error one of them raised."""
        self._settle(keep=0)

    def close(self) -> None:
        """Wait for every queued job and stop the thread (errors raised as in :meth:`flush`)."""
        try:
            self.flush()
        finally:
            self._pool.shutdown(wait=True)

    def _settle(self, keep: int) -> None:
        while len(self._pending) > keep or (self._pending and self._pending[0].done()):
            self._pending.pop(0).result()
