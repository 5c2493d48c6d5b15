"""Validate what a caller wants written, then write it inside the caller's transaction.

Validation runs completely before the first statement, so bad input never leaves half a batch
behind; the statements then run in one transaction, so a conflict found in the database (a
param re-set to a different value) rolls back everything else in the batch too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.entities import ArtifactEntry, DatasetVersion, Metric, Param, Tag
from loopml.core.errors import ConflictError, InvalidInputError
from loopml.core.hashing import Digest
from loopml.core.validation import (
    normalize_artifact_path,
    validate_key,
    validate_metric_value,
    validate_ref_name,
    validate_step,
    validate_value,
)
from loopml.stores.metadata.checks import RUN_ID as _RUN_ID
from loopml.stores.metadata.checks import check_id as check_id
from loopml.stores.metadata.checks import check_new_run_id as check_new_run_id
from loopml.stores.metadata.checks import check_tags as check_tags
from loopml.stores.metadata.checks import check_time as check_time
from loopml.stores.metadata.sql.dialects import insert_for
from loopml.stores.metadata.sql.reads import chunks, metric_to_db
from loopml.stores.metadata.sql.schema import (
    artifacts,
    latest_metrics,
    metrics,
    params,
    run_batches,
    run_tags,
)

if TYPE_CHECKING:
    from loopml.stores.metadata.sql.dialects import DialectInsert

MAX_DIGEST_LENGTH = 256
MAX_INT32 = 2**31 - 1


def check_batch_id(value: object) -> str:
    """A client's batch id: 1-64 letters, digits, '_' or '-' (a :func:`new_id` fits)."""
    if not isinstance(value, str) or not _RUN_ID.match(value):
        raise InvalidInputError(
            f"A batch id must be 1-64 letters, digits, '_' or '-', got {value!r:.80}."
        )
    return value


