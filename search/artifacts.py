"""A trial's artifacts written off the critical path: the next trial trains while the last one's are saved.

Writing the learning-curve PNG, the model file and the other artifacts costs a few hundred
milliseconds per trial, as much as a short trial's training. :class:`ArtifactWriter` does that work
(and then closes the trial's MLflow run) on one background thread, keeps at most ``depth`` trials
waiting so memory stays bounded, and reports a failure on the main thread at the next call.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class ArtifactWriter:
    """Runs submitted jobs in order on one background thread; :meth:`flush` waits for them all."""

    def __init__(self, depth: int = 2) -> None:
        self.depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtl-artifacts")
        self._pending: list[Future] = []

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
