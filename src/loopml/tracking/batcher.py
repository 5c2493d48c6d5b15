"""Background batching of metrics and tags, so logging never blocks the training loop, and
nothing logged is lost while the store is briefly away.

Callers enqueue (a few microseconds); a daemon thread forms batches every ``interval``
seconds (or as soon as ``max_batch`` items wait) and writes them through
``MetadataStore.log_batch``, each with its own batch id, so a batch sent again after a lost
answer is stored once. While the store is unavailable, batches wait, oldest first: in memory
up to ``memory_points`` metrics and tags, then in a bounded folder on local disk
(:class:`~loopml.tracking.spool.BatchSpool`), and are sent again with backoff until each has
waited ``retry_seconds``. Only then, or when the spool is full, or when the store rejects a
batch, are its points dropped; :meth:`Batcher.dropped` counts them per run, so the run's end
can say so. Watched runs are marked alive every ``heartbeat_seconds``, and what a dead
process of the same store left in its spool is sent again
(:mod:`loopml.tracking.spool_recovery`), by the process's one heartbeat thread
(:mod:`loopml.tracking.beat_thread`): a run that logs nothing starts no thread of its own.
``flush()`` sends everything in the caller's thread (waiting out an outage up to the budget)
and re-raises the first failed write.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from loopml.core.entities import Metric, Tag
from loopml.core.env_numbers import env_number
from loopml.core.errors import BackendUnavailableError, LoopMLError
from loopml.core.ids import new_id
from loopml.stores.metadata.base import MetadataStore
from loopml.tracking.beat_thread import heartbeats
from loopml.tracking.heartbeat import heartbeat_seconds
from loopml.tracking.spool import BatchSpool, PendingBatch
from loopml.tracking.spool_recovery import store_key

_Item = tuple[str, Metric | Tag]
RETRY_ENV = "LOOPML_LOG_RETRY_SECONDS"
SPOOL_ENV = "LOOPML_LOG_SPOOL_MB"
_FIRST_BACKOFF = 0.25
_MAX_BACKOFF = 5.0


@dataclass(frozen=True)
class BatcherLimits:
    """How long and how much the batcher keeps while the store is away."""

    retry_seconds: float = 60.0
    memory_points: int = 200_000
    spool_bytes: int = 256 << 20
    heartbeat_seconds: float = 30.0

    @classmethod
    def from_env(cls) -> BatcherLimits:
        """``LOOPML_LOG_RETRY_SECONDS`` (default 60), ``LOOPML_LOG_SPOOL_MB`` (default 256)
        and ``LOOPML_HEARTBEAT_SECONDS`` (default 30)."""
        return cls(
            retry_seconds=env_number(RETRY_ENV, cls.retry_seconds, unit="seconds"),
            spool_bytes=int(
                env_number(SPOOL_ENV, cls.spool_bytes / (1 << 20), unit="MiB") * (1 << 20)
            ),
            heartbeat_seconds=heartbeat_seconds(),
        )


class Batcher:
    def __init__(
        self,
        store: MetadataStore,
        *,
        interval: float = 0.2,
        max_batch: int = 5000,
        limits: BatcherLimits | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        self._store = store
        self._interval = interval
        self._max_batch = max_batch
        self._limits = limits or BatcherLimits()
        self._spool_dir = spool_dir
        self._queue: deque[_Item] = deque()
        self._unsent: deque[PendingBatch] = deque()  # in memory, older than the spool's
        self._unsent_points = 0
        self._spool: BatchSpool | None = None
        self._dropped: dict[str, int] = {}
        self._retry_at = 0.0  # monotonic: no send before this while the store is away
        self._backoff = _FIRST_BACKOFF
        self._watched: set[str] = set()
        self._recovered: threading.Event | None = None  # set once orphaned spools were sent
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._errors: list[LoopMLError] = []
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def add(self, run_id: str, item: Metric | Tag) -> None:
        self._queue.append((run_id, item))
        if self._thread is None:
            self._start()
        if len(self._queue) >= self._max_batch:
            self._wake.set()

    def watch(self, run_id: str) -> None:
        """Mark ``run_id`` alive every ``heartbeat_seconds`` until :meth:`unwatch`."""
        self._watched.add(run_id)
        heartbeats.watch(self._store, run_id, self._limits.heartbeat_seconds)
        self._recover_orphans()

    def unwatch(self, run_id: str) -> None:
        self._watched.discard(run_id)
        heartbeats.unwatch(self._store, run_id)

    @property
    def pending(self) -> int:
        """Metrics and tags not stored yet (queued, waiting in memory or on disk)."""
        spooled = self._spool.points if self._spool is not None else 0
        return len(self._queue) + self._unsent_points + spooled

    def dropped(self, run_id: str) -> int:
        """Metrics and tags of ``run_id`` that could not be stored and were given up on."""
        return self._dropped.get(run_id, 0)

    def flush(self) -> None:
        """Store everything enqueued so far, waiting out an unavailable store for up to
        ``retry_seconds`` per batch; raise the first error a write hit since the last flush
        (the points of a batch given up on are counted in :meth:`dropped`)."""
        self._drain(wait=True)
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def close(self) -> None:
        for run_id in list(self._watched):
            self.unwatch(run_id)
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        if self._recovered is not None:  # it uses the store, which is closed next
            self._recovered.wait(timeout=30)
        try:
            self.flush()
        finally:
            if self._spool is not None:
                self._spool.remove()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name="loopml-batcher", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        self._recover_orphans()
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain(wait=False)

    def _drain(self, *, wait: bool) -> None:
        """Form batches of what is queued and send what waits; with ``wait``, until nothing
        is left (sleeping out the backoff between attempts)."""
        while True:
            with self._write_lock:
                self._form_batches()
                waiting = self._unsent or (self._spool is not None and len(self._spool) > 0)
                if not waiting:
                    return
                if time.monotonic() >= self._retry_at and not self._send_unsent():
                    return
                delay = self._retry_at - time.monotonic()
            if not wait:
                return
            time.sleep(max(delay, 0.0))

    def _form_batches(self) -> None:
        deadline = time.time() + self._limits.retry_seconds
        while self._queue:
            count = min(len(self._queue), self._max_batch)
            by_run: dict[str, tuple[list[Metric], dict[str, Tag]]] = {}
            for _ in range(count):
                run_id, item = self._queue.popleft()
                metrics, tags = by_run.setdefault(run_id, ([], {}))
                if isinstance(item, Metric):
                    metrics.append(item)
                else:
                    tags[item.key] = item  # the last value of a tag wins
            for run_id, (metrics, tag_map) in by_run.items():
                batch = PendingBatch(new_id(), run_id, metrics, list(tag_map.values()), deadline)
                self._keep(batch)

    def _keep(self, batch: PendingBatch) -> None:
        """Queue ``batch`` behind every older one: in memory while there is room and nothing
        is spooled yet, else in the spool; drop it when the spool is full too."""
        spooled = self._spool is not None and len(self._spool) > 0
        if not spooled and self._unsent_points + batch.points <= self._limits.memory_points:
            self._unsent.append(batch)
            self._unsent_points += batch.points
            return
        if self._spool is None:
            folder = self.spool_root / f"{os.getpid()}-{new_id()[:8]}"
            key = store_key(self._store.uri)
            self._spool = BatchSpool(folder, self._limits.spool_bytes, store_key=key)
        try:
            kept = self._spool.push(batch)
        except BackendUnavailableError as exc:
            self._drop(batch, exc)
            return
        if not kept:
            self._drop(
                batch,
                BackendUnavailableError(
                    f"The metadata store has been unavailable while more unsent metrics piled "
                    f"up than the local spool holds ({self._limits.spool_bytes >> 20} MiB, "
                    f"{SPOOL_ENV}); the newest were dropped."
                ),
            )

    @property
    def spool_root(self) -> Path:
        """The folder of every batcher's spool (each in a subfolder of its own)."""
        return self._spool_dir or Path(tempfile.gettempdir()) / "loopml-spool"

    def _recover_orphans(self) -> None:
        """Have what dead processes of this store left spooled sent again (once, at the
        first run watched or point added)."""
        if self._recovered is None:
            self._recovered = heartbeats.recover(self.spool_root, self._store)

    def _oldest(self) -> PendingBatch | None:
        if self._unsent:
            return self._unsent[0]
        return self._spool.peek() if self._spool is not None else None

    def _forget_oldest(self) -> None:
        if self._unsent:
            batch = self._unsent.popleft()
            self._unsent_points -= batch.points
        elif self._spool is not None:
            self._spool.pop()

    def _send_unsent(self) -> bool:
        """Send waiting batches oldest first; True when the store is away and some wait on.
        After one failed attempt, batches past their deadline are dropped unsent."""
        failure: BackendUnavailableError | None = None
        while (batch := self._oldest()) is not None:
            if failure is None:
                try:
                    self._store.log_batch(
                        batch.run_id,
                        metrics=batch.metrics,
                        tags=batch.tags,
                        batch_id=batch.batch_id,
                    )
                except BackendUnavailableError as exc:
                    failure = exc
                except LoopMLError as exc:  # rejected: sending it again would not help
                    self._forget_oldest()
                    self._drop(batch, exc)
                    continue
                else:
                    self._forget_oldest()
                    self._backoff = _FIRST_BACKOFF
                    continue
            if time.time() < batch.deadline:  # wait for the store to come back
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
                return True
            self._forget_oldest()
            self._drop(batch, failure)
        return False

    def _drop(self, batch: PendingBatch, error: LoopMLError) -> None:
        self._dropped[batch.run_id] = self._dropped.get(batch.run_id, 0) + batch.points
        self._errors.append(error)
