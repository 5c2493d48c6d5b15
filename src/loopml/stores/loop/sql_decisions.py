"""Loop decisions on SQLite or PostgreSQL (table ``loop_decisions``, revision 0009): the
decision half of :class:`~loopml.stores.loop.sql.SqlLoopStore`.

Recording inserts under the project-unique key and reads back whatever is stored under it, in
one write transaction, so two agents recording one situation get one decision. Advancing locks
the row, checks the move against the stored state and updates only while the row is still in
the expected state (a compare-and-set). A lease given with either is checked in the same
transaction: a deposed holder writes nothing (a fenced write).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.entities import Page
from loopml.core.errors import ConflictError, InvalidInputError, LeaseLostError, StaleDecisionError
from loopml.core.ids import new_id, now_ms
from loopml.core.loop_records import (
    Decision,
    DecisionState,
    DecisionUpdate,
    Lease,
    NewDecision,
    TriggerKind,
    apply_decision_update,
    check_decision_key,
    check_decision_update,
    check_new_decision,
    decision_not_found,
)
from loopml.stores.loop.base import DEFAULT_MAX_RESULTS
from loopml.stores.metadata.base import NewEvent
from loopml.stores.metadata.sql import paging
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.event_store import audited, insert_event
from loopml.stores.metadata.sql.schema import leases, loop_decisions

_COLUMNS = loop_decisions.c


class SqlDecisionRecords(SqlStoreBase):
    """The decision primitives of the loop store, on the store's engine and transactions;
    ``_insert`` (the dialect's INSERT … ON CONFLICT) is set by the store."""

    _insert: Callable[..., Any]

    def record_decision(
        self, decision: NewDecision, *, lease: Lease | None = None, event: NewEvent | None = None
    ) -> Decision:
        new = check_new_decision(decision)
        with self._write() as conn:
            now = now_ms()
            if lease is not None:
                hold_lease(conn, lease, now)
            inserted = conn.execute(
                self._insert(loop_decisions)
                .values(
                    id=new_id(),
                    key=new.key,
                    model=new.model,
                    alias=new.alias,
                    trigger=str(new.trigger),
                    evidence=new.evidence,
                    state=str(DecisionState.TRIGGERED),
                    created_at=now,
                    updated_at=now,
                    champion_version=new.champion_version,
                    lease_token=None if lease is None else lease.token,
                )
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(_COLUMNS.id)
            ).first()
            row = conn.execute(sa.select(loop_decisions).where(_COLUMNS.key == new.key)).one()
            stored = _decision(row)
            if inserted is not None:  # a retried record is not recorded again
                payload = {"key": stored.key, "trigger": str(stored.trigger), "model": stored.model}
                target = f"decision:{stored.id}"
                insert_event(conn, audited(event, "decision.record", target, payload))
        if (stored.model, stored.alias, stored.trigger) != (new.model, new.alias, new.trigger):
            raise ConflictError(
                f"The decision key {new.key!r} is recorded already, for a {stored.trigger} "
                f"decision on {stored.model}@{stored.alias}; another situation needs another key."
            )
        return stored

    def advance_decision(
        self,
        decision_id: str,
        update: DecisionUpdate,
        *,
        lease: Lease | None = None,
        event: NewEvent | None = None,
    ) -> Decision:
        update = check_decision_update(update)
        with self._write() as conn:
            now = now_ms()
            if lease is not None:
                hold_lease(conn, lease, now)
            row = conn.execute(
                sa.select(loop_decisions).where(_COLUMNS.id == decision_id).with_for_update()
            ).first()
            if row is None:
                raise decision_not_found(decision_id)
            stored = _decision(row)
            values = apply_decision_update(stored, update)
            if values is None:  # moved there already: a retry
                return stored
            values["updated_at"] = max(now, stored.updated_at)
            values["lease_token"] = None if lease is None else lease.token
            moved = conn.execute(
                sa.update(loop_decisions)
                .where(_COLUMNS.id == decision_id, _COLUMNS.state == str(update.expected))
                .values(values)
            )
            if moved.rowcount != 1:  # the row lock makes this unreachable; the CAS stays honest
                raise StaleDecisionError(f"Loop decision {decision_id} moved under this write.")
            row = conn.execute(sa.select(loop_decisions).where(_COLUMNS.id == decision_id)).one()
            moved_to = _decision(row)
            payload = {
                "from": str(stored.state),
                "to": str(moved_to.state),
                "action": moved_to.action,
            }
            target = f"decision:{decision_id}"
            insert_event(conn, audited(event, "decision.advance", target, payload))
        return moved_to

    def get_decision(self, decision_id: str) -> Decision:
        with self._read() as conn:
            row = conn.execute(sa.select(loop_decisions).where(_COLUMNS.id == decision_id)).first()
        if row is None:
            raise decision_not_found(decision_id)
        return _decision(row)

    def find_decision(self, key: str) -> Decision | None:
        check_decision_key(key)
        with self._read() as conn:
            row = conn.execute(sa.select(loop_decisions).where(_COLUMNS.key == key)).first()
        return None if row is None else _decision(row)

    def list_decisions(
        self,
        *,
        model: str | None = None,
        states: tuple[DecisionState, ...] = (),
        since: int | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[Decision]:
        limit = paging.check_max_results(max_results)
        wanted = sorted({str(state) for state in check_states(states)})
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
            raise InvalidInputError(f"since must be a time in ms since the epoch, got {since!r}.")
        query = paging.fingerprint(model, wanted, since)
        offset = paging.decode_token(page_token, "decisions", query)
        statement = sa.select(loop_decisions)
        if model is not None:
            statement = statement.where(_COLUMNS.model == model)
        if wanted:
            statement = statement.where(_COLUMNS.state.in_(wanted))
        if since is not None:
            statement = statement.where(_COLUMNS.created_at >= since)
        statement = (
            statement.order_by(_COLUMNS.created_at.desc(), _COLUMNS.id.desc())
            .offset(offset)
            .limit(limit + 1)
        )
        with self._read() as conn:
            rows = conn.execute(statement).all()
        items = [_decision(row) for row in rows[:limit]]
        more = len(rows) > limit
        token = paging.encode_token("decisions", offset + limit, query) if more else None
        return Page(items, token)


def check_states(states: object) -> Iterator[DecisionState]:
    """Each of ``states`` as a :class:`DecisionState`; InvalidInputError naming a bad one."""
    if isinstance(states, str) or not isinstance(states, tuple | list | frozenset | set):
        raise InvalidInputError(f"states must be a list of decision states, got {states!r:.80}.")
    for state in states:
        try:
            yield DecisionState(state)
        except ValueError:
            allowed = ", ".join(DecisionState)
            raise InvalidInputError(
                f"A decision state is one of {allowed}; got {state!r:.40}."
            ) from None


def hold_lease(conn: Connection, lease: Lease, now: int) -> None:
    """LeaseLostError unless ``lease`` is held, by its holder and token, at ``now``; the lease
    row stays locked until the write commits, so it cannot be taken over meanwhile."""
    row = conn.execute(
        sa.select(leases).where(leases.c.name == lease.name).with_for_update()
    ).first()
    if (
        row is None
        or (row.holder, row.token) != (lease.holder, lease.token)
        or row.expires_at < now
    ):
        raise LeaseLostError(
            f"The lease {lease.name!r} (token {lease.token}) is no longer held by "
            f"{lease.holder!r}; the decision was not written. Stop the work it guarded."
        )


def _decision(row: sa.Row[Any]) -> Decision:
    return Decision(
        id=row.id,
        key=row.key,
        model=row.model,
        alias=row.alias,
        trigger=TriggerKind(row.trigger),
        evidence=dict(row.evidence),
        state=DecisionState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        champion_version=row.champion_version,
        pipeline_run_id=row.pipeline_run_id,
        candidate_version=row.candidate_version,
        gate_result_id=row.gate_result_id,
        action=row.action,
        error=row.error,
        lease_token=row.lease_token,
    )