def check_lapse(value: object) -> int:
    """How long a run's heartbeat must have been silent, in milliseconds (>= 0)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
        raise InvalidInputError(
            f"The lapse must be a whole number of milliseconds >= 0, got {value!r:.80}."
        )
    return value


def check_dataset_name(name: object) -> str:
    """A dataset name: 1–250 letters, digits, ``_``, ``-`` or ``.``."""
    return validate_ref_name("dataset", name)


def check_dataset_version(dataset: str, version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version <= MAX_INT32:
        raise InvalidInputError(
            f"The version of dataset {dataset!r} must be a positive integer, got {version!r}."
        )
    return version


def _dataset_digest(dataset: str, what: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(
            f"The {what} of dataset {dataset!r} must be a digest string, got {value!r:.80}."
        )
    try:
        return str(Digest.parse(value))
    except InvalidInputError as exc:
        raise InvalidInputError(f"The {what} of dataset {dataset!r} is invalid: {exc}") from exc


def _count(dataset: str, what: str, value: object, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise InvalidInputError(
            f"The {what} of dataset {dataset!r} must be an integer >= 0, got {value!r}."
        )
    return value


def validate_dataset_version(new: object) -> DatasetVersion:
    """``new`` checked and normalised (digests as ``blake3:…``); its ``version`` is ignored."""
    if not isinstance(new, DatasetVersion):
        raise InvalidInputError(f"Expected a DatasetVersion, got {new!r:.80}.")
    name = check_dataset_name(new.dataset)
    profiles = new.profiles_digest
    if not isinstance(new.message, str):
        raise InvalidInputError(
            f"The message of dataset {name!r} must be a string, got {new.message!r:.80}."
        )
    return DatasetVersion(
        dataset=name,
        version=0,
        tree_digest=_dataset_digest(name, "tree digest", new.tree_digest),
        created_at=check_time(f"created_at of dataset {name!r}", new.created_at),
        message=new.message,
        size=_count(name, "size", new.size, 2**63 - 1),
        file_count=_count(name, "file count", new.file_count, MAX_INT32),
        profiles_digest=None
        if profiles is None
        else _dataset_digest(name, "profiles digest", profiles),
        run_id=None if new.run_id is None else check_id("run", new.run_id),
        source=_source(name, new.source),
    )


def _source(name: str, source: object) -> str | None:
    if source is None:
        return None
    if not isinstance(source, str) or not source or "\x00" in source or len(source) > 4096:
        raise InvalidInputError(
            f"The source of dataset {name!r} must be a path of 1 to 4096 characters without "
            f"NUL, or None. Got {source!r:.80} instead."
        )
    return source


def validate_dataset_inputs(inputs: object) -> list[tuple[str, int]]:
    """Distinct ``(dataset, version)`` pairs, sorted."""
    if isinstance(inputs, str | bytes) or not isinstance(inputs, Sequence):
        raise InvalidInputError(
            f"Dataset inputs must be a list of (dataset, version) pairs, got {inputs!r:.80}."
        )
    pairs: set[tuple[str, int]] = set()
    for item in inputs:
        if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
            raise InvalidInputError(
                f"A dataset input must be a (dataset, version) pair, got {item!r:.80}."
            )
        name = check_dataset_name(item[0])
        pairs.add((name, check_dataset_version(name, item[1])))
    return sorted(pairs)


@dataclass(frozen=True)
class Batch:
    """A validated log_batch: metric rows as stored, params and tags by key."""

    metrics: list[dict[str, Any]]
    params: dict[str, str]
    tags: dict[str, str]


def validate_batch(
    metric_items: Sequence[Metric], param_items: Sequence[Param], tag_items: Sequence[Tag]
) -> Batch:
    rows: list[dict[str, Any]] = []
    for metric in metric_items:
        if not isinstance(metric, Metric):
            raise InvalidInputError(f"metrics must hold Metric objects, got {metric!r:.80}.")
        key = validate_key("metric", metric.key)
        value = validate_metric_value(key, metric.value)
        rows.append(
            {
                "key": key,
                "value": metric_to_db(value),
                "step": validate_step(key, metric.step),
                "timestamp": check_time(f"timestamp of metric {key!r}", metric.timestamp),
            }
        )
    batch_params: dict[str, str] = {}
    for param in param_items:
        if not isinstance(param, Param):
            raise InvalidInputError(f"params must hold Param objects, got {param!r:.80}.")
        key = validate_key("param", param.key)
        text = validate_value("param", key, param.value)
        if batch_params.setdefault(key, text) != text:
            raise ConflictError(
                f"Param {key!r} appears twice in one batch with different values "
                f"({batch_params[key]!r} and {text!r}); a param has one value per run."
            )
    batch_tags: dict[str, str] = {}
    for tag in tag_items:
        if not isinstance(tag, Tag):
            raise InvalidInputError(f"tags must hold Tag objects, got {tag!r:.80}.")
        batch_tags[validate_key("tag", tag.key)] = validate_value("tag", tag.key, tag.value)
    return Batch(rows, batch_params, batch_tags)


def validate_artifacts(entries: Sequence[ArtifactEntry]) -> dict[str, ArtifactEntry]:
    """Entries by normalised path; a path given twice keeps the last entry."""
    by_path: dict[str, ArtifactEntry] = {}
    for entry in entries:
        if not isinstance(entry, ArtifactEntry):
            raise InvalidInputError(f"entries must hold ArtifactEntry objects, got {entry!r:.80}.")
        path = normalize_artifact_path(entry.path)
        if not path:
            raise InvalidInputError("An artifact path must name a file, got an empty path.")
        if not isinstance(entry.digest, str) or not 0 < len(entry.digest) <= MAX_DIGEST_LENGTH:
            raise InvalidInputError(
                f"The digest of artifact {path!r} must be a non-empty string of at most "
                f"{MAX_DIGEST_LENGTH} characters, got {entry.digest!r:.80}."
            )
        try:
            digest = str(Digest.parse(entry.digest))
        except InvalidInputError as exc:
            raise InvalidInputError(f"The digest of artifact {path!r} is invalid: {exc}") from exc
        if isinstance(entry.size, bool) or not isinstance(entry.size, int) or entry.size < 0:
            raise InvalidInputError(
                f"The size of artifact {path!r} must be an integer >= 0, got {entry.size!r}."
            )
        by_path[path] = ArtifactEntry(path, digest, entry.size)
    return by_path


def validate_payload(payload: object) -> dict[str, object]:
    """A JSON object (no NaN/inf, which JSON lacks), returned as it will read back."""
    if not isinstance(payload, Mapping):
        raise InvalidInputError(f"An event payload must be a mapping, got {payload!r:.80}.")
    try:
        text = json.dumps(dict(payload), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"An event payload must be JSON (strings, numbers, booleans, null, lists, objects; "
            f"no NaN or infinity): {exc}."
        ) from exc
    decoded: dict[str, object] = json.loads(text)
    return decoded


class Upserts:
    """The INSERT statements of a store (``… ON CONFLICT`` where needed), built once.

    On PostgreSQL each statement also returns a column: SQLAlchemy then sends many rows as one
    multi-row INSERT ("insertmanyvalues"), one round trip, instead of psycopg's executemany
    pipeline, which costs a round of Python work per row. SQLite's executemany is already
    fast (in C), and RETURNING needs SQLite 3.35, so SQLite statements stay plain.
    """

    def __init__(self, dialect: str) -> None:
        postgres = dialect == "postgresql"

        def insert(table: sa.Table) -> DialectInsert:
            return insert_for(dialect, table)

        def batched(statement: sa.Insert, column: sa.Column[Any]) -> sa.Insert:
            return statement.returning(column) if postgres else statement

        self._metrics = batched(sa.insert(metrics), metrics.c.id)
        self._params = batched(
            insert(params).on_conflict_do_nothing(index_elements=["run_id", "key"]),
            params.c.key,
        )
        self._tags = batched(_replace(insert(run_tags), ["run_id", "key"]), run_tags.c.key)
        self._artifacts = batched(_replace(insert(artifacts), ["run_id", "path"]), artifacts.c.path)
        latest = insert(latest_metrics)
        new, old = latest.excluded, latest_metrics.c
        upsert = latest.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": new.value, "step": new.step, "timestamp": new.timestamp},
            where=sa.or_(
                new.step > old.step,
                sa.and_(new.step == old.step, new.timestamp >= old.timestamp),
            ),
        )
        self._latest = batched(upsert, latest_metrics.c.key)
        # RETURNING: a row back means it was new (rowcount is not reliable for upserts)
        self._batch_id = (
            insert(run_batches)
            .on_conflict_do_nothing(index_elements=["run_id", "batch_id"])
            .returning(run_batches.c.batch_id)
        )

    def claim_batch(self, connection: Connection, run_id: str, batch_id: str, now: int) -> bool:
        """Record ``batch_id`` as logged to the run; False if it was logged before (then the
        caller writes nothing: the batch is already stored)."""
        row = {"run_id": run_id, "batch_id": batch_id, "logged_at": now}
        return connection.execute(self._batch_id, row).first() is not None

    def write_batch(self, connection: Connection, run_id: str, batch: Batch) -> None:
        if batch.params:
            self._write_params(connection, run_id, batch.params)
        if batch.tags:
            rows = [{"run_id": run_id, "key": k, "value": v} for k, v in batch.tags.items()]
            connection.execute(self._tags, rows)
        if batch.metrics:
            rows = [{"run_id": run_id, **row} for row in batch.metrics]
            connection.execute(self._metrics, rows)
            connection.execute(self._latest, _newest_per_key(rows))

    def write_artifacts(
        self, connection: Connection, run_id: str, entries: Mapping[str, ArtifactEntry]
    ) -> None:
        rows = [
            {"run_id": run_id, "path": e.path, "digest": e.digest, "size": e.size}
            for e in entries.values()
        ]
        connection.execute(self._artifacts, rows)

    def _write_params(self, connection: Connection, run_id: str, values: dict[str, str]) -> None:
        rows = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
        connection.execute(self._params, rows)
        # read back: a key stored before (or by a concurrent writer) may hold another value
        for keys in chunks(list(values)):
            query = sa.select(params.c.key, params.c.value).where(
                params.c.run_id == run_id, params.c.key.in_(keys)
            )
            for key, stored in connection.execute(query):
                if stored != values[key]:
                    raise ConflictError(
                        f"Param {key!r} of run {run_id} is already {stored!r} and cannot be "
                        f"changed to {values[key]!r}: params are immutable. Log the new value "
                        "under another key, or start a new run."
                    )


def _replace(insert: DialectInsert, keys: list[str]) -> sa.Insert:
    """Insert, or overwrite the other columns of the row with the same ``keys``."""
    updates = {c.name: insert.excluded[c.name] for c in insert.table.c if c.name not in keys}
    return insert.on_conflict_do_update(index_elements=keys, set_=updates)


def _newest_per_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per key (ON CONFLICT may not touch a row twice): highest step, then time."""
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen = newest.get(row["key"])
        if seen is None or (row["step"], row["timestamp"]) >= (seen["step"], seen["timestamp"]):
            newest[row["key"]] = row
    return list(newest.values())
