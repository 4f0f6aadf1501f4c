"""Which runs log their model: ``[tracking] log_models``.

Every run keeps its metrics, learning curves, history and datasets whatever the setting; only the
Logged Model (the full saved network, most of a run's disk) is left out.

  ``all``            every run logs its model (the default: a laptop comparison's 68 models take a few MB each).
  ``confirmations``  a tuning trial logs its model only while it leads its tuning loop (its arm's best
                     so far in this process), so every arm's best trial, the champion among them, has
                     one; confirmation seeds and report repeats log theirs.
  ``best``           tuning trials as ``confirmations``; confirmation seeds and repeats log none. For a
                     cluster sweep of thousands of trials: each worker process keeps about ln(its trials)
                     models per arm.
Runs of other kinds (single-task baselines, which ``[init]`` warm-starts from) always log theirs.
"""

from __future__ import annotations

from collections.abc import Callable

LOG_MODELS = ("all", "confirmations", "best")
TRIAL, RETRAININGS = "trial", ("confirmation", "repeat")  # the run kinds (tag ``kind``) the setting thins out


class ModelKeeping:
    """Decides, run by run, whether a run logs its model under ``policy`` (one of :data:`LOG_MODELS`).

    The tracker tells it each run's kind as the run starts (:meth:`started`); each tuning loop lends
    it the run id of its best trial so far (:meth:`follow`). A trial is asked about once its training
    ended and its result was offered to its loop, so the loop's final best always logs its model.
    """

    def __init__(self, policy: str = "all") -> None:
        if policy not in LOG_MODELS:
            raise ValueError(f"log_models {policy!r}: expected one of {', '.join(LOG_MODELS)}")
        self.policy = policy
        self._kinds: dict[str, str] = {}
        self._leaders: list[Callable[[], str | None]] = []

    def started(self, run_id: str, kind: str | None) -> None:
        """Run ``run_id`` of ``kind`` (its ``kind`` tag; None without one) has started."""
        if kind is not None and self.policy != "all":
            self._kinds[run_id] = kind

    def follow(self, leader: Callable[[], str | None]) -> None:
        """A tuning loop's best trial so far: ``leader()`` is its run id (None before one completed)."""
        self._leaders.append(leader)

    def keeps(self, run_id: str) -> bool:
        """Whether run ``run_id`` logs its model (asked once, as its artifacts are written)."""
        kind = self._kinds.pop(run_id, None)
        if self.policy == "all":
            return True
        if kind == TRIAL:
            return any(leader() == run_id for leader in self._leaders)
        if kind in RETRAININGS:
            return self.policy == "confirmations"
        return True
