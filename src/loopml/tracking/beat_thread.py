"""One daemon thread per process marks the runs of every client alive, and sends again what
dead processes left in their spools when a client asks.

``loopml.start_run()`` without a client opens (and closes) a :class:`~loopml.tracking.Client`
for every run; a thread per client, started and joined around a run that lives milliseconds,
cost more than the run's own requests. This thread is started on the first watched run and
lives as long as the process (a forked child starts its own). A run's first beat is due
``heartbeat_seconds`` after it is watched: creating a run marks it alive.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from loopml.core.errors import LoopMLError, NotFoundError
from loopml.stores.metadata.base import MetadataStore
from loopml.tracking.spool_recovery import recover_spools

_IDLE_WAIT_S = 3600.0

_Task = Callable[[], None]


class HeartbeatThread:
    """Watched runs, by (store, run id), beaten every interval from one thread."""

    _changed: threading.Condition
    _due: dict[tuple[int, str], tuple[MetadataStore, float, float]]  # store, next beat, every
    _beating: set[tuple[int, str]]
    _tasks: list[_Task]
    _thread: threading.Thread | None
    _wakes_at: float  # when the waiting thread wakes by itself (-inf: it is not waiting)

    def __init__(self) -> None:
        self._forget_parent()
        os.register_at_fork(after_in_child=self._forget_parent)

    def watch(self, store: MetadataStore, run_id: str, interval_s: float) -> None:
        """Mark ``run_id`` alive on ``store`` every ``interval_s`` until :meth:`unwatch`."""
        due = time.monotonic() + interval_s
        with self._changed:
            self._due[(id(store), run_id)] = (store, due, interval_s)
            self._start()
            # woken only if it would sleep past this beat: not a switch of threads per run
            if due < self._wakes_at:
                self._changed.notify()

    def unwatch(self, store: MetadataStore, run_id: str) -> None:
        """Stop beating ``run_id``; returns once a beat of it under way has ended, so the
        caller may close ``store`` afterwards."""
        key = (id(store), run_id)
        with self._changed:
            self._due.pop(key, None)
            while key in self._beating:
                self._changed.wait()

    def recover(self, spool_root: Path, store: MetadataStore) -> threading.Event:
        """Send again, in this thread, what dead processes of ``store`` left under
        ``spool_root``; the event is set once that is done."""
        done = threading.Event()
        with self._changed:
            self._tasks.append(lambda: _recover(spool_root, store, done))
            self._start()
            self._changed.notify()
        return done

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="loopml-beats", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._tasks and not self._due_now():
                    wait_s = self._wait_s()
                    self._wakes_at = time.monotonic() + wait_s
                    self._changed.wait(wait_s)
                    self._wakes_at = float("-inf")
                tasks, self._tasks = self._tasks, []
                now = time.monotonic()
                due = [(key, entry) for key, entry in self._due.items() if entry[1] <= now]
                for key, (store, _, interval_s) in due:
                    self._due[key] = (store, now + interval_s, interval_s)
                    self._beating.add(key)
            for task in tasks:
                task()
            for key, (store, _, _) in due:
                try:
                    _beat(store, key[1])
                except NotFoundError:  # deleted meanwhile
                    with self._changed:
                        self._due.pop(key, None)
                finally:
                    with self._changed:
                        self._beating.discard(key)
                        self._changed.notify_all()

    def _due_now(self) -> bool:
        now = time.monotonic()
        return any(at <= now for _, at, _ in self._due.values())

    def _wait_s(self) -> float:
        if not self._due:
            return _IDLE_WAIT_S
        return max(min(at for _, at, _ in self._due.values()) - time.monotonic(), 0.0)

    def _forget_parent(self) -> None:
        # a forked child has none of its parent's threads: it starts its own when needed
        self._changed = threading.Condition()
        self._due = {}
        self._beating = set()
        self._tasks = []
        self._thread = None
        self._wakes_at = float("-inf")


def _beat(store: MetadataStore, run_id: str) -> None:
    try:
        store.heartbeat_run(run_id)
    except NotFoundError:
        raise
    except LoopMLError:  # the store is away: the next beat tries again
        pass


def _recover(spool_root: Path, store: MetadataStore, done: threading.Event) -> None:
    try:
        # the store or the disk is away: the next process tries again
        with contextlib.suppress(LoopMLError, OSError):
            recover_spools(spool_root, store)
    finally:
        done.set()


heartbeats = HeartbeatThread()
"""The process's heartbeat thread (see the module's docstring for why it is one)."""
