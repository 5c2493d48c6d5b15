"""Loop states on SQLite or PostgreSQL (table ``loop_states``, revision 0010): small JSON
documents the loop keeps between its ticks, by name — the state half of
:class:`~loopml.stores.loop.sql.SqlLoopStore`. A write replaces the document in one write
transaction; a lease given with it is checked in the same transaction (a fenced write).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from loopml.core.ids import now_ms
from loopml.core.loop_records import Lease, check_state_document, check_state_name
from loopml.stores.loop.sql_decisions import hold_lease
from loopml.stores.metadata.base import NewEvent
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.event_store import audited, insert_event
from loopml.stores.metadata.sql.schema import loop_states


class SqlStateRecords(SqlStoreBase):
    """The state primitives of the loop store; ``_insert`` is set by the store."""

    _insert: Callable[..., Any]

    def get_loop_state(self, name: str) -> dict[str, Any] | None:
        check_state_name(name)
        with self._read() as conn:
            row = conn.execute(
                sa.select(loop_states.c.document).where(loop_states.c.name == name)
            ).first()
        return None if row is None else dict(row.document)

    def put_loop_state(
        self,
        name: str,
        document: dict[str, Any],
        *,
        lease: Lease | None = None,
        event: NewEvent | None = None,
    ) -> None:
        check_state_name(name)
        check_state_document(document)
        with self._write() as conn:
            now = now_ms()
            if lease is not None:
                hold_lease(conn, lease, now)
            values = {
                "document": document,
                "updated_at": now,
                "lease_token": None if lease is None else lease.token,
            }
            conn.execute(
                self._insert(loop_states)
                .values(name=name, **values)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            conn.execute(sa.update(loop_states).where(loop_states.c.name == name).values(values))
            payload = {"lease_token": values["lease_token"]}
            new = audited(event, "loop_state.put", f"loop_state:{name}", payload, after=document)
            insert_event(conn, new)
