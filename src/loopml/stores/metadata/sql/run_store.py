"""Runs (params, metrics, tags, batches, heartbeats, search): the runs slice of
:class:`~loopml.stores.metadata.sql.store.SqlMetadataStore`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.entities import Metric, Page, Param, Run, RunStatus, Tag
from loopml.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from loopml.core.filters import Comparison, parse_filter, parse_order_by
from loopml.core.ids import new_id, now_ms
from loopml.stores.metadata.base import EventOf, NewEvent, NewRun, RunQuery
from loopml.stores.metadata.new_runs import resolve_experiment
from loopml.stores.metadata.run_store import MetricSeries, check_series_points
from loopml.stores.metadata.sql import paging
from loopml.stores.metadata.sql.event_store import audited, check_event, insert_event
from loopml.stores.metadata.sql.experiment_store import SqlExperimentStore
from loopml.stores.metadata.sql.reads import chunks, load_runs, metric_from_db
from loopml.stores.metadata.sql.schema import (
    experiments,
    metrics,
    run_tags,
    runs,
)
from loopml.stores.metadata.sql.search import compile_search, count_matches
from loopml.stores.metadata.sql.series import downsampled_points, history_points
from loopml.stores.metadata.sql.writes import (
    check_batch_id,
    check_id,
    check_lapse,
    check_time,
    validate_batch,
)

# statements built once: SQLAlchemy caches their compiled form, and a run's start and end then
# cost no statement building (nor cache-key computing) per call
_INSERT_RUN = sa.insert(runs)
_INSERT_RUN_TAG = sa.insert(run_tags)
_RUN_BY_ID = sa.select(runs).where(runs.c.id == sa.bindparam("run_id"))
_UPDATE_RUN = sa.update(runs).where(runs.c.id == sa.bindparam("run_id"))  # SET: the params
# a search clause matching fewer rows than this drives the query (see .search)
SELECTIVE_CAP = 1000
BATCH_BEAT_MS = 30_000
"""A stored batch marks its run alive only when its last beat is older than this (the default
heartbeat interval): concurrent batches of one run then do not all write the run's row (on
PostgreSQL, serialisation conflicts). Clients beat their runs explicitly on their own interval
(``heartbeat_run``), so a run that logs stays alive however its batches fall."""


class SqlRunStore(SqlExperimentStore):
    """Runs on SQLite or PostgreSQL (on the experiments slice: a run may name its experiment,
    created if need be)."""

    # runs

    def create_run(self, new_run: NewRun, *, event: NewEvent | None = None) -> Run:
        new_run = resolve_experiment(self, new_run)[0]  # checked; by name: created if needed
        event = None if event is None else check_event(event)
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
                    existing = conn.execute(_RUN_BY_ID, {"run_id": run_id}).first()
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
                payload: dict[str, object] = {"experiment_id": experiment_id, "name": name}
                if parent:
                    payload["parent_run_id"] = parent
                insert_event(conn, audited(event, "run.create", f"run:{run_id}", payload))
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

    def set_run_status(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None,
        *,
        event: NewEvent | None = None,
    ) -> None:
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
        event = None if event is None else check_event(event)
        with self._write() as conn:
            updated = conn.execute(_UPDATE_RUN, {"run_id": run_id, **values})
            if updated.rowcount == 0:
                raise NotFoundError(f"No run with id {run_id!r}.")
            payload = {"status": new_status.value, "end_time": end_time}
            new = audited(event, "run.set_status", f"run:{run_id}", payload)
            insert_event(conn, new)

    def delete_run(self, run_id: str, *, event: NewEvent | None = None) -> None:
        check_id("run", run_id)
        event = None if event is None else check_event(event)
        with self._write() as conn:
            # child runs and every row logged to them go too (ON DELETE CASCADE)
            deleted = conn.execute(sa.delete(runs).where(runs.c.id == run_id))
            if deleted.rowcount == 0:
                raise NotFoundError(f"No run with id {run_id!r}.")
            insert_event(conn, audited(event, "run.delete", f"run:{run_id}", {}))

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[Tag] = (),
        batch_id: str | None = None,
        event: NewEvent | None = None,
    ) -> None:
        check_id("run", run_id)
        batch = validate_batch(metrics, params, tags)
        claim = None if batch_id is None else check_batch_id(batch_id)
        event = None if event is None else check_event(event)
        now = now_ms()
        with self._write() as conn:
            self._require_run(conn, run_id, lock=True)
            if claim is not None and not self._upserts.claim_batch(conn, run_id, claim, now):
                return  # stored before: this is a retry whose first answer was lost
            self._upserts.write_batch(conn, run_id, batch)
            conn.execute(_beat(run_id, now, unless_within_ms=BATCH_BEAT_MS))
            payload = _batch_summary(batch_id, metrics, params, tags)
            insert_event(conn, audited(event, "run.log_batch", f"run:{run_id}", payload))

    def heartbeat_run(self, run_id: str) -> None:
        check_id("run", run_id)
        with self._write() as conn:
            if conn.execute(_beat(run_id, now_ms())).rowcount == 0:
                self._require_run(conn, run_id)  # an ended run: nothing to do

    def close_lapsed_runs(
        self, lapsed_for_ms: int, *, dry_run: bool = False, event_of: EventOf | None = None
    ) -> list[Run]:
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
            closed_runs = load_runs(conn, sorted(rows, key=lambda row: str(row.id)))
            for run in closed_runs:
                given = None if event_of is None else event_of(run)
                payload = {"status": str(run.status), "end_time": run.end_time, "reason": "lapsed"}
                insert_event(conn, audited(given, "run.set_status", f"run:{run.id}", payload))
            return closed_runs

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

    def get_metric_series(self, run_id: str, key: str, *, max_points: int) -> MetricSeries:
        check_id("run", run_id)
        if not isinstance(key, str):
            raise InvalidInputError(f"The metric key must be a string, got {key!r}.")
        limit = check_series_points(max_points)
        with self._read() as conn:
            self._require_run(conn, run_id)
            total, lowest, highest = conn.execute(
                sa.select(
                    sa.func.count(), sa.func.min(metrics.c.step), sa.func.max(metrics.c.step)
                ).where(metrics.c.run_id == run_id, metrics.c.key == key)
            ).one()
            if total <= limit:
                points = history_points(conn, run_id, key)
                return MetricSeries(key, total, False, points)
            points = downsampled_points(conn, run_id, key, limit, steps=(lowest, highest))
        return MetricSeries(key, total, True, points)

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
                top=offset + limit + 1,
            )
            rows = conn.execute(select.limit(limit + 1).offset(offset)).all()
            items = load_runs(conn, rows[:limit])
        more = len(rows) > limit
        token = paging.encode_token("runs", offset + limit, fingerprint) if more else None
        return Page(items, token)

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
        row = conn.execute(_RUN_BY_ID, {"run_id": run_id}).first()
        if row is None:
            raise NotFoundError(f"No run with id {run_id!r}.")
        return load_runs(conn, [row])[0]


def _beat(run_id: str, now: int, *, unless_within_ms: int = 0) -> sa.Update:
    """Mark a RUNNING run alive at ``now`` (an ended run stays as it is); with
    ``unless_within_ms``, only when its last beat is older than that (else the run's row is
    not written, so concurrent batches of one run do not contend for it)."""
    alive = [runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value]
    if unless_within_ms:
        stale = runs.c.heartbeat_at <= now - unless_within_ms
        alive.append(sa.or_(runs.c.heartbeat_at.is_(None), stale))
    return sa.update(runs).where(*alive).values(heartbeat_at=now)


def _strings(what: str, values: object) -> list[str]:
    """A list of strings; a lone string counts as a list of one."""
    if isinstance(values, str):
        return [values]
    if not isinstance(values, Sequence) or not all(isinstance(v, str) for v in values):
        raise InvalidInputError(f"{what} must be a list of strings, got {values!r:.80}.")
    return list(values)


def _batch_summary(
    batch_id: str | None, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[Tag]
) -> dict[str, object]:
    """What an event of a batch records: how many metrics, which param and tag keys."""
    payload: dict[str, object] = {
        "metrics": len(metrics),
        "params": sorted({p.key for p in params}),
        "tags": sorted({t.key for t in tags}),
    }
    if batch_id is not None:
        payload["batch_id"] = batch_id
    return payload
