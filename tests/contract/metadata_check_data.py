"""What the metadata store checks create: unique names, experiments, runs, and the blobs that
artifact entries point at (a remote store refuses entries whose blob it does not hold)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from loopml.core.entities import Run
from loopml.core.hashing import hash_bytes
from loopml.stores.metadata.base import MetadataStore, NewRun, RunQuery

StoreCheck = Callable[[MetadataStore], None]
"""One check: it passes or raises on the store it is given."""
STORED_BLOB_SIZES = range(5)


def blob_content(size: int) -> bytes:
    """The bytes of the test blob of ``size`` bytes (``size`` in :data:`STORED_BLOB_SIZES`)."""
    return b"x" * size


def blob(size: int) -> str:
    """The digest of a blob of ``size`` bytes. A server refuses index entries pointing at
    blobs it does not hold, so the remote fixture uploads every one of them first."""
    return str(hash_bytes(blob_content(size)))


DIGEST = blob(1)  # an artifact entry of 1 byte


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_experiment(store: MetadataStore) -> str:
    return store.create_experiment(unique_name("exp")).id


def new_run(
    store: MetadataStore,
    experiment_id: str,
    name: str = "run",
    *,
    start_time: int = 1_700_000_000_000,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    run_id: str | None = None,
) -> Run:
    new_run = NewRun(experiment_id, name, start_time, parent_run_id, tags or {}, run_id)
    return store.create_run(new_run)


def search(store: MetadataStore, experiment_id: str, **kw: object) -> list[Run]:
    return store.search_runs(RunQuery(experiment_ids=[experiment_id], **kw)).items  # type: ignore[arg-type]


def names(runs: list[Run]) -> list[str]:
    return [run.name for run in runs]
