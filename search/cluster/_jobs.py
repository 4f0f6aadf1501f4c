"""``run --jobs N``: N processes share one study, each training one trial at a time.

Processes rather than threads: a trial is a small Keras model whose step time is dominated by
Python and TensorFlow dispatch, which threads would serialise. Worker 0 is this process; workers
1..N-1 are ``python -m search run ... --worker i`` children on the same storage, each with
``cores / N`` TensorFlow threads and its own sampler seed. The study's budget holds across them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

TF_THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def threads_per_job(jobs: int) -> int:
    """TensorFlow intra-op threads for each of ``jobs`` processes on this machine."""
    return max(1, (os.cpu_count() or 1) // jobs)


def set_thread_budget(jobs: int) -> None:
    """Size this process's TensorFlow thread pools for ``jobs`` concurrent processes (before TF starts)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads_per_job(jobs))
    tf.config.threading.set_inter_op_parallelism_threads(1)


def start_workers(jobs: int, run_args: Sequence[str]) -> list[subprocess.Popen[bytes]]:
    """Start workers 1..jobs-1 running ``python -m search run <run_args> --worker i``."""
    env = {**os.environ, TF_THREAD_VARIABLES[0]: str(threads_per_job(jobs)), TF_THREAD_VARIABLES[1]: "1"}
    return [subprocess.Popen([sys.executable, "-m", "search", "run", *run_args, "--worker", str(i)], env=env)
            for i in range(1, jobs)]


def wait_for(workers: list[subprocess.Popen[bytes]], interrupted: bool = False) -> list[int]:
    """Wait for every worker (interrupting them first if asked); their exit codes."""
    for worker in workers:
        if interrupted and worker.poll() is None:
            worker.send_signal(signal.SIGINT)
    return [worker.wait() for worker in workers]
