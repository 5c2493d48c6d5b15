"""The loop store on SQLite or PostgreSQL, on the metadata store's database and migration
chain (tables ``deployments`` and ``leases``, revision 0008; ``loop_decisions``, revision 0009,
in :mod:`.sql_decisions`; ``loop_states``, revision 0010, in :mod:`.sql_states`).

Each mutation is one write transaction: on SQLite writers queue on the store's file lock and
``BEGIN IMMEDIATE``; on PostgreSQL the row is locked (``SELECT … FOR UPDATE``) before it is
decided on, so two contenders for a lease, or a heartbeat racing the reaper, are serialised.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.entities import Page
from loopml.core.errors import ConflictError, InvalidInputError, LeaseLostError
from loopml.core.ids import now_ms
from loopml.core.loop_records import (
    LAPSE_INTERVALS,
    Deployment,
    DeploymentState,
    Lease,
    NewDeployment,
    check_duration_ms,
    check_holder,
    check_lease_name,
    check_new_deployment,
    check_reason,
    check_served_version,
    deployment_not_found,
    deployment_state,
)
from loopml.stores.loop.base import DEFAULT_MAX_RESULTS
from loopml.stores.loop.sql_decisions import SqlDecisionRecords
from loopml.stores.loop.sql_states import SqlStateRecords
from loopml.stores.metadata.base import NewEvent
from loopml.stores.metadata.sql import paging
from loopml.stores.metadata.sql.dialects import insert_for
from loopml.stores.metadata.sql.event_store import audited, insert_event
from loopml.stores.metadata.sql.schema import deployments, leases

_LIVE, _ENDED, _GONE = (state.value for state in DeploymentState)
LAPSED_REASON = "heartbeat lapsed"


class SqlLoopStore(SqlDecisionRecords, SqlStateRecords):
    """:class:`~loopml.stores.loop.base.LoopStore` on ``sqlite:///…`` or
    ``postgresql+psycopg://…``; opening it migrates the database like the metadata store."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)  # the engine, the migration, the read and write transactions
        self._insert = functools.partial(insert_for, self._engine.dialect.name)

    def __repr__(self) -> str:
        return f"SqlLoopStore({self._masked_uri!r})"

    # deployments -------------------------------------------------------------------------

    def register_deployment(
        self, deployment: NewDeployment, *, event: NewEvent | None = None
    ) -> Deployment:
        new = check_new_deployment(deployment)
        with self._write() as conn:
            now = now_ms()
            inserted = conn.execute(
                self._insert(deployments)
                .values(
                    id=new.id,
                    model=new.model,
                    alias=new.alias,
                    version=new.version,
                    address=new.address,
                    run_id=new.run_id,
                    heartbeat_ms=new.heartbeat_ms,
                    started_at=now,
                    heartbeat_at=now,
                    expires_at=now + LAPSE_INTERVALS * new.heartbeat_ms,
                    state=_LIVE,
                )
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(deployments.c.id)
            ).first()
            row = _locked(conn, new.id)
            stored = _deployment(row, now)
            if inserted is not None:  # a retry of a registration is not recorded again
                payload = {"model": stored.model, "address": stored.address}
                target = f"deployment:{stored.id}"
                insert_event(conn, audited(event, "deployment.register", target, payload))
        if (stored.model, stored.address, stored.run_id) != (new.model, new.address, new.run_id):
            raise ConflictError(
                f"Deployment {new.id!r} is registered already, for {stored.model} at "
                f"{stored.address}; a new server needs a new id."
            )
        return stored

    def heartbeat_deployment(self, deployment_id: str, *, version: int | None = None) -> Deployment:
        if version is not None:
            check_served_version(version)
        with self._write() as conn:
            now = now_ms()
            row = _existing(conn, deployment_id)
            if row.state == _ENDED:
                raise ConflictError(
                    f"Deployment {deployment_id} ended ({row.end_reason}); a restarted server "
                    "registers a new deployment."
                )
            values: dict[str, Any] = {
                "heartbeat_at": now,
                "expires_at": now + LAPSE_INTERVALS * row.heartbeat_ms,
                "state": _LIVE,
                "ended_at": None,
                "end_reason": None,
            }
            if version is not None:
                values["version"] = version
            conn.execute(sa.update(deployments).where(deployments.c.id == row.id).values(values))
            return _deployment(_locked(conn, row.id), now)

    def end_deployment(
        self, deployment_id: str, reason: str, *, event: NewEvent | None = None
    ) -> Deployment:
        reason = check_reason(reason)
        with self._write() as conn:
            now = now_ms()
            row = _existing(conn, deployment_id)
            if row.state != _ENDED:
                before = {"state": row.state}
                conn.execute(
                    sa.update(deployments)
                    .where(deployments.c.id == row.id)
                    .values(state=_ENDED, ended_at=now, end_reason=reason)
                )
                row = _locked(conn, row.id)
                payload = {"reason": row.end_reason, "ended_at": row.ended_at}
                target = f"deployment:{row.id}"
                new = audited(event, "deployment.end", target, payload, before=before)
                insert_event(conn, new)
            return _deployment(row, now)

    def get_deployment(self, deployment_id: str) -> Deployment:
        with self._read() as conn:
            return _deployment(_existing(conn, deployment_id, lock=False), now_ms())

    def list_deployments(
        self,
        *,
        model: str | None = None,
        state: DeploymentState | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[Deployment]:
        limit = paging.check_max_results(max_results)
        if state is not None and state not in tuple(DeploymentState):
            raise InvalidInputError(
                f"state must be one of {', '.join(DeploymentState)}, got {state!r:.40}."
            )
        query = paging.fingerprint(model, None if state is None else str(state))
        offset = paging.decode_token(page_token, "deployments", query)
        now = now_ms()
        statement = sa.select(deployments)
        if model is not None:
            statement = statement.where(deployments.c.model == model)
        if state is not None:
            statement = statement.where(_in_state(DeploymentState(state), now))
        statement = (
            statement.order_by(deployments.c.started_at.desc(), deployments.c.id)
            .offset(offset)
            .limit(limit + 1)
        )
        with self._read() as conn:
            rows = conn.execute(statement).all()
        items = [_deployment(row, now) for row in rows[:limit]]
        more = len(rows) > limit
        token = paging.encode_token("deployments", offset + limit, query) if more else None
        return Page(items, token)

    def mark_gone_deployments(self, *, event: NewEvent | None = None) -> list[Deployment]:
        with self._write() as conn:
            now = now_ms()
            lapsed = sa.and_(deployments.c.state == _LIVE, deployments.c.expires_at < now)
            rows = conn.execute(
                sa.select(deployments).where(lapsed).order_by(deployments.c.id).with_for_update()
            ).all()
            if not rows:
                return []
            ids = [row.id for row in rows]
            conn.execute(
                sa.update(deployments)
                .where(deployments.c.id.in_(ids), lapsed)
                .values(state=_GONE, ended_at=deployments.c.heartbeat_at, end_reason=LAPSED_REASON)
            )
            found = conn.execute(
                sa.select(deployments).where(deployments.c.id.in_(ids)).order_by(deployments.c.id)
            ).all()
            for row in found:
                payload = {"heartbeat_at": row.heartbeat_at, "reason": row.end_reason}
                target = f"deployment:{row.id}"
                insert_event(conn, audited(event, "deployment.gone", target, payload))
        return [_deployment(row, now) for row in found]

    # leases ------------------------------------------------------------------------------

    def acquire_lease(
        self, name: str, holder: str, ttl_ms: int, *, event: NewEvent | None = None
    ) -> Lease | None:
        name, holder = check_lease_name(name), check_holder(holder)
        ttl_ms = check_duration_ms("ttl_ms", ttl_ms)
        with self._write() as conn:
            now = now_ms()
            conn.execute(
                self._insert(leases)
                .values(name=name, holder=None, token=0, acquired_at=now, expires_at=0)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            row = conn.execute(
                sa.select(leases).where(leases.c.name == name).with_for_update()
            ).one()
            held = row.holder is not None and row.expires_at >= now
            if held and row.holder != holder:
                return None
            values: dict[str, Any]
            if held:  # the holder again: extend, same token
                values = {"expires_at": now + ttl_ms}
            else:
                values = {
                    "holder": holder,
                    "token": row.token + 1,
                    "acquired_at": now,
                    "expires_at": now + ttl_ms,
                }
            conn.execute(sa.update(leases).where(leases.c.name == name).values(values))
            lease = _lease(conn.execute(sa.select(leases).where(leases.c.name == name)).one())
            payload = {"holder": lease.holder, "token": lease.token}
            insert_event(conn, audited(event, "lease.acquire", f"lease:{name}", payload))
            return lease

    def renew_lease(self, lease: Lease, ttl_ms: int) -> Lease:
        ttl_ms = check_duration_ms("ttl_ms", ttl_ms)
        with self._write() as conn:
            now = now_ms()
            row = conn.execute(
                sa.select(leases).where(leases.c.name == lease.name).with_for_update()
            ).first()
            if (
                row is None
                or row.holder != lease.holder
                or row.token != lease.token
                or row.expires_at < now
            ):
                raise LeaseLostError(
                    f"The lease {lease.name!r} (token {lease.token}) is no longer held by "
                    f"{lease.holder!r}: it expired or was taken. Stop the work it guarded."
                )
            conn.execute(
                sa.update(leases).where(leases.c.name == lease.name).values(expires_at=now + ttl_ms)
            )
            return _lease(conn.execute(sa.select(leases).where(leases.c.name == lease.name)).one())

    def release_lease(self, lease: Lease, *, event: NewEvent | None = None) -> None:
        with self._write() as conn:
            released = conn.execute(
                sa.update(leases)
                .where(
                    leases.c.name == lease.name,
                    leases.c.holder == lease.holder,
                    leases.c.token == lease.token,
                    leases.c.expires_at >= now_ms(),
                )
                .values(holder=None, expires_at=0)
            )
            if released.rowcount:
                payload = {"holder": lease.holder, "token": lease.token}
                target = f"lease:{lease.name}"
                insert_event(conn, audited(event, "lease.release", target, payload))

    def get_lease(self, name: str) -> Lease | None:
        with self._read() as conn:
            row = conn.execute(sa.select(leases).where(leases.c.name == name)).first()
        if row is None or row.holder is None or row.expires_at < now_ms():
            return None
        return _lease(row)


def _in_state(state: DeploymentState, now: int) -> sa.ColumnElement[bool]:
    live = sa.and_(deployments.c.state == _LIVE, deployments.c.expires_at >= now)
    if state is DeploymentState.LIVE:
        return live
    if state is DeploymentState.ENDED:
        return deployments.c.state == _ENDED
    return sa.or_(
        deployments.c.state == _GONE,
        sa.and_(deployments.c.state == _LIVE, deployments.c.expires_at < now),
    )


def _locked(conn: Connection, deployment_id: str) -> sa.Row[Any]:
    return conn.execute(
        sa.select(deployments).where(deployments.c.id == deployment_id).with_for_update()
    ).one()


def _existing(conn: Connection, deployment_id: str, *, lock: bool = True) -> sa.Row[Any]:
    statement = sa.select(deployments).where(deployments.c.id == deployment_id)
    row = conn.execute(statement.with_for_update() if lock else statement).first()
    if row is None:
        raise deployment_not_found(deployment_id)
    return row


def _deployment(row: sa.Row[Any], now: int) -> Deployment:
    return Deployment(
        id=row.id,
        model=row.model,
        address=row.address,
        heartbeat_ms=row.heartbeat_ms,
        alias=row.alias,
        version=row.version,
        run_id=row.run_id,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        state=deployment_state(row.state, row.expires_at, now),
    )


def _lease(row: sa.Row[Any]) -> Lease:
    return Lease(row.name, row.holder, row.token, row.acquired_at, row.expires_at)
