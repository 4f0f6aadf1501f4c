"""Many processes, one study: worker heartbeats, the study-wide budget, storage retries, ``--jobs`` and scheduler templates."""

from __future__ import annotations

from search.cluster._budget import COUNTED, OCCUPYING, BudgetReached, StudyBudget, check_budget
from search.cluster._deploy import KINDS, Deployment, render
from search.cluster._jobs import set_thread_budget, start_workers, threads_per_job, wait_for
from search.cluster._reconnect import run_with_retries
from search.cluster._resilient import ResilientStorage, resilient_storage
from search.cluster._workers import has_heartbeats, make_storage, worker_index

__all__ = [
    "ResilientStorage",
    "resilient_storage",
    "BudgetReached",
    "COUNTED",
    "OCCUPYING",
    "Deployment",
    "KINDS",
    "StudyBudget",
    "check_budget",
    "has_heartbeats",
    "make_storage",
    "render",
    "run_with_retries",
    "set_thread_budget",
    "start_workers",
    "threads_per_job",
    "wait_for",
    "worker_index",
]
