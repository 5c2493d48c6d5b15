"""Background batching of metrics and tags, so logging never blocks the training loop.

Callers enqueue (a few microseconds); a daemon thread writes everything pending in bulk
through ``MetadataStore.log_batch`` every ``interval`` seconds or as soon as ``max_batch``
items wait. ``flush()`` drains in the caller's thread and re-raises a failed write.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from loopml.core.entities import Metric, Tag
from loopml.core.errors import BackendUnavailableError, LoopMLError
from loopml.stores.metadata.base import MetadataStore

_Item = tuple[str, Metric | Tag]
RETRIES = 5


class Batcher:
    def __init__(
        self, store: MetadataStore, *, interval: float = 0.2, max_batch: int = 5000
    ) -> None:
        self._store = store
        self._interval = interval
        self._max_batch = max_batch
        self._queue: deque[_Item] = deque()
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

    @property
    def pending(self) -> int:
        return len(self._queue)

    def flush(self) -> None:
        """Write everything enqueued so far; raise the first error a write hit since the
        last flush (the items of a rejected batch are dropped, never retried forever)."""
        self._drain()
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self.flush()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name="loopml-batcher", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        with self._write_lock:
            while self._queue:
                count = min(len(self._queue), self._max_batch)
                items = [self._queue.popleft() for _ in range(count)]
                self._write(items)

    def _write(self, items: list[_Item]) -> None:
        by_run: dict[str, tuple[list[Metric], dict[str, Tag]]] = {}
        for run_id, item in items:
            metrics, tags = by_run.setdefault(run_id, ([], {}))
            if isinstance(item, Metric):
                metrics.append(item)
            else:
                tags[item.key] = item  # the last value of a tag wins
        for run_id, (metrics, tags) in by_run.items():
            self._write_run(run_id, metrics, list(tags.values()))

    def _write_run(self, run_id: str, metrics: list[Metric], tags: list[Tag]) -> None:
        for attempt in range(RETRIES):
            try:
                self._store.log_batch(run_id, metrics=metrics, tags=tags)
                return
            except BackendUnavailableError as exc:
                if attempt == RETRIES - 1:
                    self._errors.append(exc)
                    return
                time.sleep(0.1 * 2**attempt)
            except LoopMLError as exc:
                self._errors.append(exc)
                return
