"""The stored parts of a model's prediction log, found by listing run artifacts and read in
place: a local store's blob file is opened where it lies, an object store's (S3) through its
fsspec filesystem with ranged reads, and only the columns asked for are read. A part is
content-addressed (its digest), so what is computed from it once never goes stale.

>>> parts = log_parts(client, "cancer", PREDICTIONS, since_ms=day_start)  # doctest: +SKIP
>>> read_part(client, parts[0], ["time", "latency_ms"]).num_rows  # doctest: +SKIP
"""

from __future__ import annotations

import io
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from loopml.core.hashing import Digest
from loopml.monitoring.log_store import serving_runs
from loopml.tracking.client import Client

__all__ = ["LogPart", "log_parts", "read_part"]

DAY_MS = 86_400_000


@dataclass(frozen=True, order=True)
class LogPart:
    """One stored part: its kind (``predictions``, ``feedback``, ``errors``), the UTC day
    folder it is filed under, its run and artifact path, and its content digest."""

    day: str
    kind: str
    run_id: str
    path: str
    digest: str
    size: int


def log_parts(
    client: Client,
    model: str,
    kind: str,
    *,
    run_ids: Collection[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[LogPart]:
    """The parts of ``kind`` in ``model``'s serving runs (only ``run_ids`` when given), only
    those filed under the UTC days that can hold rows of ``[since_ms, until_ms)``; no part
    is read. A part is filed under the day its first row was spooled, so the day before
    ``since_ms`` is listed too (a part rolled over midnight)."""
    first = _day(since_ms - DAY_MS) if since_ms is not None else ""
    last = _day(until_ms + DAY_MS) if until_ms is not None else "9999"
    found: list[LogPart] = []
    for run in serving_runs(client, model):
        if run_ids is not None and run.id not in run_ids:
            continue
        for entry in client.metadata.list_artifact_entries(run.id, kind):
            folder = entry.path.split("/")
            day = folder[1].removeprefix("date=") if len(folder) > 2 else ""
            if first <= day <= last and entry.path.endswith(".parquet"):
                found.append(LogPart(day, kind, run.id, entry.path, entry.digest, entry.size))
    return sorted(found)


def read_part(client: Client, part: LogPart, columns: Sequence[str] | None = None) -> Any:
    """The ``pyarrow.Table`` of ``part`` (only ``columns`` that it has, when given)."""
    import pyarrow.parquet as pq

    with _open(client, Digest.parse(part.digest)) as source, pq.ParquetFile(source) as parquet:
        names = parquet.schema_arrow.names
        wanted = None if columns is None else [name for name in columns if name in names]
        return parquet.read(columns=wanted, use_threads=True)


def _open(client: Client, digest: Digest) -> Any:
    """A seekable file of the blob, opened in place where the store allows it."""
    store = client.artifacts
    blob_path = getattr(store, "blob_path", None)
    if blob_path is not None:
        path = blob_path(digest)
        if path.is_file():
            return path.open("rb")
    filesystem, blob_key = getattr(store, "filesystem", None), getattr(store, "blob_key", None)
    in_memory = str(getattr(store, "uri", "")).startswith("memory:")
    if filesystem is not None and blob_key is not None and not in_memory:
        return filesystem.open(blob_key(digest), "rb")
    with store.open(digest) as stream:  # packed, in memory, or over HTTP: the blob's bytes
        return io.BytesIO(stream.read())


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))
