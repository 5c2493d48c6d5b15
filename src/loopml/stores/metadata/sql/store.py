"""The metadata store on SQLite or PostgreSQL (SQLAlchemy Core).

>>> store = SqlMetadataStore("sqlite:///.loopml/loopml.db")  # doctest: +SKIP
>>> experiment = store.create_experiment("churn")  # doctest: +SKIP

Opening a store migrates its schema to the newest revision (see :mod:`.migrate`). Every
mutation validates its input first and then runs in one transaction: all or nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.entities import (
    AliasChange,
    ArtifactEdge,
    ArtifactEntry,
    DatasetInput,
    DatasetVersion,
    Event,
    Experiment,
    GateResult,
    Metric,
    ModelApproval,
    ModelVersion,
    Page,
    Param,
    RegisteredModel,
    Run,
    RunStatus,
    Tag,
)
from loopml.core.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from loopml.core.filters import Comparison, parse_filter, parse_order_by
from loopml.core.gate_validation import check_comment, validate_gate_result
from loopml.core.ids import new_id, now_ms
from loopml.core.model_validation import (
    check_actor,
    check_alias_name,
    check_model_name,
    check_model_version,
    check_reason,
    validate_model_tag,
    validate_model_version,
)
from loopml.core.validation import (
    normalize_artifact_path,
    validate_artifact_edges,
    validate_edge_digest,
    validate_name,
)
from loopml.stores.metadata.base import (
    DEFAULT_MAX_RESULTS,
    NewRun,
    ReferencedDigests,
    RunQuery,
)
from loopml.stores.metadata.new_runs import resolve_experiment
from loopml.stores.metadata.sql import datasets as dataset_rows
from loopml.stores.metadata.sql import lineage, paging, references
from loopml.stores.metadata.sql import models as model_rows
from loopml.stores.metadata.sql.engine import (
    BUSY_TIMEOUT_S,
    create_store_engine,
    is_memory_sqlite,
    mask_uri,
    parse_uri,
    sqlite_path,
    translate_errors,
    write_engine,
)
from loopml.stores.metadata.sql.locking import exclusive_file_lock, lock_file_for
from loopml.stores.metadata.sql.migrate import ensure_schema
from loopml.stores.metadata.sql.reads import chunks, load_experiments, load_runs, metric_from_db
from loopml.stores.metadata.sql.schema import (
    artifacts,
    events,
    experiment_tags,
    experiments,
    metrics,
    run_tags,
    runs,
)
from loopml.stores.metadata.sql.search import compile_search, count_matches
from loopml.stores.metadata.sql.writes import (
    Upserts,
    check_batch_id,
    check_dataset_name,
    check_dataset_version,
    check_id,
    check_lapse,
    check_tags,
    check_time,
    validate_artifacts,
    validate_batch,
    validate_dataset_inputs,
    validate_dataset_version,
    validate_payload,
)

# statements built once: SQLAlchemy caches their compiled form
_INSERT_RUN = sa.insert(runs)
_INSERT_RUN_TAG = sa.insert(run_tags)
# a search clause matching fewer rows than this drives the query (see .search)
SELECTIVE_CAP = 1000


class SqlMetadataStore:
    """:class:`~loopml.stores.metadata.base.MetadataStore` on ``sqlite:///…`` or
    ``postgresql+psycopg://…`` (plain ``postgresql://`` means psycopg too)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        url = parse_uri(uri)
        self._masked_uri = mask_uri(url)
        self._engine: Engine = create_store_engine(url)
        self._writer = write_engine(self._engine)
        self._upserts = Upserts(self._engine.dialect.name)
        # an in-memory database is one shared connection: one transaction at a time
        self._serial: AbstractContextManager[object] = (
            threading.RLock() if is_memory_sqlite(url) else nullcontext()
        )
        path = sqlite_path(url)
        # writers of one SQLite file queue on this lock (see .locking); None for PostgreSQL
        self._lock_file = None if path is None else lock_file_for(path)
        try:
            with translate_errors(self._masked_uri):
                ensure_schema(self._engine, lock_file=self._lock_file)
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self._masked_uri!r})"

    def __enter__(self) -> SqlMetadataStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._serial, translate_errors(self._masked_uri), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with (
            self._serial,
            exclusive_file_lock(self._lock_file, timeout_s=BUSY_TIMEOUT_S),
            translate_errors(self._masked_uri),
            self._writer.begin() as conn,
        ):
            yield conn

    # experiments

    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        name = validate_name("experiment", name)
        tag_values = check_tags(tags or {})
        experiment = Experiment(new_id(), name, now_ms(), tag_values)
        taken = AlreadyExistsError(
            f"An experiment named {name!r} already exists; pick another name, or look it up "
            "with get_experiment_by_name."
        )
        with self._write() as conn:
            if conn.execute(sa.select(experiments.c.id).where(experiments.c.name == name)).first():
                raise taken
            try:
                conn.execute(
                    sa.insert(experiments).values(
                        id=experiment.id, name=name, created_at=experiment.created_at
                    )
                )
            except sa.exc.IntegrityError as exc:  # created concurrently (PostgreSQL)
                raise taken from exc
            if tag_values:
                conn.execute(
                    sa.insert(experiment_tags),
                    [
                        {"experiment_id": experiment.id, "key": k, "value": v}
                        for k, v in tag_values.items()
                    ],
                )
        return experiment

    def get_experiment(self, experiment_id: str) -> Experiment:
        check_id("experiment", experiment_id)
        with self._read() as conn:
            row = conn.execute(
                sa.select(experiments).where(experiments.c.id == experiment_id)
            ).first()
            if row is None:
                raise NotFoundError(f"No experiment with id {experiment_id!r}.")
            return load_experiments(conn, [row])[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        if not isinstance(name, str):
            raise InvalidInputError(f"The experiment name must be a string, got {name!r}.")
        with self._read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
            return None if row is None else load_experiments(conn, [row])[0]

    def list_experiments(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Experiment]:
        limit = paging.check_max_results(max_results)
        offset = paging.decode_token(page_token, "experiments")
        query = (
            sa.select(experiments)
            .order_by(experiments.c.created_at, experiments.c.name)
            .limit(limit + 1)
            .offset(offset)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            items = load_experiments(conn, rows[:limit])
        more = len(rows) > limit
        return Page(items, paging.encode_token("experiments", offset + limit) if more else None)

    # runs

    def create_run(self, new_run: NewRun) -> Run:
        new_run = resolve_experiment(self, new_run)[0]  # checked; by name: created if needed
        experiment_id = check_id("experiment", new_run.experiment_id)
        name, start_time, parent = new_run.name, new_run.start_time, new_run.parent_run_id
        tag_values = dict(new_run.tags)
        run_id = new_id() if new_run.run_id is None else new_run.run_id
        alive_at = now_ms()  # the run's first heartbeat, by the store's clock
        row = {
            "id": run_id,
            "experiment_id": experiment_id,
            "name": name,
            "status": RunStatus.RUNNING.value,
            "start_time": start_time,
            "end_time": None,
            "parent_run_id": parent,
            "heartbeat_at": alive_at,
        }
        try:
            with self._write() as conn:
                if new_run.run_id is not None:
                    existing = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
                    if existing is not None and existing.experiment_id == experiment_id:
                        return load_runs(conn, [existing])[0]  # a retried create
                    if existing is not None:
                        raise AlreadyExistsError(
                            f"Run {run_id} already exists in another experiment "
                            f"({existing.experiment_id}); pick another run id."
                        )
                conn.execute(_INSERT_RUN, row)
                if tag_values:
                    conn.execute(
                        _INSERT_RUN_TAG,
                        [{"run_id": run_id, "key": k, "value": v} for k, v in tag_values.items()],
                    )
        except ConflictError:  # a foreign key found no such experiment or parent
            with self._read() as conn:
                if not conn.execute(
                    sa.select(experiments.c.id).where(experiments.c.id == experiment_id)
                ).first():
                    raise NotFoundError(f"No experiment with id {experiment_id!r}.") from None
                if parent is not None:
                    self._require_run(conn, parent, what="parent run")
            raise
        return Run(
            id=run_id,
            experiment_id=experiment_id,
            name=name,
            status=RunStatus.RUNNING,
            start_time=start_time,
            end_time=None,
            parent_run_id=parent,
            tags=tag_values,
            heartbeat_at=alive_at,
        )

    def get_run(self, run_id: str) -> Run:
        check_id("run", run_id)
        with self._read() as conn:
            return self._load_run(conn, run_id)

    def set_run_status(self, run_id: str, status: RunStatus, end_time: int | None) -> None:
        check_id("run", run_id)
        try:
            new_status = RunStatus(status)
        except ValueError as exc:
            allowed = ", ".join(s.value for s in RunStatus)
            raise InvalidInputError(
                f"Unknown run status {status!r}; use one of {allowed}."
            ) from exc
        if end_time is not None:
            end_time = check_time("end_time", end_time)
        if not new_status.is_terminal:
            end_time = None  # a running (or resumed) run has not ended
        elif end_time is None:
            end_time = now_ms()
        values: dict[str, object] = {"status": new_status.value, "end_time": end_time}
        if not new_status.is_terminal:
            values["heartbeat_at"] = now_ms()  # resumed: alive from now on
        with self._write() as conn:
            updated = conn.execute(sa.update(runs).where(runs.c.id == run_id).values(values))
            if updated.rowcount == 0:
                raise NotFoundError(f"No run with id {run_id!r}.")

    def delete_run(self, run_id: str) -> None:
        check_id("run", run_id)
        with self._write() as conn:
            # child runs and every row logged to them go too (ON DELETE CASCADE)
            deleted = conn.execute(sa.delete(runs).where(runs.c.id == run_id))
            if deleted.rowcount == 0:
                raise NotFoundError(f"No run with id {run_id!r}.")

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[Tag] = (),
        batch_id: str | None = None,
    ) -> None:
        check_id("run", run_id)
        batch = validate_batch(metrics, params, tags)
        claim = None if batch_id is None else check_batch_id(batch_id)
        now = now_ms()
        with self._write() as conn:
            self._require_run(conn, run_id, lock=True)
            if claim is not None and not self._upserts.claim_batch(conn, run_id, claim, now):
                return  # stored before: this is a retry whose first answer was lost
            self._upserts.write_batch(conn, run_id, batch)
            conn.execute(_beat(run_id, now))

    def heartbeat_run(self, run_id: str) -> None:
        check_id("run", run_id)
        with self._write() as conn:
            if conn.execute(_beat(run_id, now_ms())).rowcount == 0:
                self._require_run(conn, run_id)  # an ended run: nothing to do

    def close_lapsed_runs(self, lapsed_for_ms: int, *, dry_run: bool = False) -> list[Run]:
        cutoff = now_ms() - check_lapse(lapsed_for_ms)
        lapsed = sa.and_(
            runs.c.status == RunStatus.RUNNING.value,
            runs.c.heartbeat_at.is_not(None),
            runs.c.heartbeat_at < cutoff,
        )
        if dry_run:
            with self._read() as conn:
                found = conn.execute(sa.select(runs).where(lapsed).order_by(runs.c.id)).all()
                return load_runs(conn, found)
        with self._write() as conn:
            # one statement: a heartbeat that lands first keeps its run open
            closed = conn.execute(
                sa.update(runs)
                .where(lapsed)
                .values(status=RunStatus.KILLED.value, end_time=runs.c.heartbeat_at)
                .returning(runs.c.id)
            ).scalars()
            ids = sorted(closed)
            rows: list[sa.Row[Any]] = []
            for chunk in chunks(ids):
                rows += conn.execute(sa.select(runs).where(runs.c.id.in_(chunk))).all()
            return load_runs(conn, sorted(rows, key=lambda row: str(row.id)))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        check_id("run", run_id)
        if not isinstance(key, str):
            raise InvalidInputError(f"The metric key must be a string, got {key!r}.")
        query = (
            sa.select(metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.timestamp)
            .where(metrics.c.run_id == run_id, metrics.c.key == key)
            .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
        )
        with self._read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(query).all()
        return [Metric(r.key, metric_from_db(r.value), r.step, r.timestamp) for r in rows]

    def search_runs(self, query: RunQuery) -> Page[Run]:
        limit = paging.check_max_results(query.max_results)
        experiment_ids = _strings("experiment_ids", query.experiment_ids)
        order_by = _strings("order_by", query.order_by)
        comparisons = parse_filter(query.filter)
        orders = parse_order_by(order_by)
        parent = None if query.parent_run_id is None else check_id("run", query.parent_run_id)
        fingerprint = paging.fingerprint(experiment_ids, query.filter, order_by, parent)
        offset = paging.decode_token(query.page_token, "runs", fingerprint)
        dialect = self._engine.dialect.name
        with self._read() as conn:
            selective = self._selective_clauses(conn, comparisons, cap=SELECTIVE_CAP)
            select = compile_search(
                experiment_ids=experiment_ids,
                parent_run_id=parent,
                comparisons=comparisons,
                orders=orders,
                dialect=dialect,
                selective=selective,
            )
            rows = conn.execute(select.limit(limit + 1).offset(offset)).all()
            items = load_runs(conn, rows[:limit])
        more = len(rows) > limit
        token = paging.encode_token("runs", offset + limit, fingerprint) if more else None
        return Page(items, token)

    # artifacts index

    def add_artifacts(self, run_id: str, entries: Sequence[ArtifactEntry]) -> None:
        check_id("run", run_id)
        by_path = validate_artifacts(entries)
        with self._write() as conn:
            self._require_run(conn, run_id, lock=True)
            if by_path:
                self._upserts.write_artifacts(conn, run_id, by_path)

    def list_artifact_entries(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        check_id("run", run_id)
        prefix = normalize_artifact_path(prefix)
        query = sa.select(artifacts).where(artifacts.c.run_id == run_id).order_by(artifacts.c.path)
        if prefix:
            # substr, not LIKE: LIKE ignores case on SQLite and treats % and _ as wildcards
            under = sa.func.substr(artifacts.c.path, 1, len(prefix) + 1) == prefix + "/"
            query = query.where(sa.or_(artifacts.c.path == prefix, under))
        with self._read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(query).all()
        return [ArtifactEntry(r.path, r.digest, r.size) for r in rows]

    # datasets (see .datasets for how versions are numbered)

    def add_dataset_version(self, new: DatasetVersion) -> tuple[DatasetVersion, bool]:
        spec = validate_dataset_version(new)
        with self._write() as conn:
            if spec.run_id is not None:
                self._require_run(conn, spec.run_id, lock=True)
            return dataset_rows.add_version(conn, spec)

    def get_dataset_version(self, dataset: str, version: int | None = None) -> DatasetVersion:
        name = check_dataset_name(dataset)
        number = None if version is None else check_dataset_version(name, version)
        with self._read() as conn:
            return dataset_rows.get_version(conn, name, number)

    def list_dataset_versions(self, dataset: str | None = None) -> list[DatasetVersion]:
        name = None if dataset is None else check_dataset_name(dataset)
        with self._read() as conn:
            return dataset_rows.list_versions(conn, name)

    def delete_dataset_version(self, dataset: str, version: int | None = None) -> None:
        name = check_dataset_name(dataset)
        number = None if version is None else check_dataset_version(name, version)
        with self._write() as conn:
            dataset_rows.delete(conn, name, number)

    def add_dataset_inputs(self, run_id: str, inputs: Sequence[tuple[str, int]]) -> None:
        check_id("run", run_id)
        pairs = validate_dataset_inputs(inputs)
        with self._write() as conn:
            self._require_run(conn, run_id, lock=True)
            dataset_rows.add_inputs(conn, run_id, pairs)

    def list_dataset_inputs(
        self, *, run_id: str | None = None, dataset: str | None = None
    ) -> list[DatasetInput]:
        run = None if run_id is None else check_id("run", run_id)
        name = None if dataset is None else check_dataset_name(dataset)
        with self._read() as conn:
            return dataset_rows.list_inputs(conn, run, name)

    # artifact lineage (see .lineage)

    def add_artifact_edges(self, run_id: str, edges: Sequence[tuple[str, str, str]]) -> None:
        check_id("run", run_id)
        triples = validate_artifact_edges(edges)
        with self._write() as conn:
            self._require_run(conn, run_id, lock=True)
            lineage.add_edges(conn, run_id, triples)

    def list_artifact_edges(
        self, *, run_id: str | None = None, digest: str | None = None
    ) -> list[ArtifactEdge]:
        run = None if run_id is None else check_id("run", run_id)
        tree = None if digest is None else validate_edge_digest(digest)
        with self._read() as conn:
            return lineage.list_edges(conn, run, tree)

    # garbage collection
    def list_referenced_digests(self) -> ReferencedDigests:
        """Every digest the metadata names (see :mod:`.references`), in one read."""
        with self._read() as conn:
            return references.referenced_digests(conn)

    # model registry (see .models for how versions are numbered and aliases moved)

    def add_model_version(self, new: ModelVersion) -> ModelVersion:
        spec = validate_model_version(new)
        with self._write() as conn:
            if spec.run_id is not None:
                self._require_run(conn, spec.run_id, lock=True)
            return model_rows.add_version(conn, spec)

    def get_model_version(self, model: str, version: int | None = None) -> ModelVersion:
        name = check_model_name(model)
        number = None if version is None else check_model_version(name, version)
        with self._read() as conn:
            return model_rows.get_version(conn, name, number)

    def list_model_versions(self, model: str) -> list[ModelVersion]:
        name = check_model_name(model)
        with self._read() as conn:
            return model_rows.list_versions(conn, name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        checked = check_model_name(name)
        with self._read() as conn:
            return model_rows.get_model(conn, checked)

    def list_registered_models(self) -> list[RegisteredModel]:
        with self._read() as conn:
            return model_rows.list_models(conn)

    def set_model_alias(
        self,
        model: str,
        alias: str,
        version: int | None,
        *,
        actor: str | None = None,
        reason: str = "",
    ) -> AliasChange:
        name = check_model_name(model)
        alias = check_alias_name(alias)
        number = None if version is None else check_model_version(name, version)
        who, why = check_actor(actor), check_reason(reason)
        with self._write() as conn:
            return model_rows.set_alias(conn, name, alias, number, actor=who, reason=why)

    def get_model_alias(self, model: str, alias: str) -> int:
        name, alias = check_model_name(model), check_alias_name(alias)
        with self._read() as conn:
            return model_rows.get_alias(conn, name, alias)

    def list_alias_history(self, model: str, alias: str | None = None) -> list[AliasChange]:
        name = check_model_name(model)
        alias = None if alias is None else check_alias_name(alias)
        with self._read() as conn:
            return model_rows.alias_history(conn, name, alias)

    def set_model_version_tag(self, model: str, version: int, key: str, value: str) -> None:
        name = check_model_name(model)
        number = check_model_version(name, version)
        key, value = validate_model_tag(name, key, value)
        with self._write() as conn:
            model_rows.set_tag(conn, name, number, key, value)

    def delete_model_version(self, model: str, version: int) -> None:
        name = check_model_name(model)
        number = check_model_version(name, version)
        with self._write() as conn:
            model_rows.delete_version(conn, name, number)

    def add_gate_result(self, result: GateResult) -> GateResult:
        spec = validate_gate_result(result)
        with self._write() as conn:
            return model_rows.add_gate_result(conn, spec)

    def list_gate_results(self, model: str, version: int | None = None) -> list[GateResult]:
        name = check_model_name(model)
        number = None if version is None else check_model_version(name, version)
        with self._read() as conn:
            return model_rows.list_gate_results(conn, name, number)

    def add_model_approval(
        self, model: str, version: int, *, actor: str | None = None, comment: str = ""
    ) -> ModelApproval:
        name = check_model_name(model)
        number = check_model_version(name, version)
        who, text = check_actor(actor), check_comment(comment)
        with self._write() as conn:
            return model_rows.add_approval(conn, name, number, actor=who, comment=text)

    def list_model_approvals(self, model: str, version: int | None = None) -> list[ModelApproval]:
        name = check_model_name(model)
        number = None if version is None else check_model_version(name, version)
        with self._read() as conn:
            return model_rows.list_approvals(conn, name, number)

    # event log

    def append_event(
        self, *, actor: str, action: str, target: str, payload: Mapping[str, object]
    ) -> Event:
        actor = _text("actor", actor, 250, allow_empty=True)
        action = _text("action", action, 250)
        target = _text("target", target, 1000, allow_empty=True)
        body = validate_payload(payload)
        timestamp = now_ms()
        with self._write() as conn:
            event_id = conn.execute(
                sa.insert(events)
                .values(
                    timestamp=timestamp, actor=actor, action=action, target=target, payload=body
                )
                .returning(events.c.id)
            ).scalar_one()
        return Event(event_id, timestamp, actor, action, target, body)

    def list_events(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Event]:
        limit = paging.check_max_results(max_results)
        after = paging.decode_token(page_token, "events")
        query = sa.select(events).where(events.c.id > after).order_by(events.c.id).limit(limit + 1)
        with self._read() as conn:
            rows = conn.execute(query).all()
        items = [
            Event(r.id, r.timestamp, r.actor, r.action, r.target, dict(r.payload))
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return Page(items, paging.encode_token("events", items[-1].id) if more else None)

    # helpers

    def _require_run(
        self, conn: Connection, run_id: str, *, what: str = "run", lock: bool = False
    ) -> None:
        query = sa.select(runs.c.id).where(runs.c.id == run_id)
        if lock:  # PostgreSQL: a concurrent delete waits until this transaction ends
            query = query.with_for_update(read=True, key_share=True)
        if conn.execute(query).first() is None:
            raise NotFoundError(f"No {what} with id {run_id!r}.")

    def _selective_clauses(
        self, conn: Connection, comparisons: list[Comparison], *, cap: int
    ) -> set[int]:
        """Positions of the value clauses matching fewer than ``cap`` rows (SQLite only; see
        :mod:`.search` for why)."""
        dialect = self._engine.dialect.name
        if dialect != "sqlite":
            return set()
        return {
            position
            for position, comparison in enumerate(comparisons)
            if comparison.kind != "attribute"
            and conn.execute(count_matches(comparison, dialect, cap)).scalar_one() < cap
        }

    def _load_run(self, conn: Connection, run_id: str) -> Run:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundError(f"No run with id {run_id!r}.")
        return load_runs(conn, [row])[0]


def _beat(run_id: str, now: int) -> sa.Update:
    """Mark a RUNNING run alive at ``now`` (an ended run stays as it is)."""
    return (
        sa.update(runs)
        .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value)
        .values(heartbeat_at=now)
    )


def _strings(what: str, values: object) -> list[str]:
    """A list of strings; a lone string counts as a list of one."""
    if isinstance(values, str):
        return [values]
    if not isinstance(values, Sequence) or not all(isinstance(v, str) for v in values):
        raise InvalidInputError(f"{what} must be a list of strings, got {values!r:.80}.")
    return list(values)


def _text(what: str, value: object, limit: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty) or len(value) > limit:
        raise InvalidInputError(
            f"The event {what} must be a {'' if allow_empty else 'non-empty '}string of at most "
            f"{limit} characters, got {value!r:.80}."
        )
    return value
