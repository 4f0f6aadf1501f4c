"""Who owns a RUNNING run, and when its owner is provably dead: the rule that ends orphaned runs.

Every run :meth:`search.tracking.Tracker.start_trial` creates (trials, confirmations, baselines, the
affinity pass, report repeats) carries the tag ``owner``: ``host:pid:token``, the token naming one
process for good (on Linux the boot id and the process's start time in clock ticks, so a recycled
pid is told apart; elsewhere empty). On a store other hosts may share (a tracking server, a
database server; not SQLite or a local folder) the run also carries ``heartbeat``, seconds since the
epoch, refreshed every ``MTL_RUN_HEARTBEAT_SECONDS`` (60) by one daemon thread per process while
the run is open.

A RUNNING run is **orphaned** when its owner is provably dead, mirroring the trials' heartbeat
rule (:mod:`search.cluster`): on this host, when its pid is not alive or is alive as another process
(a different token); on another host, when its heartbeat is older than ``MTL_RUN_STALE_SECONDS``
(600: ten missed beats, so a tracking server's outage of a few minutes kills nothing). A run with
no ``owner`` tag (a sweep's parent run, runs written before the tag existed), this process's own
runs, and another host's run without a heartbeat are never orphaned.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from mlflow.tracking import MlflowClient

from search.tracking._schema import HEARTBEAT_TAG, OWNER_TAG

RUN_HEARTBEAT_SECONDS = float(os.environ.get("MTL_RUN_HEARTBEAT_SECONDS", "60"))
RUN_STALE_SECONDS = float(os.environ.get("MTL_RUN_STALE_SECONDS", "600"))


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""


_PROC = Path("/proc/self/stat").is_file()


def process_token(pid: int) -> str | None:
    """The token of live process ``pid`` (boot id and start time in clock ticks); "" where there is no
    /proc to read it from and the pid is alive; None where the process is dead (or a zombie)."""
    if not _PROC:
        return _alive(pid)
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _alive(pid)
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3, starttime field 22
    if fields[0] in ("Z", "X"):
        return None
    return f"{_boot_id()}-{fields[19]}"


def _alive(pid: int) -> str | None:
    """Without /proc: "" if ``pid`` exists (signal 0 reaches it, or it belongs to another user), else None."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return ""


_mine: dict[int, str] = {}  # pid -> this process's owner tag (a forked child computes its own)


def owner() -> str:
    """This process's ``owner`` tag: ``host:pid:token``."""
    pid = os.getpid()
    if pid not in _mine:
        _mine[pid] = f"{socket.gethostname()}:{pid}:{process_token(pid) or ''}"
    return _mine[pid]


def orphaned(tags: Mapping[str, str], now: float | None = None, stale_after: float = RUN_STALE_SECONDS) -> str | None:
    """Why the RUNNING run with ``tags`` is orphaned (its owner provably dead), or None if it may be alive."""
    tag = tags.get(OWNER_TAG)
    if not tag or tag == owner():
        return None
    host, _, rest = tag.partition(":")
    pid_text, _, token = rest.partition(":")
    if host == socket.gethostname() and pid_text.isdigit():
        now_token = process_token(int(pid_text))
        if now_token is None:
            return f"its process {host}:{pid_text} is dead"
        if token and now_token and now_token != token:
            return f"its process {host}:{pid_text} is dead (the pid now names another process)"
        return None
    beat = tags.get(HEARTBEAT_TAG, "")
    try:
        silent = (time.time() if now is None else now) - float(beat)
    except ValueError:
        return None
    return f"its process {host}:{pid_text} sent no heartbeat for {silent:.0f} s" if silent > stale_after else None


def shared_store(tracking_uri: str) -> bool:
    """True for tracking stores that processes on other hosts may write to (everything but SQLite and local folders)."""
    return "://" in tracking_uri and not tracking_uri.startswith(("sqlite:", "file:"))


class Heartbeats:
    """One daemon thread per process that refreshes the ``heartbeat`` tag of the runs it holds open.

    A failed beat (the store unreachable) is tried again at the next interval; the bound on silence
    (``MTL_RUN_STALE_SECONDS``) is ten intervals.
    """

    def __init__(self, interval: float = RUN_HEARTBEAT_SECONDS) -> None:
        self.interval = interval
        self._runs: dict[str, MlflowClient] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def hold(self, client: MlflowClient, run_id: str) -> None:
        """Beat for ``run_id`` until :meth:`release`; start the thread if this process has none."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child inherits the dict but not the thread
                self._runs, self._pid, self._thread = {}, os.getpid(), None
            self._runs[run_id] = client
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="mtl-run-heartbeat", daemon=True)
                self._thread.start()

    def release(self, run_id: str) -> None:
        """Stop beating for ``run_id`` (nothing if it was not held)."""
        with self._lock:
            self._runs.pop(run_id, None)

    def _beat(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                held = list(self._runs.items())
            for run_id, client in held:
                try:
                    client.set_tag(run_id, HEARTBEAT_TAG, str(int(time.time())))
                except Exception:  # any failure: beat again next interval; the thread must not die
                    continue


HEARTBEATS = Heartbeats()
