"""Batches of metrics and tags waiting to be stored, in memory or spilled to a local folder.

A :class:`PendingBatch` carries the id the store deduplicates on, so sending one again after
a lost answer never stores it twice. :class:`BatchSpool` is a bounded first-in first-out
queue of batches on disk (one small JSON file each, written atomically) for when the store
is away longer than memory should hold; it belongs to one client and is removed on close.
A spool whose process died is sent again by the next one (:mod:`loopml.tracking.spool_recovery`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from loopml.core.entities import Metric, Tag
from loopml.core.errors import BackendUnavailableError

STORE_KEY_FILE = "store.key"
"""The file of a spool that names (by a hash) the store its batches are for."""


@dataclass(frozen=True)
class PendingBatch:
    """Metrics and tags of one run, sent as one ``log_batch`` with ``batch_id``, retried
    while the store is away until ``deadline`` (epoch seconds)."""

    batch_id: str
    run_id: str
    metrics: list[Metric]
    tags: list[Tag]
    deadline: float

    @property
    def points(self) -> int:
        return len(self.metrics) + len(self.tags)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "batch_id": self.batch_id,
                "run_id": self.run_id,
                "deadline": self.deadline,
                # Python's json writes and reads NaN and ±Infinity back as themselves
                "metrics": [[m.key, m.value, m.step, m.timestamp] for m in self.metrics],
                "tags": [[t.key, t.value] for t in self.tags],
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PendingBatch:
        raw = json.loads(data)
        return cls(
            batch_id=raw["batch_id"],
            run_id=raw["run_id"],
            metrics=[Metric(k, float(v), s, t) for k, v, s, t in raw["metrics"]],
            tags=[Tag(k, v) for k, v in raw["tags"]],
            deadline=float(raw["deadline"]),
        )


@dataclass(frozen=True)
class _Entry:
    path: Path
    size: int
    points: int


class BatchSpool:
    """Batches in ``folder`` (created on first use, with ``store_key`` in
    :data:`STORE_KEY_FILE`), oldest first, at most ``max_bytes``."""

    def __init__(self, folder: Path, max_bytes: int, *, store_key: str = "") -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.store_key = store_key
        self._entries: deque[_Entry] = deque()
        self._bytes = 0
        self._points = 0
        self._next = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def points(self) -> int:
        return self._points

    def push(self, batch: PendingBatch) -> bool:
        """Append ``batch``; False (nothing written) when it would exceed ``max_bytes``."""
        data = batch.to_json()
        if self._bytes + len(data) > self.max_bytes:
            return False
        path = self.folder / f"{self._next:012d}.json"
        staging = path.with_suffix(".tmp")
        try:
            if not self.folder.exists():
                self.folder.mkdir(parents=True)
                (self.folder / STORE_KEY_FILE).write_text(self.store_key, encoding="utf-8")
            staging.write_bytes(data)
            os.replace(staging, path)
        except OSError as exc:
            raise BackendUnavailableError(
                f"Cannot spool unsent metrics to {self.folder}: {exc}. Free some disk space or "
                "make the folder writable."
            ) from exc
        self._next += 1
        self._entries.append(_Entry(path, len(data), batch.points))
        self._bytes += len(data)
        self._points += batch.points
        return True

    def peek(self) -> PendingBatch | None:
        """The oldest batch, still spooled (see :meth:`pop`)."""
        if not self._entries:
            return None
        return PendingBatch.from_json(self._entries[0].path.read_bytes())

    def pop(self) -> None:
        """Forget the oldest batch (stored or given up on)."""
        entry = self._entries.popleft()
        entry.path.unlink(missing_ok=True)
        self._bytes -= entry.size
        self._points -= entry.points

    def remove(self) -> None:
        """Delete the folder and whatever is left in it."""
        self._entries.clear()
        self._bytes = self._points = 0
        shutil.rmtree(self.folder, ignore_errors=True)
